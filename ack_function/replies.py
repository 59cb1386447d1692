"""What the ack answers on the HTTP response: queued, refused, usage, the confirmation prompt."""

from __future__ import annotations

from collections.abc import Sequence

from shared.blockkit import (
    SlackMessage,
    echo,
    escape,
    simple,
)
from shared.commands import CommandSpec
from shared.messages import command_list


def usage_help(spec: CommandSpec, problem: str) -> SlackMessage:
    """`problem` is plain words (it may quote the input, already shortened): shown escaped."""
    return simple(
        f":warning: {escape(problem)}\nUsage: `{escape(spec.usage)}`\n{spec.summary}",
        "Nothing was queued.",
    )


def unknown_command(name: str, specs: Sequence[CommandSpec]) -> SlackMessage:
    """An unknown command: the closest one offered ("did you mean"), then every command, closest first."""
    if not name:
        return simple(f"Here is what I can do:\n{command_list(specs)}", "Nothing was queued.")
    import difflib  # only to explain an unknown command

    from shared.inventory import closest_first

    by_name = {spec.name: spec for spec in specs}
    typed = name.strip().lower()
    ordered = [by_name[n] for n in closest_first(typed, list(by_name))]
    close = difflib.get_close_matches(typed, list(by_name), n=1, cutoff=0.6)
    guess = f" Did you mean `{escape(close[0])}`?" if close else ""
    opening = f":question: I don't know {echo(name, 40)}.{guess} The commands, closest first:"
    return simple(f"{opening}\n{command_list(ordered)}", "Nothing was queued.")


def refused(display: str, problem: str) -> SlackMessage:
    """A request the ack refuses before queueing (unknown name, a build parameter not allowed): plain words."""
    return simple(f":no_entry: {echo(display)} was not queued: {escape(problem)}", "Nothing was queued.")


def not_from_this_workspace() -> SlackMessage:
    """To a person from another organisation (Slack Connect) who asked opsbot for something."""
    return simple(":no_entry: opsbot accepts commands from members of this workspace only.", "Nothing was queued.")


def enqueue_failed(display: str, short_id: str = "", *, maybe_queued: bool = False) -> SlackMessage:
    """`maybe_queued`: the queue took the request but did not confirm in time, so it may hold the job."""
    if maybe_queued:
        return simple(
            f":warning: The job queue did not confirm {echo(display)} in time: it may or may not be queued. "
            f"If it was, job `{short_id}` answers here (it never runs twice); if nothing comes within a "
            "minute, try again.",
        )
    return simple(
        f":x: Could not queue {echo(display)}; nothing was run. Try again in a moment.",
        "The job queue could not be reached.",
    )


def use_the_slash_command(display: str) -> SlackMessage:
    return simple(
        f":point_right: {echo(display)} must be confirmed or approved first: type it as a slash command "
        "to get the prompt.",
        "Nothing was queued.",
    )
