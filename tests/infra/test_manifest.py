"""The Slack app manifest generated from the command specs, checked against the structure Slack documents.

`SLACK_MANIFEST_STRUCTURE` restates, as a JSON schema, the part of Slack's manifest reference this
app uses (docs.slack.dev/reference/app-manifest; limits as in Slack's published schema,
github.com/slackapi/manifest-schema, version 1): required keys, types, lengths, and no keys
Slack does not know.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest

from infra.cli.manifest import BOT_SCOPES, ManifestError, build_manifest, build_socket_mode_manifest
from shared.commands import COMMANDS

jsonschema = pytest.importorskip("jsonschema")

URL = "https://abc123.execute-api.eu-west-1.amazonaws.com/slack/events"

_URL = {"type": "string", "pattern": r"^https?://", "maxLength": 3000}
_SCOPES = {"type": "array", "items": {"type": "string", "maxLength": 50}, "maxItems": 255, "uniqueItems": True}

SLACK_MANIFEST_STRUCTURE = {
    "type": "object",
    "required": ["display_information"],
    "additionalProperties": False,
    "properties": {
        "_metadata": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"major_version": {"type": "integer"}, "minor_version": {"type": "integer"}},
        },
        "display_information": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 35},
                "description": {"type": "string", "minLength": 1, "maxLength": 140},
                "background_color": {"type": "string", "pattern": r"^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$"},
                "long_description": {"type": "string", "minLength": 175, "maxLength": 4000},
            },
        },
        "features": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "app_home": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "home_tab_enabled": {"type": "boolean"},
                        "messages_tab_enabled": {"type": "boolean"},
                        "messages_tab_read_only_enabled": {"type": "boolean"},
                    },
                },
                "bot_user": {
                    "type": "object",
                    "required": ["display_name"],
                    "additionalProperties": False,
                    "properties": {
                        "display_name": {"type": "string", "minLength": 1, "maxLength": 80},
                        "always_online": {"type": "boolean"},
                    },
                },
                "slash_commands": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 50,
                    "items": {
                        "type": "object",
                        "required": ["command", "description"],
                        "additionalProperties": False,
                        "properties": {
                            "command": {"type": "string", "minLength": 2, "maxLength": 32, "pattern": "^/"},
                            "url": _URL,
                            "description": {"type": "string", "minLength": 1, "maxLength": 2000},
                            "usage_hint": {"type": "string", "minLength": 1, "maxLength": 1000},
                            "should_escape": {"type": "boolean"},
                        },
                    },
                },
            },
        },
        "oauth_config": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "scopes": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"bot": _SCOPES, "user": _SCOPES},
                }
            },
        },
        "settings": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "event_subscriptions": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "request_url": {**_URL, "maxLength": 3500},
                        "bot_events": {
                            "type": "array",
                            "items": {"type": "string", "maxLength": 50},
                            "maxItems": 100,
                            "uniqueItems": True,
                        },
                    },
                },
                "interactivity": {
                    "type": "object",
                    "required": ["is_enabled"],
                    "additionalProperties": False,
                    "properties": {"is_enabled": {"type": "boolean"}, "request_url": {**_URL, "maxLength": 3500}},
                },
                "org_deploy_enabled": {"type": "boolean"},
                "socket_mode_enabled": {"type": "boolean"},
                "token_rotation_enabled": {"type": "boolean"},
            },
        },
    },
}


def _errors(manifest) -> list[str]:
    validator = jsonschema.Draft7Validator(SLACK_MANIFEST_STRUCTURE)
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(manifest)]


def test_given_the_request_url_when_the_manifest_is_built_then_it_has_the_structure_slack_documents():
    manifest = build_manifest(URL)
    assert _errors(manifest) == []
    assert json.loads(json.dumps(manifest)) == manifest  # plain JSON, ready to paste


def test_given_the_command_specs_then_every_command_is_in_the_manifest_with_its_description_and_hint():
    commands = build_manifest(URL)["features"]["slash_commands"]
    assert [c["command"] for c in commands] == [spec.name for spec in COMMANDS]
    for spec, command in zip(COMMANDS, commands, strict=True):
        assert command["description"] == spec.description
        assert command.get("usage_hint") == (spec.usage_hint or None)
        assert command["url"] == URL


def test_given_the_request_url_then_interactivity_and_events_go_to_it_and_the_bot_hears_mentions():
    settings = build_manifest(URL)["settings"]
    assert settings["interactivity"] == {"is_enabled": True, "request_url": URL}
    assert settings["event_subscriptions"] == {"request_url": URL, "bot_events": ["app_mention", "app_home_opened"]}
    assert settings["socket_mode_enabled"] is False


def test_given_the_manifest_then_the_home_tab_is_enabled_and_its_event_subscribed():
    manifest = build_manifest(URL)
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True  # views.publish needs it
    assert "app_home_opened" in manifest["settings"]["event_subscriptions"]["bot_events"]
    names = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert "/ops-jobs" in names and "/ops-cancel" in names


def test_given_the_manifest_then_the_bot_asks_for_exactly_the_scopes_the_operations_need():
    manifest = build_manifest(URL)
    assert manifest["oauth_config"]["scopes"]["bot"] == list(BOT_SCOPES)
    assert set(BOT_SCOPES) == {
        "commands",
        "chat:write",
        "chat:write.public",  # alarms and answers in public channels the bot was not invited to
        "im:write",
        "app_mentions:read",
        "usergroups:read",
        "channels:history",
        "groups:history",  # a redelivered alarm finds its message again in a private channel
    }
    assert manifest["features"]["bot_user"]["display_name"]


def test_given_socket_mode_then_the_manifest_has_no_request_urls_and_is_still_valid():
    manifest = build_socket_mode_manifest()
    assert _errors(manifest) == []
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "url" not in json.dumps(manifest)


@pytest.mark.parametrize("url", ["http://example.com/slack/events", "example.com/slack/events", "https://"])
def test_given_a_url_that_is_not_https_then_no_manifest_is_built(url):
    with pytest.raises(ManifestError, match="https"):
        build_manifest(url)


def test_given_a_spec_past_slacks_description_limit_then_the_generator_refuses_it():
    too_long = replace(COMMANDS[0], description="x" * 2001)
    with pytest.raises(ManifestError, match="description"):
        build_manifest(URL, commands=[too_long])


def test_given_a_command_name_past_32_characters_then_the_generator_refuses_it():
    with pytest.raises(ManifestError, match="slash command"):
        build_manifest(URL, commands=[replace(COMMANDS[0], name="/" + "x" * 32)])


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("features", "slash_commands", 0, "description"), "x" * 2001, "too long"),
        (("features", "slash_commands", 0, "command"), "ops-ping", "does not match"),
        (("features", "slash_commands", 0, "usage_hint"), "", "should be non-empty"),
        (("display_information", "name"), "o" * 36, "too long"),
        (("settings", "interactivity", "is_enabled"), "yes", "is not of type 'boolean'"),
        (("features", "slash_commands", 0, "shortcut"), True, "Additional properties"),
    ],
)
def test_given_a_manifest_slack_would_refuse_then_the_structure_check_catches_it(path, value, expected):
    manifest = copy.deepcopy(build_manifest(URL))
    target = manifest
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert any(expected in error for error in _errors(manifest)), _errors(manifest)
