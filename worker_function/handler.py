"""Lambda entry point of the worker: an SQS batch, partial failures reported per message
(`worker_function.function`; under SnapStart its after-restore hook runs in every restored copy)."""

from __future__ import annotations

from typing import Any

from shared.settings import WorkerSettings
from worker_function.function import WorkerFunction, logger


def _init() -> WorkerFunction:
    function = WorkerFunction(WorkerSettings.from_env()).init()
    try:
        from snapshot_restore_py import register_after_restore  # in the Lambda runtime with SnapStart
    except ImportError:
        return function
    register_after_restore(function.after_restore)
    return function


_function = _init()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _function(event, context)
