"""The ack's handlers of a request: a slash command, a choice in a picker, a runbook button, a mention, a Home tab.

Each reads its Slack payload into a `Request`, asks `route` (ack_function/route.py) what to do with it, and
carries that out the way its request can be answered: a slash command in its ephemeral ack; a click, whose HTTP
answer Slack ignores, and a mention through a queued notice the worker posts. Never "queued" unless SQS took it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime

from ack_function import replies
from ack_function.outbox import answer, notice, send, tell
from ack_function.payloads import ActionClick, HomeOpened, MentionEvent, SlashCommand, outsider
from ack_function.pickers import PickClick
from ack_function.route import Answer, Deny, Queue, Request, route
from shared.blockkit import SlackMessage, echo, simple
from shared.commands import HomeArgs, all_commands, find_command, quoted
from shared.errors import EnqueueError
from shared.inventory import Inventory
from shared.inventory_entries import Intake
from shared.jobs import JobEnvelope, Requester, job_id_for, utcnow
from shared.queue import JobQueue

logger = logging.getLogger(__name__)


def accept_command(
    cmd: SlashCommand,
    queue: JobQueue,
    *,
    signing_secret: str,
    inventory: Inventory | None = None,
    now: Callable[[], datetime] = utcnow,
) -> SlackMessage:
    """A slash command, answered in its ack: the picker, why not, the prompt, the approval asked, or "queued"."""
    requester = Requester(user_id=cmd.user_id, user_name=cmd.user_name, team_id=cmd.team_id, channel_id=cmd.channel_id)
    job_id = job_id_for(cmd.team_id, cmd.trigger_id)
    decided = route(Request("typed", cmd.command, cmd.text, requester, job_id, cmd.response_url), inventory, now())
    if isinstance(decided, Queue):
        return _queued(queue, decided.job) or queued(decided.job.display, decided.job.short_id)
    return answer(decided, queue, signing_secret=signing_secret)


def _queued(queue: JobQueue, job: JobEnvelope) -> SlackMessage | None:
    """Queue the job: None, or why it was not (it may have been, when SQS did not answer in time)."""
    try:
        send(queue, job)
    except EnqueueError as exc:
        return replies.enqueue_failed(job.display, job.short_id, maybe_queued=exc.maybe_queued)
    return None


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
    read = _picked(click, requester, inventory)
    if isinstance(read, Request):
        decided = route(read, inventory, clicked_at)
        if isinstance(decided, Queue):
            return send(queue, decided.job.changed(replace_original=True))
        reply = answer(decided, queue, signing_secret=signing_secret)
    else:
        reply = read
    # Its own id: an approved job later runs under the pick's job id, and must not find it taken by this answer.
    notice_id = job_id_for(click.team_id, f"picked:{click.trigger_id}")
    told = notice(reply, click.command, requester, notice_id, clicked_at)
    return send(queue, told.changed(response_url=click.response_url, replace_original=True))


def _picked(click: PickClick, requester: Requester, inventory: Inventory | None) -> Request | SlackMessage:
    """The request a choice stands for, or why there is none: a clicker of another workspace, a command opsbot
    does not have, a choice the picker did not offer (one name, one word)."""
    allowed_teams = inventory.intake.allowed_teams if inventory is not None else []
    if click.user_team not in (None, "", click.team_id, *allowed_teams):
        logger.warning("pick by %s of another workspace (%s) refused", click.user_id, click.user_team)
        return replies.not_from_this_workspace()
    spec = find_command(click.command)
    if spec is None:
        return replies.unknown_command(click.command, all_commands())
    words = click.words(spec)
    if any(len(word.split()) != 1 for word in words):
        display = f"{click.command} {click.choice}"
        return replies.usage_help(spec, f"{quoted(display)} is not a choice this list offered.")
    job_id = job_id_for(click.team_id, click.trigger_id)
    return Request("picked", spec.name, " ".join(words), requester, job_id, click.response_url)


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
        name, _, text = line.partition(" ")
        job_id = job_id_for(click.team_id, click.trigger_id)
        decided = route(Request("runbook", name, text, requester, job_id, click.response_url), inventory, clicked_at)
        if isinstance(decided, Queue):
            reply = _queued(queue, decided.job)
            if reply is None:
                return decided.job
        else:
            reply = answer(decided, queue, signing_secret=signing_secret)
    else:
        reply = line
    notice_id = job_id_for(click.team_id, f"runbook:{click.trigger_id}")
    told = notice(reply, line if isinstance(line, str) else "runbook", requester, notice_id, clicked_at)
    return send(queue, told.changed(response_url=click.response_url, replace_original=False))


def _runbook_line(click: ActionClick, inventory: Inventory | None) -> str | SlackMessage:
    """The command line the runbook button clicked stands for, or why there is none for this click."""
    from shared.alarms import RunbookRef  # with a runbook click only
    from shared.errors import AlarmFormatError

    try:
        ref = RunbookRef.from_value(click.value)
    except AlarmFormatError as exc:
        return replies.refused("runbook button", str(exc))
    found = inventory.alarms.get(ref.alarm) if inventory is not None else None
    if found is None or ref.entry >= len(found.runbook):
        return replies.refused("runbook button", "this button is no longer in the inventory's [alarms]")
    if click.channel_id != found.channel:
        return replies.refused(found.runbook[ref.entry], "runbook buttons run only in their alarm's channel")
    return found.runbook[ref.entry]


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
    this one's (None returned when nothing was queued). A command to confirm or to approve is not run from a
    mention: a prompt with buttons is the slash command's (ephemeral, to the requester)."""
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
        told = notice(replies.not_from_this_workspace(), name, requester, job_id, now(), only_to_requester=True)
        return send(queue, told)
    decided = route(Request("mentioned", name, text, requester, job_id), inventory, now())
    if isinstance(decided, Queue):
        return send(queue, decided.job)
    if isinstance(decided, Answer | Deny):
        reply = tell(decided, queue)
    else:  # `route` asks no prompt and no approval of a mention; should it, the answer is still no
        reply = replies.use_the_slash_command(decided.job.display)
    return send(queue, notice(reply, name, requester, job_id, now()))


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
    return send(queue, job)


def queued(display: str, short_id: str) -> SlackMessage:
    return simple(
        f":hourglass_flowing_sand: {echo(display)} is queued as job `{short_id}`.",
        "I'll post the result here.",
    )
