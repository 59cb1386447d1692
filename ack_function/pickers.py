"""Pickers: a command given without its target answers, in the ack's own response, with a select of what this
person may use (from the inventory and the policy's static lists); the click runs the command as if typed.

The option values are only the names (and the `--since` choice): the command comes from the action_id and the
requester from the signed click, so a value shows nobody anything they could not type themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.blockkit import (
    MAX_OPTION_VALUE,
    MAX_OPTIONS,
    SlackMessage,
    context_block,
    escape,
    fallback_text,
    section_block,
    simple,
    static_select,
)
from shared.commands import CommandSpec
from shared.inventory import Inventory
from shared.policy import PolicyRequest, decide

#: The action_id of a picker's main select is this prefix and the command's name: `opsbot_pick:/ops-restart`.
PICK_PREFIX = "opsbot_pick:"
#: The `--since` select of `/ops-logs`: read from the click's state when the target is chosen.
SINCE_ACTION = "opsbot_pick_since"
PICK_BLOCK = "opsbot_pick"
SINCE_CHOICES = (
    ("last 15 minutes", "15m"),
    ("last hour", "1h"),
    ("last 6 hours", "6h"),
    ("last day", "1d"),
    ("last 7 days", "7d"),
)
DEFAULT_SINCE = "15m"
#: The order environments are grouped in (the policy's `Environment`), then anything else.
_ENVIRONMENTS = ("prod", "staging", "dev", "test")
#: What a picker offers, in its words, by what the command accepts (anything else: a target).
_WHAT = {"jenkins_job": "Jenkins job", "suite": "suite", "environment": "environment"}


def offers_picker(spec: CommandSpec) -> bool:
    """A command naming one inventory entry, without a confirmation prompt (a click cannot show one) nor a
    required reason (`CommandSpec.picker`)."""
    return spec.accepts is not None and spec.subject is not None and not spec.confirm and spec.picker


def usable_names(spec: CommandSpec, inventory: Inventory, user: str, channel: str) -> list[tuple[str, str]]:
    """(environment, name) of what `spec` accepts and the policy does not refuse this person from its static
    lists (undecided ones, which only a user group could admit, stay: the worker decides them)."""
    assert spec.accepts is not None
    found = []
    for name in inventory.names_for(spec.accepts):
        environment = inventory.environment_of(spec.accepts, name)
        request = PolicyRequest(
            command=spec.name, mutating=spec.mutating, environment=environment, user=user, channel=channel
        )
        if decide(inventory.policy, request).allowed is not False:
            found.append((environment or "", name))
    return found


def picker_for(spec: CommandSpec, inventory: Inventory, user: str, channel: str) -> SlackMessage:
    """The picker of `spec` for this person: names grouped by environment, at most 100, the rest counted."""
    what = _WHAT.get(spec.accepts or "", "target")
    names = usable_names(spec, inventory, user, channel)
    fitting = [(env, name) for env, name in names if len(name) <= MAX_OPTION_VALUE]
    shown = fitting[:MAX_OPTIONS]
    order = {env: i for i, env in enumerate(_ENVIRONMENTS)}
    environments = sorted({env for env, _ in shown}, key=lambda env: (order.get(env, len(order)), env))
    groups = [(env or "other", [(name, name) for e, name in shown if e == env]) for env in environments]
    selects = []
    if spec.accepts == "logs":
        since = static_select(SINCE_ACTION, "How far back", [("since", SINCE_CHOICES)], DEFAULT_SINCE)
        selects.append(since)
    selects.append(static_select(PICK_PREFIX + spec.name, f"Choose {a_or_an(what)}", groups))
    return picker(spec, what, selects, len(shown), len(names) - len(shown), PICK_BLOCK)


class PickClick(BaseModel):
    """A choice in a picker: the command (from the action_id), the chosen name, and who chose it, where."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    command: str
    choice: str
    since: str | None = None
    user_id: str
    user_name: str = ""
    team_id: str
    user_team: str | None = None
    channel_id: str = ""
    response_url: str | None = None
    trigger_id: str | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> PickClick:
        action = (body.get("actions") or [{}])[0]
        user = body.get("user") or {}
        state = ((body.get("state") or {}).get("values") or {}).get(PICK_BLOCK) or {}
        since = ((state.get(SINCE_ACTION) or {}).get("selected_option") or {}).get("value")
        return cls.model_validate(
            {
                "command": str(action.get("action_id", "")).removeprefix(PICK_PREFIX),
                "choice": (action.get("selected_option") or {}).get("value", ""),
                "since": since,
                "user_id": user.get("id"),
                "user_name": user.get("username") or user.get("name") or "",
                "team_id": (body.get("team") or {}).get("id") or user.get("team_id"),
                "user_team": user.get("team_id"),
                "channel_id": (body.get("channel") or {}).get("id", ""),
                "response_url": body.get("response_url"),
                "trigger_id": body.get("trigger_id"),
            }
        )

    def words(self, spec: CommandSpec) -> list[str]:
        """The command's text as the person would have typed it (`--since` only for a command that has it)."""
        words = [self.choice]
        if spec.accepts == "logs":
            words += ["--since", self.since or DEFAULT_SINCE]
        return words


def a_or_an(noun: str) -> str:
    """`a target`, `an environment`."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def picker(
    spec: CommandSpec, what: str, selects: Sequence[dict[str, Any]], shown: int, left_out: int, block_id: str
) -> SlackMessage:
    """The ephemeral answer to a command given without its target: selects of what this person may use
    (`shown` of them; `left_out` more did not fit, so they are told to type it)."""
    if not shown:
        return simple(
            f":information_source: There is no {escape(what)} you may use with `{escape(spec.name)}`.\n"
            f"Usage: `{escape(spec.usage)}`",
            "Nothing was queued.",
        )
    text = f":point_down: Choose {escape(a_or_an(what))} for `{escape(spec.name)}`. {spec.description}"
    notes = ["Choosing runs it exactly as if you had typed it. Nothing was queued yet."]
    if len(selects) > 1:
        notes.insert(0, "Pick the other choices first, then the " + escape(what) + ".")
    if left_out:
        notes.append(
            f"{left_out} more {escape(what)}s do not fit in this list: type `{escape(spec.name)} <{escape(what)}>`."
        )
    actions = {"type": "actions", "block_id": block_id, "elements": list(selects)}
    return SlackMessage(text=fallback_text(text), blocks=[section_block(text), actions, context_block(*notes)])
