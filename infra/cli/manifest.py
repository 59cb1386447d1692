"""The Slack app manifest, generated from the command specs: paste it into "Create an app > From a manifest".

Structure and limits follow Slack's app manifest reference (docs.slack.dev/reference/app-manifest)
and its published JSON schema (github.com/slackapi/manifest-schema): manifest version 1,
`display_information.name` <= 35 characters, a slash command's `command` 2-32 characters starting
with "/", its `description` 1-2000, its `usage_hint` 1-1000.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from shared.commands import COMMANDS, CommandSpec

APP_NAME = "opsbot"
APP_DESCRIPTION = "ChatOps on AWS: run operations from Slack, answered in the channel."
BACKGROUND_COLOR = "#1d3557"

#: What the operations and replies need: slash commands; posting replies and alarms (chat.postMessage /
#: chat.update: `chat:write` where the bot is a member, `chat:write.public` in public channels it was not
#: invited to: a private channel must invite it); opening a DM to the requester; @opsbot mentions; reading
#: user groups for command policies; finding an alarm's or a job's own message again in its channel or thread
#: (conversations.history / .replies: `channels:history` public, `groups:history` private) when a post's answer
#: was lost, on a retry only. The Home tab (`app_home_opened`, views.publish) needs no scope of its own: the event comes
#: with the Home tab enabled, and views.publish takes the bot token.
BOT_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "im:write",
    "app_mentions:read",
    "usergroups:read",
    "channels:history",
    "groups:history",
)
BOT_EVENTS = ("app_mention", "app_home_opened")

#: The Messages tab is read-only: the bot writes there (a reply when it cannot post in the channel) but reads no
#: direct messages (no `message.im`, no `im:history`). Operations are run where the team sees them, in a
#: channel, under the channel's policy rules and in its audit; a tab that took messages and never answered
#: would be the worst of both, so Slack shows "Sending messages to this app has been turned off" instead.
MESSAGES_TAB_READ_ONLY = True

#: Slack's limits on a slash command in a manifest.
MAX_COMMAND_LENGTH = 32
MAX_DESCRIPTION_LENGTH = 2000
MAX_USAGE_HINT_LENGTH = 1000


class ManifestError(ValueError):
    """The manifest would be refused by Slack (bad request URL, a command spec past Slack's limits)."""


def _check_request_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ManifestError(f"Slack request URLs must be https URLs, got {url!r}")
    return url


def _slash_command(spec: CommandSpec, url: str | None) -> dict[str, Any]:
    if not (2 <= len(spec.name) <= MAX_COMMAND_LENGTH and spec.name.startswith("/")):
        raise ManifestError(f"{spec.name!r}: a slash command is '/' plus up to {MAX_COMMAND_LENGTH - 1} characters")
    if not 1 <= len(spec.description) <= MAX_DESCRIPTION_LENGTH:
        raise ManifestError(f"{spec.name}: the description must be 1-{MAX_DESCRIPTION_LENGTH} characters")
    if len(spec.usage_hint) > MAX_USAGE_HINT_LENGTH:
        raise ManifestError(f"{spec.name}: the usage hint must be at most {MAX_USAGE_HINT_LENGTH} characters")
    command: dict[str, Any] = {"command": spec.name, "description": spec.description, "should_escape": False}
    if spec.usage_hint:  # Slack refuses an empty usage_hint
        command["usage_hint"] = spec.usage_hint
    if url is not None:
        command["url"] = url
    return command


def _manifest(url: str | None, commands: Sequence[CommandSpec]) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "event_subscriptions": {"bot_events": list(BOT_EVENTS)},
        "interactivity": {"is_enabled": True},
        "org_deploy_enabled": False,
        "socket_mode_enabled": url is None,
        "token_rotation_enabled": False,
    }
    if url is not None:
        settings["event_subscriptions"]["request_url"] = url
        settings["interactivity"]["request_url"] = url
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": APP_NAME,
            "description": APP_DESCRIPTION,
            "background_color": BACKGROUND_COLOR,
        },
        "features": {
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": MESSAGES_TAB_READ_ONLY,
            },
            "bot_user": {"display_name": APP_NAME, "always_online": True},
            "slash_commands": [_slash_command(spec, url) for spec in commands],
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": settings,
    }


def build_manifest(request_url: str, *, commands: Sequence[CommandSpec] = COMMANDS) -> dict[str, Any]:
    """The manifest for an app served over HTTP: every request (commands, actions, events) to `request_url`.

    `request_url` is the stack's RequestUrl output, `https://.../slack/events`.
    """
    return _manifest(_check_request_url(request_url), commands)


def build_socket_mode_manifest(*, commands: Sequence[CommandSpec] = COMMANDS) -> dict[str, Any]:
    """The manifest for Socket Mode (the local stack without a public URL): no request URLs."""
    return _manifest(None, commands)
