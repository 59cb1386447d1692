"""The seed article's pattern (../shared/seed/): one Bolt app with `process_before_response=True` whose
listener calls ack(), does the work, then say()s the result, all before the HTTP response leaves.

As in the article: a bot token (auth.test when the app is built), the work in the listener
(`perform_heavy_restart_logic`, a sleep of `work_seconds`), the result posted with say()
(chat.postMessage). The Web API is the local Slack API.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from slack_bolt import Ack, App, Say
from slack_sdk import WebClient


def perform_heavy_restart_logic(server_name: str, work_seconds: float) -> bool:
    time.sleep(work_seconds)
    return True


def build_app(signing_secret: str, client: WebClient, work_seconds: float) -> App:
    app = App(signing_secret=signing_secret, client=client, process_before_response=True)

    def handle_restart_command(ack: Ack, body: dict[str, Any], say: Say, logger: logging.Logger) -> None:
        try:
            ack("Received restart request... Initialization started. :hourglass_flowing_sand:")
            server_name = body["text"].strip()
            logger.info(f"User {body['user_id']} requested restart for {server_name}")
            perform_heavy_restart_logic(server_name, work_seconds)
            say(text=f":white_check_mark: Service *{server_name}* restarted successfully!", channel=body["channel_id"])
        except Exception as e:
            logger.error(f"Error handling command: {e}")
            say(f":warning: Failed to restart: {e!s}")

    app.command(re.compile(r"^/.+"))(handle_restart_command)
    return app
