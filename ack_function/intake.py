"""The ack's decisions, as plain functions: a Slack request in, a job queued and a reply out."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict

from ack_function.pickers import PickClick, offers_picker, picker_for
from shared import messages
from shared.commands import (
    COMMANDS,
    ApprovalRequestArgs,
    AuditNoteArgs,
    BuildArgs,
    CommandSpec,
    DryRunArgs,
    HomeArgs,
    NoticeArgs,
    RunArgs,
    ScaleArgs,
    find_command,
    quoted,
)
from shared.confirm import (
    CANCEL_ACTION,
    CONFIRM_ACTION,
    CONFIRM_TTL_S,
    PURPOSE_OF_ACTION,
    REJECT_ACTION,
    Purpose,
    seal,
    settlement,
    unseal,
)
from shared.errors import ConfirmationError, EnqueueError, UsageError
from shared.guard import check
from shared.inventory import JENKINS_RESERVED, Intake, Inventory, UnknownNameError
from shared.jobs import JobEnvelope, Requester, audit_target, job_id_for, utcnow
from shared.messages import SlackMessage
from shared.observability import ENQUEUE_FAILURES, JOBS_QUEUED, function_metrics, job_log_keys
from shared.policy import Approval
from shared.queue import JobQueue

logger = logging.getLogger(__name__)
metrics = function_metrics("opsbot-ack")


class SlashCommand(BaseModel):
    """The fields of Slack's slash-command payload that opsbot uses."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    command: str
    text: str = ""
    team_id: str
    user_id: str
    user_name: str = ""
    channel_id: str
    response_url: str | None = None
    trigger_id: str | None = None


