"""The ack's routing of a request, decided without I/O: the counterpart of the worker's `plan_step`.

`route(request, inventory, now)` takes a command as typed, picked from a picker, clicked under an alarm
(a runbook button) or mentioned in a channel, and returns what the ack does with it:

- `Answer`: nothing is queued; the requester is told why (bad words, an unknown name, a build parameter or
  a count the inventory does not admit, a command that needs a prompt the request cannot show) or is shown
  a picker (a command typed without its target);
- `Deny`: the policy refuses it from its static lists (the denial also travels to the worker's audit trail);
- `AskApproval`: a policy rule wants a second person first (the worker posts the request);
- `Confirm`: its command asks its requester to confirm (a prompt in the ephemeral answer);
- `Queue`: it goes onto the queue as it is.

A dry run is queued as it is: it changes nothing, and the worker tells what the policy would say and whether a
prompt or an approval would be asked. Locks and freezes live in the worker's table (the ack never touches
DynamoDB): the worker refuses a held target (`worker_function/plan.py`). User groups are unknown here (no Web
API on the ack path): a request only a group could admit is queued and decided by the worker.

The handlers (`intake.py`) read a Slack payload into a `Request`, ask `route`, and carry the decision out
(`outbox.py`): each enqueues with the queue's deadline and answers the way its request can be answered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, NamedTuple

from ack_function import replies
from ack_function.pickers import offers_picker, picker_for
from shared import messages
from shared.blockkit import SlackMessage
from shared.commands import CommandSpec, DryRunArgs, all_commands, find_command, quoted
from shared.errors import UsageError
from shared.guard import check
from shared.inventory import Inventory, UnknownNameError
from shared.jobs import JobEnvelope, Requester
from shared.policy import Approval

#: How a request came: a slash command, a choice in a picker, a runbook button under an alarm, a mention.
Via = Literal["typed", "picked", "runbook", "mentioned"]
#: Whose answer can carry a confirmation prompt: only a slash command's ephemeral ack (a click's answer
#: travels through the worker, a mention's is in the channel).
PROMPTS: frozenset[Via] = frozenset({"typed"})
#: Who can ask for a second person's approval: all but a mention (its answer is in the channel, and a mention
#: is not a way around a confirmation or an approval).
ASKS_APPROVAL: frozenset[Via] = frozenset({"typed", "picked", "runbook"})
#: Who is shown a picker for a command given without its target: a slash command, answered at once.
OFFERS_PICKER: frozenset[Via] = frozenset({"typed"})


# NamedTuples, not dataclasses: they are made at import, on the ack's cold path, where a frozen dataclass costs
# about 0.4 ms a class (it compiles its methods) and a NamedTuple about 0.07 ms (Python 3.13, best of 200).


class Request(NamedTuple):
    """A command to route: its name and words as given, who asked where, and the job id Slack's ids give it."""

    via: Via
    command: str
    text: str
    requester: Requester
    job_id: str
    response_url: str | None = None


class Answer(NamedTuple):
    """Nothing is queued: `message` is the whole answer."""

    message: SlackMessage


class Deny(NamedTuple):
    """The policy refuses `job` (by `rule`): `message` is the answer, and the denial goes to the audit trail."""

    job: JobEnvelope
    message: SlackMessage
    rule: str | None


class AskApproval(NamedTuple):
    """`job` waits for a second person's approval, asked in `approval.channel` (the rule that wants it: `rule`)."""

    job: JobEnvelope
    approval: Approval
    rule: str


class Confirm(NamedTuple):
    """`job` waits for its requester's Confirm: the prompt names `description` and the target's `environment`."""

    job: JobEnvelope
    description: str
    environment: str | None


class Queue(NamedTuple):
    """`job` goes onto the queue."""

    job: JobEnvelope


Route = Answer | Deny | AskApproval | Confirm | Queue


