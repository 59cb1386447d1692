"""The Bolt app of the ack function."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.error import BoltUnhandledRequestError
from slack_sdk import WebClient

from ack_function.listeners.actions import (
    acknowledge,
    approval_listener,
    confirmation_listener,
    pick_listener,
    runbook_listener,
    step_listener,
)
from ack_function.listeners.commands import command_listener
from ack_function.listeners.events import home_listener, mention_listener
from ack_function.pickers import PICK_PREFIX, SINCE_ACTION
from ack_function.step_clicks import STEP_ACTIONS
from shared.alarms import RUNBOOK_ACTION
from shared.confirm import APPROVE_ACTION, CANCEL_ACTION, CONFIRM_ACTION, REJECT_ACTION
from shared.inventory import Inventory
from shared.queue import JobQueue


def _authorize_without_web_api(enterprise_id: str | None, team_id: str | None, user_id: str | None) -> AuthorizeResult:
    """The ack never calls the Web API, so it needs no token and no auth.test."""
    return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)


#: What a listener raises on a signed body it cannot read (a missing field, a wrong type): the request is
#: answered 400. Anything else (an `EnqueueError`) stays a 500, so Slack retries an event.
UNREADABLE = (KeyError, TypeError, AttributeError, IndexError, ValueError)


logger = logging.getLogger(__name__)


def answer_listener_error(error: Exception, body: dict[str, Any]) -> BoltResponse | None:
    if isinstance(error, BoltUnhandledRequestError):
        return answer_unhandled(body)
    if isinstance(error, UNREADABLE):
        return BoltResponse(status=400, body="malformed request")
    return None


def answer_unhandled(body: dict[str, Any]) -> BoltResponse | None:
    """A signed Slack request no listener takes: an event Slack sends without a subscription (`app_rate_limited`:
    more than 30,000 events an hour), an event or an interaction opsbot does not handle. Answered 200 and logged,
    nothing queued: Slack limits, then disables, the event subscriptions of an app that fails over 5% of
    deliveries. A signed body that is not a Slack request at all (no `type`) stays a 400."""
    kind = body.get("type") if isinstance(body, dict) else None
    if not isinstance(kind, str) or not kind:
        return None
    if kind == "app_rate_limited":
        logger.warning(
            "Slack rate-limited events to opsbot (team %s, minute %s): some events of that minute were not sent",
            str(body.get("team_id"))[:20],
            str(body.get("minute_rate_limited"))[:20],
        )
    else:
        event = body.get("event")
        detail = str(event.get("type"))[:60] if isinstance(event, dict) else ""
        logger.info("a Slack %s %s opsbot does not handle: answered 200, nothing queued", kind[:60], detail)
    return BoltResponse(status=200, body="")


def build_app(signing_secret: str, queue: JobQueue, inventory: Inventory | None = None) -> App:
    """A Bolt app that verifies every request and acks slash commands after queueing them.

    `process_before_response=True`: on Lambda the response leaves only when the listener
    returns, so listeners do nothing but validate and enqueue (bounded by the queue's deadline).
    A tokenless `WebClient` keeps Bolt from picking SLACK_BOT_TOKEN up from the environment and
    calling `auth.test`. `inventory` carries the policy the ack applies from its static lists (None: the
    worker alone decides).
    """
    app = App(
        name="opsbot-ack",
        signing_secret=signing_secret,
        client=WebClient(),
        authorize=_authorize_without_web_api,
        process_before_response=True,
        request_verification_enabled=True,
        raise_error_for_unhandled_request=True,  # answered by `answer_listener_error`: 200 for Slack's own
    )
    app.command(re.compile(r"^/.+"))(command_listener(queue, signing_secret, inventory))
    app.action(re.compile(f"^({CONFIRM_ACTION}|{CANCEL_ACTION})$"))(confirmation_listener(queue, signing_secret))
    app.action(re.compile(f"^({APPROVE_ACTION}|{REJECT_ACTION})$"))(approval_listener(queue, signing_secret, inventory))
    app.action(re.compile(f"^{re.escape(PICK_PREFIX)}"))(pick_listener(queue, signing_secret, inventory))
    app.action(SINCE_ACTION)(acknowledge)
    app.action(re.compile(f"^{RUNBOOK_ACTION}_[0-9]+$"))(runbook_listener(queue, signing_secret, inventory))
    app.action(STEP_ACTIONS)(step_listener(queue))
    app.event("app_mention")(mention_listener(queue, inventory))
    app.event("app_home_opened")(home_listener(queue))
    app.error(answer_listener_error)
    return app