class MentionEvent(BaseModel):
    """An Events API `app_mention` callback: `@opsbot deploy-status payment`. `team_id` is the installation's
    workspace (the callback's); `team`, `user_team` and `source_team` (Slack Connect) the author's."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    team_id: str
    event_id: str
    user: str = ""
    channel: str
    text: str
    ts: str
    thread_ts: str | None = None
    bot_id: str | None = None
    subtype: str | None = None
    team: str | None = None
    user_team: str | None = None
    source_team: str | None = None


#: Message subtypes that mean a bot or an integration wrote it, not a person.
BOT_SUBTYPES = frozenset({"bot_message", "bot_add", "bot_remove"})


def outsider(event: MentionEvent, intake: Intake) -> str | None:
    """Why this author may not trigger opsbot ("bot", "external"), or None. By default only people of the
    installation's workspace may; the inventory's `[intake]` names bots and other workspaces that may too."""
    if event.bot_id is not None or (event.subtype in BOT_SUBTYPES):
        return None if event.bot_id is not None and event.bot_id in intake.allowed_bots else "bot"
    if not event.user:
        return "bot"
    teams = {t for t in (event.team, event.user_team, event.source_team) if t}
    if any(t != event.team_id and t not in intake.allowed_teams for t in teams):
        return "external"
    return None


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
        return messages.unknown_command(name, COMMANDS)
    try:
        words, dry_run = spec.split_dry_run(text)
        args = spec.parse(words)
    except UsageError as exc:
        return messages.usage_help(spec, str(exc))
    problem = (
        unknown_name(spec, args, inventory)
        or build_parameter_problem(args, inventory)
        or runbook_problem(args, inventory)
        or scale_bounds_problem(args, inventory)
    )
    if problem is not None:
        return messages.refused(f"{spec.name} {text}", problem)
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


def build_parameter_problem(args: Any, inventory: Inventory | None) -> str | None:
    """A build parameter that may not reach Jenkins: a reserved name (always), or one the job's allow-list in
    the inventory does not name or whose value it does not admit."""
    if not isinstance(args, BuildArgs):
        return None
    for name in args.parameters:
        if name.lower() in JENKINS_RESERVED:
            return f"{quoted(name)} is a name Jenkins reserves; it is never passed as a build parameter."
    job = inventory.jenkins_jobs.get(args.job) if inventory is not None else None
    return job.refusal(args.parameters) if job is not None else None


def runbook_problem(args: Any, inventory: Inventory | None) -> str | None:
    """A runbook run on a target it does not name, or with a parameter its allow-list does not admit."""
    book = inventory.runbooks.get(args.runbook) if isinstance(args, RunArgs) and inventory is not None else None
    problem = book.refusal(args.target, args.parameters) if book is not None else None
    return f"Runbook {quoted(args.runbook)}: {problem}." if problem is not None else None


def scale_bounds_problem(args: Any, inventory: Inventory | None) -> str | None:
    """A `/ops-scale` count outside the target's bounds (the inventory's `min` / `max`, else the defaults)."""
    if not isinstance(args, ScaleArgs) or inventory is None:
        return None
    target = inventory.targets.get(args.target)
    return target.ecs.count_refusal(args.target, args.count) if target is not None and target.ecs else None


def refusal(job: JobEnvelope, inventory: Inventory | None) -> SlackMessage | None:
    """The denial of a job the policy refuses from its static lists, else None. Without an inventory, and
    for a request only a user group could admit, the worker decides (it resolves group members). A dry run is
    never refused here: it changes nothing, and the worker tells what the policy would say."""
    if inventory is None or isinstance(job.args, DryRunArgs):
        return None
    decision = check(job, inventory)
    if decision.allowed is not False:
        return None
    logger.info("denied %s for %s by rule %s", job.display, job.requester.user_id, decision.rule)
    return messages.denied(job.display, decision.rule, decision.reason, decision.ask)


def accept_command(
    cmd: SlashCommand,
    queue: JobQueue,
    *,
    signing_secret: str,
    inventory: Inventory | None = None,
    now: Callable[[], datetime] = utcnow,
) -> SlackMessage:
    """Validate the command into a job, check the policy, then ask to confirm it (a command whose spec says
    so) or queue it. Never claims "queued" unless SQS took it. A command given without its target, with an
    inventory here, answers with a picker (ack_function/pickers.py)."""
    spec = find_command(cmd.command)
    if spec is not None and inventory is not None and not cmd.text.strip() and offers_picker(spec):
        return picker_for(spec, inventory, cmd.user_id, cmd.channel_id)
    requester = Requester(user_id=cmd.user_id, user_name=cmd.user_name, team_id=cmd.team_id, channel_id=cmd.channel_id)
    job_id = job_id_for(cmd.team_id, cmd.trigger_id)
    job = plan_job(
        cmd.command, cmd.text, requester, job_id=job_id, response_url=cmd.response_url, now=now(), inventory=inventory
    )
    if isinstance(job, SlackMessage):
        return job
    return route_job(job, queue, signing_secret=signing_secret, inventory=inventory) or messages.queued(
        job.display, job.short_id
    )


def route_job(
    job: JobEnvelope,
    queue: JobQueue,
    *,
    signing_secret: str,
    inventory: Inventory | None,
    can_prompt: bool = True,
) -> SlackMessage | None:
    """A planned job through policy, approval and confirmation, then onto the queue: None when it was queued,
    else what to tell the requester (denied, approval requested, the prompt, or why it was not queued).
    Without `can_prompt` (no ephemeral ack to carry a prompt's buttons) a command to confirm is not queued.
    A dry run is queued as it is: no prompt, no approval request (the worker says whether either would be asked)."""
    if isinstance(job.args, DryRunArgs):
        try:
            _send(queue, job)
        except EnqueueError as exc:
            return messages.enqueue_failed(job.display, job.short_id, maybe_queued=exc.maybe_queued)
        return None
    denial = refusal(job, inventory)
    if denial is not None:
        record_denial(queue, job, denial)
        return denial
    spec = find_command(job.command)
    if spec is not None and spec.confirm and not can_prompt:  # its requester's Confirm comes first, always
        return messages.use_the_slash_command(job.display)
    decision = check(job, inventory) if inventory is not None else None
    if decision is not None and decision.approval is not None:
        return request_approval(queue, job, decision.approval, decision.rule or "", signing_secret)
    if spec is not None and spec.confirm:
        return _prompt(queue, job, spec, inventory, signing_secret)
    try:
        _send(queue, job)
    except EnqueueError as exc:
        return messages.enqueue_failed(job.display, job.short_id, maybe_queued=exc.maybe_queued)
    return None


def accept_runbook_click(
    click: ActionClick,
    queue: JobQueue,
    *,
    signing_secret: str,
    inventory: Inventory | None,
    now: Callable[[], datetime] = utcnow,
) -> JobEnvelope | None:
    """A runbook button under an alarm: its command runs as the person who clicked, exactly as if they had typed
    it (same parsing, policy, approval, audit; the job id from the click's trigger_id). The button names only
    the inventory entry; the command comes from the inventory, the clicker and channel from the signed click.
    Slack ignores a click's HTTP body, so anything to tell the clicker is a queued notice answered ephemerally
    through the click's response_url (never replacing the alarm message). Returns the job or the notice queued;
    raises `EnqueueError` when nothing was."""
    clicked_at = now()
    requester = Requester(user_id=click.user_id, team_id=click.team_id, channel_id=click.channel_id)
    line = _runbook_line(click, inventory)
    if isinstance(line, str):
        job_id = job_id_for(click.team_id, click.trigger_id)
        name, _, text = line.partition(" ")
        planned = plan_job(
            name,
            text,
            requester,
            job_id=job_id,
            response_url=click.response_url,
            now=clicked_at,
            inventory=inventory,
        )
        reply = (
            planned
            if isinstance(planned, SlackMessage)
            else route_job(planned, queue, signing_secret=signing_secret, inventory=inventory, can_prompt=False)
        )
        if reply is None:
            return planned if isinstance(planned, JobEnvelope) else None
    else:
        reply = line
    notice_id = job_id_for(click.team_id, f"runbook:{click.trigger_id}")
    notice = _notice(reply, line if isinstance(line, str) else "runbook", requester, notice_id, clicked_at)
    return _send_one(queue, notice.changed(response_url=click.response_url, replace_original=False))


def _runbook_line(click: ActionClick, inventory: Inventory | None) -> str | SlackMessage:
    """The command line the runbook button clicked stands for, or why there is none for this click."""
    from shared.alarms import RunbookRef  # with a runbook click only
    from shared.errors import AlarmFormatError

    try:
        ref = RunbookRef.from_value(click.value)
    except AlarmFormatError as exc:
        return messages.refused("runbook button", str(exc))
    route = inventory.alarms.get(ref.alarm) if inventory is not None else None
    if route is None or ref.entry >= len(route.runbook):
        return messages.refused("runbook button", "this button is no longer in the inventory's [alarms]")
    if click.channel_id != route.channel:
        return messages.refused(route.runbook[ref.entry], "runbook buttons run only in their alarm's channel")
    return route.runbook[ref.entry]


def request_approval(
    queue: JobQueue, job: JobEnvelope, approval: Approval, rule: str, signing_secret: str
) -> SlackMessage:
    """Two-person approval: the worker posts the request in the approvals channel (the ack never calls the
    Web API); the job rides sealed in its buttons."""
    try:
        token, reject_token = seal(job, signing_secret, "approve"), seal(job, signing_secret, "reject")
    except ConfirmationError as exc:
        return messages.confirmation_refused(str(exc))
    request = job.changed(
        job_id=job_id_for(job.requester.team_id, f"approval:{job.job_id}"),
        args=ApprovalRequestArgs(
            token=token,
            reject_token=reject_token,
            approvers=approval.approvers,
            channel=approval.channel,
            rule=rule,
            job_id=job.job_id,
            target=audit_target(job),
        ),
    )
    try:
        _send(queue, request)
    except EnqueueError:
        return messages.enqueue_failed(job.display)
    return messages.approval_requested(job.display, approval.channel, approval.approvers)


def accept_approval_click(
    click: ActionClick,
    queue: JobQueue,
    *,
    signing_secret: str,
    inventory: Inventory | None,
    now: Callable[[], datetime] = utcnow,
) -> list[JobEnvelope]:
    """Approve or Reject in the approvals channel. Approve by someone other than the requester (and, as far
    as the ack's static lists tell, an approver) queues the job with `approved_by`; the worker re-checks the
    approver's group membership, decides the request (unless it was rejected or expired first) and edits the
    request's message before the job runs. Reject by an approver (as far as the static lists tell) or by the
    requester (withdrawing it) queues a `settle` job that does the same for a rejection, re-checking the
    rejecter's group membership, and tells the requester. A refused click is answered with a queued notice
    to the clicker alone; nothing is decided."""
    clicked_at = now()
    requester = Requester(user_id=click.user_id, team_id=click.team_id, channel_id=click.channel_id)
    notice_id = job_id_for(click.team_id, click.trigger_id)
    purpose: Purpose = "reject" if click.action_id == REJECT_ACTION else "approve"
    try:
        job = unseal(click.value, signing_secret, purpose, now=clicked_at, team_id=click.team_id)
    except ConfirmationError as exc:
        logger.warning("%s by %s refused: %s", click.action_id, click.user_id, exc)
        refused = messages.confirmation_refused(str(exc))
        return _send_all(queue, [_reply_to_click(refused, click, requester, notice_id, clicked_at, replace=True)])
    allowed_teams = inventory.intake.allowed_teams if inventory is not None else []
    if click.user_team not in (None, "", click.team_id, job.requester.team_id, *allowed_teams):
        logger.warning("%s by %s of another workspace (%s) refused", click.action_id, click.user_id, click.user_team)
        refused = messages.not_from_this_workspace()
        return _send_all(queue, [_reply_to_click(refused, click, requester, notice_id, clicked_at, replace=False)])
    approval = check(job, inventory).approval if inventory is not None else None
    if click.action_id == REJECT_ACTION:
        if approval is not None and approval.could_reject(click.user_id, job.requester.user_id, _no_groups) is False:
            logger.info("rejection of %s by %s refused: not an approver", job.display, click.user_id)
            refused = messages.rejection_refused("you are not one of this request's approvers")
            return _send_all(queue, [_reply_to_click(refused, click, requester, notice_id, clicked_at, replace=False)])
        logger.info("%s rejected by %s", job.display, click.user_id, extra=job_log_keys(job))
        rejection = settlement(job, "rejected", click.user_id, approval=True, target=audit_target(job))
        # One rejection job per person: a rejection the worker refuses (not in the approver group) must not
        # stand in, by its job id, for a later one by an approver.
        rejection_id = job_id_for(job.requester.team_id, f"rejected:{job.job_id}:{click.user_id}")
        return _send_all(queue, [rejection.changed(job_id=rejection_id)])
    if click.user_id == job.requester.user_id:
        refused = messages.confirmation_refused("the requester cannot approve their own request")
        return _send_all(queue, [_reply_to_click(refused, click, requester, notice_id, clicked_at, replace=False)])
    if approval is not None and approval.could_approve(click.user_id, _no_groups) is False:
        refused = messages.confirmation_refused("you are not one of this request's approvers")
        return _send_all(queue, [_reply_to_click(refused, click, requester, notice_id, clicked_at, replace=False)])
    logger.info("%s approved by %s", job.display, click.user_id, extra=job_log_keys(job))
    return _send_all(queue, [job.changed(approved_by=click.user_id)])


def accept_pick(
    click: PickClick,
    queue: JobQueue,
    *,
    signing_secret: str,
    inventory: Inventory | None,
    now: Callable[[], datetime] = utcnow,
) -> JobEnvelope:
    """A choice in a picker runs the command as if typed: the same parsing, unknown-name check, policy and
    approval, its job id from the click's trigger_id. Slack ignores the HTTP body of a `block_actions` answer,
    so the answer travels with a queued job through the click's response_url, replacing the picker: the job
    itself, or a notice saying why not. A command that needs a confirmation prompt is not run from a click.
    Raises `EnqueueError` when nothing could be queued."""
    clicked_at = now()
    requester = Requester(
        user_id=click.user_id, user_name=click.user_name, team_id=click.team_id, channel_id=click.channel_id
    )
    job_id = job_id_for(click.team_id, click.trigger_id)
    spec = find_command(click.command)
    display = f"{click.command} {click.choice}"
    reply: SlackMessage
    allowed_teams = inventory.intake.allowed_teams if inventory is not None else []
    if click.user_team not in (None, "", click.team_id, *allowed_teams):
        logger.warning("pick by %s of another workspace (%s) refused", click.user_id, click.user_team)
        reply = messages.not_from_this_workspace()
    elif spec is None:
        reply = messages.unknown_command(click.command, COMMANDS)
    elif any(len(word.split()) != 1 for word in click.words(spec)):
        reply = messages.usage_help(spec, f"{quoted(display)} is not a choice this list offered.")
    else:
        text = " ".join(click.words(spec))
        planned = plan_job(
            spec.name,
            text,
            requester,
            job_id=job_id,
            response_url=click.response_url,
            now=clicked_at,
            inventory=inventory,
        )
        if isinstance(planned, JobEnvelope):
            decision = check(planned, inventory) if inventory is not None else None
            denial = refusal(planned, inventory)
            if denial is not None:
                record_denial(queue, planned, denial)
                reply = denial
            elif spec.confirm:  # its requester's Confirm comes first, even where a second person must approve
                reply = messages.use_the_slash_command(planned.display)
            elif decision is not None and decision.approval is not None:
                reply = request_approval(queue, planned, decision.approval, decision.rule or "", signing_secret)
            else:
                job = planned.changed(replace_original=True)
                return _send_one(queue, job)
        else:
            reply = planned
    # Its own id: an approved job later runs under `job_id`, and must not find it taken by this answer.
    notice_id = job_id_for(click.team_id, f"picked:{click.trigger_id}")
    notice = _notice(reply, click.command, requester, notice_id, clicked_at)
    return _send_one(queue, notice.changed(response_url=click.response_url, replace_original=True))


def _no_groups(group: str) -> frozenset[str] | None:
    """User-group members, as far as the ack knows: never (no Web API on the ack path)."""
    return None


def _reply_to_click(
    message: SlackMessage, click: ActionClick, requester: Requester, job_id: str, now: datetime, *, replace: bool
) -> JobEnvelope:
    notice = _notice(message, "notice", requester, job_id, now)
    return notice.changed(response_url=click.response_url, replace_original=replace)


def _send_all(queue: JobQueue, jobs: list[JobEnvelope]) -> list[JobEnvelope]:
    for job in jobs:
        _send(queue, job)
    return jobs


def schedule_expiry(queue: JobQueue, job: JobEnvelope) -> None:
    """Queue the expiry of a confirmation prompt with it (the worker replaces the prompt unless it was confirmed
    or cancelled first). Best effort: the prompt is shown anyway, and a late click is refused by `unseal`."""
    try:
        queue.send(settlement(job, "expired", target=audit_target(job)))
    except EnqueueError as exc:
        logger.error("the expiry of the prompt for %s could not be queued: %s", job.display, exc)


def record_denial(queue: JobQueue, job: JobEnvelope, denial: SlackMessage) -> None:
    """The ack cannot write the audit trail (no DynamoDB): its denial travels to the worker, which records
    it. Best effort: the requester's answer does not wait on it."""
    note = job.changed(args=AuditNoteArgs(target=audit_target(job), detail=denial.text[:500]), response_url=None)
    try:
        queue.send(note)
    except EnqueueError as exc:
        logger.error("the denial of %s could not be queued for the audit trail: %s", job.display, exc)


def _prompt(
    queue: JobQueue, job: JobEnvelope, spec: CommandSpec, inventory: Inventory | None, signing_secret: str
) -> SlackMessage:
    """The confirmation prompt, its expiry queued with it; the job rides in its Confirm button, sealed with
    the signing secret."""
    environment = None
    if inventory is not None and spec.accepts is not None and spec.subject is not None:
        environment = inventory.environment_of(spec.accepts, str(getattr(job.args, spec.subject)))
    try:
        confirm_token, cancel_token = seal(job, signing_secret, "confirm"), seal(job, signing_secret, "cancel")
    except ConfirmationError as exc:
        return messages.confirmation_refused(str(exc))
    logger.info("asking %s to confirm %s", job.requester.user_id, job.display, extra=job_log_keys(job))
    schedule_expiry(queue, job)
    return messages.confirm_prompt(
        job.display,
        spec.description,
        environment,
        confirm_token,
        cancel_token,
        CONFIRM_TTL_S,
        CONFIRM_ACTION,
        CANCEL_ACTION,
    )


class ActionClick(BaseModel):
    """The fields of a `block_actions` payload that a confirmation click uses."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    action_id: str
    value: str = ""
    user_id: str
    team_id: str
    #: The clicker's own workspace (Slack Connect: another organisation's), when the payload says.
    user_team: str | None = None
    channel_id: str = ""
    response_url: str | None = None
    trigger_id: str | None = None

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> ActionClick:
        action = (body.get("actions") or [{}])[0]
        return cls.model_validate(
            {
                "action_id": action.get("action_id", ""),
                "value": action.get("value", ""),
                "user_id": (body.get("user") or {}).get("id"),
                "team_id": (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id"),
                "user_team": (body.get("user") or {}).get("team_id"),
                "channel_id": (body.get("channel") or {}).get("id", ""),
                "response_url": body.get("response_url"),
                "trigger_id": body.get("trigger_id"),
            }
        )


def accept_click(
    click: ActionClick, queue: JobQueue, *, signing_secret: str, now: Callable[[], datetime] = utcnow
) -> JobEnvelope:
    """A Confirm or Cancel click. Slack ignores the HTTP body of a `block_actions` answer, and the ack never
    calls the Web API nor a response_url itself: what the requester sees next (the prompt replaced by
    "queued", "cancelled" or why not) travels with a queued job (the confirmed job, a `settle` job for a
    cancel, a notice for a refusal) whose first message replaces the prompt through the click's response_url.
    Raises `EnqueueError` when nothing could be queued."""
    clicked_at = now()
    decided = decide_click(click, signing_secret, now=clicked_at)
    if isinstance(decided, SlackMessage):
        requester = Requester(user_id=click.user_id, team_id=click.team_id, channel_id=click.channel_id)
        notice_id = job_id_for(click.team_id, click.trigger_id)
        decided = _notice(decided, "notice", requester, notice_id, clicked_at)
    job = decided.changed(response_url=click.response_url, replace_original=True)
    _send(queue, job)
    return job


def decide_click(click: ActionClick, signing_secret: str, *, now: datetime) -> JobEnvelope | SlackMessage:
    """The confirmed job, the cancellation (a `settle` job), or what to tell the clicker instead (altered,
    expired, for another button, not theirs). Only the requester may confirm or cancel."""
    cancel = click.action_id != CONFIRM_ACTION
    purpose = PURPOSE_OF_ACTION.get(click.action_id, "cancel")
    try:
        job = unseal(click.value, signing_secret, purpose, now=now, team_id=click.team_id)
    except ConfirmationError as exc:
        logger.warning("%s by %s refused: %s", click.action_id, click.user_id, exc)
        return messages.cancel_refused(str(exc)) if cancel else messages.confirmation_refused(str(exc))
    if cancel:
        if job.requester.user_id != click.user_id:
            logger.warning("cancel of %s by %s refused: not the requester", job.display, click.user_id)
            return messages.cancel_refused("only the person who asked can cancel")
        return settlement(job, "cancelled", click.user_id, target=audit_target(job))
    if job.requester.user_id != click.user_id:
        logger.warning("confirmation of %s by %s refused: not the requester", job.display, click.user_id)
        return messages.confirmation_refused("only the person who asked can confirm")
    logger.info("%s confirmed by %s", job.display, click.user_id, extra=job_log_keys(job))
    return job.changed(confirmed_by=click.user_id)


def _send(queue: JobQueue, job: JobEnvelope) -> None:
    """Queue the job, logging and counting the outcome under its correlation id."""
    log_keys = job_log_keys(job)
    try:
        queue.send(job)
    except EnqueueError as exc:
        metrics.add_metric(name=ENQUEUE_FAILURES, unit=MetricUnit.Count, value=1)
        logger.error("enqueue failed: %s: %s", job.display, exc, extra=log_keys)
        raise
    metrics.add_metric(name=JOBS_QUEUED, unit=MetricUnit.Count, value=1)
    logger.info("queued %s for %s", job.display, job.requester.user_id, extra=log_keys)


_MENTION = re.compile(r"^\s*(<@[A-Z0-9]+>\s*)+")


def accept_mention(
    event: MentionEvent,
    queue: JobQueue,
    *,
    inventory: Inventory | None = None,
    now: Callable[[], datetime] = utcnow,
) -> JobEnvelope | None:
    """Queue the job a mention asks for, answered in its thread. A mention that is no command queues a
    notice with the help text (the ack never calls the Web API). Raises `EnqueueError` so the edge
    answers non-2xx and Slack retries; the retry carries the same event_id, so it is the same job. A bot's
    mention queues nothing (answering it could loop); a person of another workspace is told opsbot is for
    this one's (None returned when nothing was queued)."""
    intake = inventory.intake if inventory is not None else Intake()
    who = outsider(event, intake)
    if who == "bot":
        logger.warning("mention by a bot refused (bot_id %s, subtype %s)", event.bot_id, event.subtype)
        return None
    words = _MENTION.sub("", event.text).strip().split(maxsplit=1)
    name = "/" + words[0].lstrip("/") if words else ""
    text = words[1] if len(words) > 1 else ""
    requester = Requester(
        user_id=event.user, team_id=event.team_id, channel_id=event.channel, thread_ts=event.thread_ts or event.ts
    )
    job_id = job_id_for(event.team_id, event.event_id)
    if who == "external":
        logger.warning("mention by %s of another workspace refused", event.user)
        notice = _notice(messages.not_from_this_workspace(), name, requester, job_id, now(), only_to_requester=True)
        return _send_one(queue, notice)
    planned = plan_job(name, text, requester, job_id=job_id, response_url=None, now=now(), inventory=inventory)
    if isinstance(planned, JobEnvelope):
        denial = refusal(planned, inventory)
        if denial is not None:
            record_denial(queue, planned, denial)
            planned = denial
        elif _needs_a_click(planned, inventory):
            # A prompt with buttons is the slash command's (ephemeral, to the requester); a mention is not
            # a way around confirmation or approval.
            planned = messages.use_the_slash_command(planned.display)
    job = planned if isinstance(planned, JobEnvelope) else _notice(planned, name, requester, job_id, now())
    return _send_one(queue, job)


def _send_one(queue: JobQueue, job: JobEnvelope) -> JobEnvelope:
    _send(queue, job)
    return job


def _needs_a_click(job: JobEnvelope, inventory: Inventory | None) -> bool:
    if isinstance(job.args, DryRunArgs):
        return False
    spec = find_command(job.command)
    if spec is not None and spec.confirm:
        return True
    return inventory is not None and check(job, inventory).approval is not None


def _notice(
    message: SlackMessage,
    name: str,
    requester: Requester,
    job_id: str,
    now: datetime,
    *,
    only_to_requester: bool = False,
) -> JobEnvelope:
    return JobEnvelope(
        job_id=job_id,
        command=name,
        args=NoticeArgs(text=messages.clip(message.text, 3000), only_to_requester=only_to_requester),
        requester=requester,
        issued_at=now,
        correlation_id=job_id,
    )


class HomeOpened(BaseModel):
    """An Events API `app_home_opened` callback: the viewer opened the app's Home tab (or its Messages tab)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    team_id: str
    event_id: str
    user: str
    channel: str = ""
    tab: str = "home"


def accept_home_opened(
    event: HomeOpened, queue: JobQueue, *, now: Callable[[], datetime] = utcnow
) -> JobEnvelope | None:
    """Queue the publishing of the viewer's Home tab (the worker calls views.publish; the ack never calls the Web
    API). The Messages tab queues nothing. Raises `EnqueueError` so that Slack retries the event (same event_id:
    the same job)."""
    if event.tab != "home":
        return None
    job_id = job_id_for(event.team_id, event.event_id)
    job = JobEnvelope(
        job_id=job_id,
        args=HomeArgs(),
        requester=Requester(user_id=event.user, team_id=event.team_id, channel_id=event.channel),
        issued_at=now(),
        correlation_id=job_id,
    )
    _send(queue, job)
    return job