def route(request: Request, inventory: Inventory | None, now: datetime) -> Route:
    """What the ack does with `request` (`inventory` None: no inventory here, the worker checks names and policy)."""
    spec = find_command(request.command)
    if (
        request.via in OFFERS_PICKER
        and spec is not None
        and inventory is not None
        and not request.text.strip()
        and offers_picker(spec)
    ):
        user, channel = request.requester.user_id, request.requester.channel_id
        return Answer(picker_for(spec, inventory, user, channel))
    planned = plan_job(
        request.command,
        request.text,
        request.requester,
        job_id=request.job_id,
        response_url=request.response_url,
        now=now,
        inventory=inventory,
    )
    if isinstance(planned, SlackMessage):
        return Answer(planned)
    return route_job(planned, request.via, inventory)


def route_job(job: JobEnvelope, via: Via, inventory: Inventory | None) -> Route:
    """A planned job through the policy, then its approval, its confirmation, the queue. A command to confirm
    is not run from a request that cannot show the prompt, even where a second person must approve it too; a
    typed one that a second person must approve is not prompted as well (the approval stands for it)."""
    if isinstance(job.args, DryRunArgs):
        return Queue(job)
    decision = check(job, inventory) if inventory is not None else None
    if decision is not None and decision.allowed is False:
        return Deny(job, messages.denied(job.display, decision.rule, decision.reason, decision.ask), decision.rule)
    spec = find_command(job.command)
    confirm = spec is not None and spec.confirm
    if confirm and via not in PROMPTS:
        return Answer(replies.use_the_slash_command(job.display))
    if decision is not None and decision.approval is not None:
        if via not in ASKS_APPROVAL:
            return Answer(replies.use_the_slash_command(job.display))
        return AskApproval(job, decision.approval, decision.rule or "")
    if spec is not None and confirm:
        return Confirm(job, spec.description, _environment(spec, job, inventory))
    return Queue(job)


def _environment(spec: CommandSpec, job: JobEnvelope, inventory: Inventory | None) -> str | None:
    if inventory is None or spec.accepts is None or spec.subject is None:
        return None
    return inventory.environment_of(spec.accepts, str(getattr(job.args, spec.subject)))


def plan_job(
    name: str,
    text: str,
    requester: Requester,
    *,
    job_id: str,
    response_url: str | None,
    now: datetime,
    inventory: Inventory | None = None,
) -> JobEnvelope | SlackMessage:
    """The job a command asks for, or the message explaining why there is none (bad words, an unknown name, a
    build parameter the inventory does not allow): nothing of that is queued."""
    spec = find_command(name)
    if spec is None:
        return replies.unknown_command(name, all_commands())
    try:
        words, dry_run = spec.split_dry_run(text)
        args = spec.parse(words)
    except UsageError as exc:
        return replies.usage_help(spec, str(exc))
    problem = unknown_name(spec, args, inventory) or (spec.check(args, inventory) if spec.check else None)
    if problem is not None:
        return replies.refused(f"{spec.name} {text}", problem)
    return JobEnvelope(
        job_id=job_id,
        command=spec.name,
        text=text.strip(),
        args=DryRunArgs(of=args) if dry_run else args,
        requester=requester,
        response_url=response_url,
        issued_at=now,
        correlation_id=job_id,
    )


#: How many known names an unknown one is answered with.
KNOWN_SHOWN = 10


def unknown_name(spec: CommandSpec, args: Any, inventory: Inventory | None) -> str | None:
    """The command names something the inventory does not have: the known ones, closest first (None: it has it,
    or there is no inventory here and the worker checks)."""
    if inventory is None or spec.accepts is None or spec.subject is None:
        return None
    name = str(getattr(args, spec.subject))
    try:
        inventory.require(spec.accepts, name)
    except UnknownNameError as exc:
        known = ", ".join(exc.known[:KNOWN_SHOWN]) or "none are configured"
        more = f" and {len(exc.known) - KNOWN_SHOWN} more" if len(exc.known) > KNOWN_SHOWN else ""
        return f"I don't know {exc.what} {quoted(name)}. Known {exc.what}s, closest first: {known}{more}."
    return None
