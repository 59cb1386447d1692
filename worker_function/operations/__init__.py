"""One module per operation, named after the job kind. Each has
`run(args, job, ctx) -> SlackMessage`; raise `PermanentJobError` for what retrying cannot fix."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.jobs import JobEnvelope
from shared.messages import SlackMessage
from shared.settings import WorkerSettings
from worker_function.clients import AwsClients


@dataclass
class OperationContext:
    """What an operation may use: settings, AWS clients, the clock (tests pass their own)."""

    settings: WorkerSettings
    aws: AwsClients
    now: Callable[[], datetime]
    sleep: Callable[[float], None]


class Operation(Protocol):
    def run(self, args: Any, job: JobEnvelope, ctx: OperationContext) -> SlackMessage: ...


def operation_for(kind: str) -> Operation:
    """The module `worker_function.operations.<kind>`; kinds come from the validated envelope."""
    module: Any = importlib.import_module(f"{__name__}.{kind}")
    return module
