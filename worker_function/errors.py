"""Worker errors. The dispatcher decides from the class whether SQS should deliver the job again."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal, Self

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from shared import messages
from shared.blockkit import SlackMessage, echo, escape, mention, shorten, simple
from shared.errors import OpsbotError
from shared.holds import Freeze, Lock, moment
from worker_function import job_messages
from worker_function.hold_messages import hold_reason
from worker_function.outcomes import NothingToPost, Said

if TYPE_CHECKING:
    from shared.holds import Freeze, Lock
    from shared.jobs import ReplyTarget
    from worker_function.store.leases import Lease

#: AWS error codes that no retry can fix; anything else (throttling, 5xx, timeouts) is transient.
PERMANENT_AWS_CODES = frozenset(
    {
        "AccessDeniedException",
        "AccessDenied",
        "UnauthorizedOperation",
        "ValidationException",
        "InvalidParameterException",
        "ClusterNotFoundException",
        "ServiceNotFoundException",
        "ServiceNotActiveException",
        "ResourceNotFoundException",
        "InvalidInputException",
        "PipelineNotFoundException",
        "AccountLimitExceededException",
        "MalformedQueryException",
        "InvalidInstanceID.NotFound",
        "InvalidInstanceID.Malformed",
    }
)


class PermanentJobError(OpsbotError):
    """Retrying cannot help (unknown target, bad arguments, forbidden): tell the requester now."""

    def to_message(self, job: ReplyTarget) -> Said:
        return job_messages.job_failed(job.display, job.short_id, str(self))


class TargetBusyError(PermanentJobError):
    """Another mutating job holds the target's lease."""

    def __init__(self, holder: Lease) -> None:
        super().__init__(f"{holder.target} is busy with job {holder.owner_job}")
        self.holder = holder

    def to_message(self, job: ReplyTarget) -> SlackMessage:
        h = self.holder
        if h.lock is not None:  # a person's lock, taken between the plan's look and the lease
            return locked(job.display, h.lock, job.short_id)
        return busy(h.target, h.command, h.requester, h.since_hhmm, h.owner_job, job.short_id)


class TargetLockedError(PermanentJobError):
    """A mutating command on a target a person locked: refused naming who, why and since when."""

    def __init__(self, lock: Lock) -> None:
        super().__init__(f"{lock.target} is locked by {lock.by}: {lock.reason}")
        self.lock = lock

    def to_message(self, job: ReplyTarget) -> SlackMessage:
        return locked(job.display, self.lock, job.short_id)


class TargetFrozenError(PermanentJobError):
    """A mutating command on a target of a frozen environment: refused with the reason, who froze it, until when."""

    def __init__(self, freeze: Freeze) -> None:
        super().__init__(f"{freeze.environment} is frozen by {freeze.by} until {freeze.until}: {freeze.reason}")
        self.freeze = freeze

    def to_message(self, job: ReplyTarget) -> SlackMessage:
        return frozen(job.display, self.freeze, job.short_id)


class LockRefusedError(PermanentJobError):
    """`/ops-lock` on a target held already: by a running job, or by someone else's lock."""

    def __init__(self, holder: Lease) -> None:
        super().__init__(f"{holder.target} is held by {holder.owner_job}")
        self.holder = holder

    def to_message(self, job: ReplyTarget) -> SlackMessage:
        h = self.holder
        if h.lock is not None:
            return locked(job.display, h.lock, job.short_id)
        return busy(h.target, h.command, h.requester, h.since_hhmm, h.owner_job, job.short_id)


class HoldRefusedError(PermanentJobError):
    """A lock, unlock, freeze or unfreeze that may not be done (the policy, someone else's, a job's lease): its
    answer is built by `worker_function.hold_messages` (escaped there)."""

    def __init__(self, message: SlackMessage) -> None:
        super().__init__(message.text.splitlines()[0] if message.text else "refused")
        self.message = message

    def to_message(self, job: ReplyTarget) -> SlackMessage:
        return self.message


class PolicyDeniedError(PermanentJobError):
    """The policy refuses the job (the worker's re-check, with user groups resolved)."""

    def __init__(self, rule: str | None, reason: str, ask: str) -> None:
        super().__init__(f"denied by rule {rule}: {reason}")
        self.rule, self.reason, self.ask = rule, reason, ask

    def to_message(self, job: ReplyTarget) -> SlackMessage:
        return messages.denied(job.display, self.rule, self.reason, self.ask)


