"""The Slack payloads the ack reads, as typed models: a slash command, a mention, a button click, a Home tab.

Each model's validator is built when it first reads a payload (`defer_build`): a cold start builds the one its
first request needs; `PAYLOADS` are built before a SnapStart snapshot."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.inventory_entries import Intake


class SlashCommand(BaseModel):
    """The fields of Slack's slash-command payload that opsbot uses."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

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

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

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


class ActionClick(BaseModel):
    """The fields of a `block_actions` payload that a button click (Confirm, Approve, a runbook) uses."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

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


class HomeOpened(BaseModel):
    """An Events API `app_home_opened` callback: the viewer opened the app's Home tab (or its Messages tab)."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    team_id: str
    event_id: str
    user: str
    channel: str = ""
    tab: str = "home"


#: Every payload model the ack reads (with the picker's), built before a SnapStart snapshot.
PAYLOADS: tuple[type[BaseModel], ...] = (SlashCommand, MentionEvent, ActionClick, HomeOpened)
