"""A plugin's operation, guarded: what it raises that is not a transient failure becomes a permanent one.

opsbot's own operations let an unexpected exception through: SQS delivers the job again, and after its last
attempt the requester is told and the job kept in the dead-letter queue. A plugin's bug (a `KeyError`, an
`AttributeError`, a failed assertion) would fail the same way on every attempt: its job is failed at once instead,
the requester told which plugin failed and how, nothing retried. What may pass with time stays transient: opsbot's
own errors (each says whether it is permanent), the AWS SDK's (connection, timeout, a throttled or failed call:
the plugin classifies the permanent ones it knows, as opsbot's operations do) and the network's (`OSError`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.errors import OpsbotError
from worker_function.errors import PermanentJobError

#: What a plugin's step may raise and still be retried (SQS delivers the job again).
TRANSIENT = (OpsbotError, BotoCoreError, ClientError, OSError)
#: The operation's methods that run a step (or a preview, or a stop) for a job.
GUARDED = frozenset({"run", "resume", "preview", "stop"})


class PluginFailedError(PermanentJobError):
    """A plugin's operation raised what retrying cannot fix: the message names the plugin, the command and the
    exception."""


class GuardedOperation:
    """A plugin's operation object with its steps guarded; every other attribute is the operation's own."""

    def __init__(self, operation: Any, *, plugin: str, command: str) -> None:
        self._operation = operation
        self._plugin = plugin
        self._command = command

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._operation, name)
        if name in GUARDED and callable(value):
            return self._guarded(value, name)
        return value

    def _guarded(self, method: Callable[..., Any], name: str) -> Callable[..., Any]:
        @functools.wraps(method)
        def step(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except TRANSIENT:
                raise
            except Exception as exc:
                raise PluginFailedError(
                    f"{self._command} failed in plugin {self._plugin} ({name}): {type(exc).__name__}: {exc}"
                ) from exc

        return step

    def __repr__(self) -> str:
        return f"GuardedOperation({self._operation!r}, plugin={self._plugin!r})"