class AlreadyDecidedError(PermanentJobError):
    """A confirmed or approved job whose prompt was decided otherwise first (expired, cancelled, rejected):
    it does not run."""

    def __init__(self, outcome: str, *, approval: bool) -> None:
        super().__init__(f"the prompt was already {outcome}")
        self.outcome, self.approval = outcome, approval

    def to_message(self, job: ReplyTarget) -> SlackMessage:
        return too_late(job.display, self.outcome, self.approval)


class DecisionRefusedError(PermanentJobError):
    """An Approve by someone who may not decide the approval request (user groups resolved): the clicker
    alone was told, and nothing was decided, so the requester hears nothing (the request is still open)."""

    def __init__(self, by: str, rule: str | None) -> None:
        super().__init__(f"<@{by}> is not an approver of rule `{rule}`")
        self.by, self.rule = by, rule

    def to_message(self, job: ReplyTarget) -> Said:
        return NothingToPost(reason="the approval was refused, told to the clicker alone")


class NotConfirmedError(PermanentJobError):
    """A command whose spec needs a confirmation arrived without one claimed (e.g. a Confirm token replayed
    on the Approve action): it does not run."""

    def to_message(self, job: ReplyTarget) -> SlackMessage:
        return messages.confirmation_refused(str(self))


class GroupLookupError(OpsbotError):
    """Slack could not list a user group's members just now: transient, so nothing is cached, decided or
    stored as a refusal, and SQS delivers the job again. Whoever clicked (`clicker` of an `action` in
    `channel`; else the requester) is told to try again."""

    def __init__(self, group: str, why: str) -> None:
        super().__init__(f"could not list the members of user group {group}: {why}")
        self.group, self.why = group, why
        self.clicker: str | None = None
        self.action: Literal["approval", "rejection"] = "approval"
        self.channel: str | None = None

    def clicked(self, clicker: str, action: Literal["approval", "rejection"], channel: str | None) -> Self:
        """The lookup was for a click on an approval request: tell the clicker, in its channel."""
        self.clicker, self.action, self.channel = clicker, action, channel
        return self


#: What a person is told when their user-group membership could not be checked.
GROUP_CHECK_FAILED = "could not check your group membership, try again"


class SlackDeliveryError(OpsbotError):
    """No route to the requester worked (response_url, channel, direct message)."""


class SlackAnswerLostError(SlackDeliveryError):
    """A response_url post whose answer says nothing certain (a 5xx, a timeout or a reset after sending): the
    message may have arrived. Transient: the job's retry replaces it through the same response_url."""


@contextmanager
def classify_aws_errors(what: str) -> Iterator[None]:
    """Turn AWS errors that retrying cannot fix into `PermanentJobError`; let the others through."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") in PERMANENT_AWS_CODES:
            raise PermanentJobError(f"{what}: {error.get('Message') or error.get('Code')}") from exc
        raise


class TransientJobError(OpsbotError):
    """An operation's own word that retrying may help (a service of its own that did not answer): SQS delivers
    the job again. Raise it `from` the library's error that `retryable` does not know."""


class OperationCrashedError(PermanentJobError):
    """A command's operation raised what is neither a `PermanentJobError` nor an error a retry may fix
    (`retryable`): a bug, or a library's error opsbot does not know (`TransientJobError` says otherwise). Told to
    the requester at once, named, rather than retried until the job is dead-lettered."""

    def __init__(self, command: str, exc: BaseException) -> None:
        super().__init__(f"`{command}` failed unexpectedly ({type(exc).__name__}: {exc})"[:300])
        self.error = exc


class AuditWriteError(OpsbotError):
    """DynamoDB kept leaving a job's audit records unprocessed: transient, SQS delivers the job again."""


class ContinuationError(OpsbotError):
    """A long job cannot go on to its next step: no queue to re-send it on."""


class StaleStateError(PermanentJobError):
    """A job came back from the queue with a state its operation cannot resume from (wrong, stale, none)."""


class AssumeRoleError(PermanentJobError):
    """The worker may not act in a target's account: STS refused its role (AccessDenied), or the region is
    not enabled there. Retrying cannot help; the message names the role."""


class AssumeRoleThrottledError(OpsbotError):
    """STS throttled or failed the AssumeRole for a target's role: transient, SQS delivers the job again."""


#: Exceptions whose cause is the network or an AWS service that failed to answer (not a refusal).
_TRANSIENT_NAMES = frozenset(
    {
        "URLError",
        "ConnectionError",
        "Timeout",
        "ReadTimeout",
        "ConnectTimeout",
    }
)
_THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"}
)


