"""A command run end to end on the local stack: a signed Slack request in, the final Slack message out.

`LocalStack` (infra/devstack/stack.py) is the whole of opsbot on 127.0.0.1: moto in server mode with each
function's role enforced, the ack behind a local HTTP ingress, the worker behind a queue poller, a local Slack API
that refuses what Slack refuses. Its inventory is the demo's plus every installed plugin's demo target.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Literal

from infra.devstack.client import CommandOutcome, run_command
from infra.devstack.stack import LocalStack


@contextlib.contextmanager
def local_stack(**options: Any) -> Iterator[LocalStack]:
    """The local stack, started (on free ports) and stopped after; `options` are `LocalStack`'s."""
    with LocalStack(port=0, **{"visibility_timeout": 2, "log_level": "WARNING", **options}) as stack:
        yield stack


def send(
    stack: LocalStack,
    line: str,
    *,
    user_id: str = "U0LOCALDEV",
    on_prompt: Literal["confirm", "cancel"] = "confirm",
    timeout: float = 60.0,
) -> CommandOutcome:
    """Sign `line` as Slack would, post it to the ack, answer a Confirm prompt with `on_prompt`, and follow the job
    to its final message (`outcome.messages`, `outcome.result`: succeeded, refused, failed...)."""
    return run_command(
        line, stack.target, timeout=timeout, user_id=user_id, emit=lambda text: None, on_prompt=on_prompt
    )
