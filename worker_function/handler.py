"""Lambda entry point of the worker: an SQS batch, partial failures reported per message
(`worker_function.function`; under SnapStart its after-restore hook runs in every restored copy).

No garbage collection runs while the module loads and the init builds: what they make lives as long as the
process. Then it is frozen (`gc.freeze`): later collections never scan it again, and a restored copy's collections
never touch (and so never copy) the snapshot's pages. CPython's recipe for a process that forks without exec
(disable early, freeze before the fork, enable in the child) is SnapStart's case: a snapshot is restored as a fork
is. A plain cold start enables collection at once; a SnapStart copy, after its restore.
"""

from __future__ import annotations

import gc

_COLLECTING = gc.isenabled()
gc.disable()

from typing import Any  # noqa: E402

from shared.settings import WorkerSettings  # noqa: E402
from worker_function.function import WorkerFunction, logger  # noqa: E402


def _init() -> WorkerFunction:
    snapshot = False
    try:
        settings = WorkerSettings.from_env()
        snapshot = settings.initialization_type == "snap-start"
        function = WorkerFunction(settings).init()
    finally:
        gc.freeze()
        if _COLLECTING and not snapshot:
            gc.enable()
    try:
        from snapshot_restore_py import register_after_restore  # in the Lambda runtime with SnapStart
    except ImportError:
        if _COLLECTING:
            gc.enable()
        return function
    if _COLLECTING and snapshot:
        register_after_restore(gc.enable)
    register_after_restore(function.after_restore)
    return function


_function = _init()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _function(event, context)