def retryable(exc: BaseException) -> bool:
    """A failure of an operation that a later delivery may not meet: transient (`transient`; an HTTP 5xx, a
    connection that failed anywhere in the chain of causes), a Slack answer (the worker's edge decides: wait,
    retry or report), or one of opsbot's own errors that is not permanent (`TransientJobError`, a user group
    Slack could not list, a role STS throttled, the jobs queue not taking a job, ...). Anything else a command's
    operation raises is permanent."""
    from slack_sdk.errors import SlackClientError

    from shared.errors import EnqueueError
    from worker_function.pacing import DeferError

    if transient(exc):
        return True
    retried = (
        TransientJobError,
        GroupLookupError,
        AssumeRoleThrottledError,
        AuditWriteError,
        SlackDeliveryError,
        ContinuationError,
        DeferError,
        EnqueueError,
    )
    for error in _chain(exc):
        if isinstance(error, (*retried, SlackClientError, BotocoreConnectionError, socket.gaierror)):
            return True
        status = getattr(getattr(error, "response", None), "status_code", None) or getattr(error, "code", None)
        if isinstance(error, OSError) and isinstance(status, int) and status >= 500:  # requests', urllib's HTTPError
            return True
    return False


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and its causes and contexts, each once."""
    seen: list[BaseException] = []
    pending: list[BaseException] = [exc]
    while pending:
        error = pending.pop()
        if any(error is e for e in seen):
            continue
        seen.append(error)
        pending.extend(e for e in (error.__cause__, error.__context__) if e is not None)
    return seen


def transient(exc: BaseException) -> bool:
    """The failure is the network's or a service's that did not answer (a connection refused or reset, a
    timeout, a 5xx, throttling), here or anywhere in the chain of causes (Powertools wraps DynamoDB's errors):
    the same delivery later may well succeed. A refusal (4xx: AccessDenied, a validation error) is not."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        error = pending.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, ClientError):
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if status >= 500 or code in _THROTTLING_CODES:
                return True
        elif isinstance(error, HTTPClientError | TimeoutError | ConnectionError | SlackAnswerLostError):
            return True
        elif isinstance(error, OSError) and type(error).__name__ in _TRANSIENT_NAMES:
            return True  # urllib's URLError, requests' ConnectionError and Timeout (Slack, Jenkins)
        pending.extend(e for e in (error.__cause__, error.__context__) if e is not None)
        pending.extend(a for a in error.args if isinstance(a, BaseException))
    return False


def busy(target: str, command: str, holder_user: str, since: str, holder_job: str, short_id: str) -> SlackMessage:
    return simple(
        f":no_entry: {echo(target)} is busy: {echo(command)} by {mention(holder_user)} since {escape(since)} "
        f"(job `{escape(holder_job[:8])}`).",
        f"Your job `{short_id}` was not run. Try again when it is done.",
    )


_TOO_LATE = {
    "cancelled": "it had been cancelled",
    "expired": "the prompt had expired",
    "rejected": "the request had been rejected",
    "confirmed": "it had been confirmed already",
    "approved": "it had been approved already",
    "refused": "it had been refused already (its target is locked or its environment frozen)",
}


def too_late(display: str, outcome: str, approval: bool) -> SlackMessage:
    """A confirmation or approval that reached the worker after the prompt was decided otherwise."""
    what = "approval" if approval else "confirmation"
    why = _TOO_LATE.get(outcome, f"it was {escape(shorten(outcome, 40))} already")
    if approval and outcome == "expired":
        why = "the approval request had expired"
    return simple(
        f":no_entry: {echo(display)} was not run: {why} when the {what} arrived.",
        f"Run {echo(display)} again if you still want it.",
    )


def locked(display: str, lock: Lock, short_id: str) -> SlackMessage:
    """A mutating command refused on a locked target: who locked it, why and since when."""
    return simple(
        f":no_entry: :lock: {echo(display)} was refused: {echo(lock.target)} is locked by {mention(lock.by)} since "
        f"{moment(lock.since)}: {hold_reason(lock.reason)}",
        f"Your job `{escape(short_id)}` was not run. {mention(lock.by)} lifts it with `/ops-unlock "
        f"{escape(lock.target)}`.",
    )


def frozen(display: str, freeze: Freeze, short_id: str) -> SlackMessage:
    """A mutating command refused in a frozen environment: the reason, who froze it and until when."""
    return simple(
        f":no_entry: :snowflake: {echo(display)} was refused: {echo(freeze.environment)} is frozen by "
        f"{mention(freeze.by)} until {moment(freeze.until)}: {hold_reason(freeze.reason)}",
        f"Your job `{escape(short_id)}` was not run. Try again after the freeze ends.",
    )
