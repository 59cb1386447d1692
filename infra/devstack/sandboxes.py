"""Lambda's execution environments on the laptop: a function's cold start, copies of it that keep their
own module-level state, and a pool that gives each concurrent invocation a sandbox of its own.

On Lambda a sandbox handles one invocation at a time; concurrent invocations run in other sandboxes,
created (cold-started) when every existing one is busy. A handler may rely on that: the ack keeps one
keep-alive connection to SQS that is not thread-safe (`shared.aws_json`). Calling one handler from the
ingress's concurrent request threads would break that rule, so the local stack invokes the ack
through a `SandboxPool`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from collections.abc import Callable
from typing import Any

LambdaHandler = Callable[[dict[str, Any], Any], Any]


def cold_start(module_name: str) -> LambdaHandler:
    """Import a function's handler module as Lambda's cold start does: it builds itself from the
    environment. Imported before (an earlier stack in this process), it is reloaded to rebuild."""
    module = sys.modules.get(module_name)
    module = importlib.reload(module) if module is not None else importlib.import_module(module_name)
    handler: LambdaHandler = module.lambda_handler
    return handler


def cold_start_instance(module_name: str, instance: int) -> LambdaHandler:
    """Another execution environment of the same function (Lambda runs concurrent invocations in separate
    sandboxes): instance 0 is `cold_start(module_name)`; the others execute the handler's file again as a
    module of its own name, so its module-level state (clients, batch processor) is its own. The modules
    it imports are shared by all instances: they must keep no per-invocation state."""
    if instance == 0:
        return cold_start(module_name)
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        raise ImportError(f"no module named {module_name!r}")
    name = f"{module_name}__env{instance}"
    copy_spec = importlib.util.spec_from_file_location(name, spec.origin)
    assert copy_spec is not None and copy_spec.loader is not None
    module = importlib.util.module_from_spec(copy_spec)
    sys.modules[name] = module  # pydantic and dataclasses look a module up by name while it executes
    copy_spec.loader.exec_module(module)
    handler: LambdaHandler = module.lambda_handler
    return handler


class SandboxPool:
    """A Lambda handler that runs each invocation in a sandbox no other invocation is using.

    `factory(i)` cold-starts sandbox i (e.g. `cold_start_instance(module, i)`); `size` of them start at
    once. An invocation takes an idle sandbox; when all are busy it cold-starts another, as Lambda
    scales out (`grow`, up to `limit`), or else waits for one to be free. Grow only where the factory may
    run later: a cold start reads the environment, which must still be the function's own.
    """

    def __init__(
        self, factory: Callable[[int], LambdaHandler], *, size: int = 1, grow: bool = False, limit: int = 64
    ) -> None:
        if not 1 <= size <= limit:
            raise ValueError("1 <= size <= limit")
        self._factory = factory
        self._grow = grow
        self._limit = limit
        self._idle: list[LambdaHandler] = [factory(i) for i in range(size)]
        self._count = size
        self._lock = threading.Condition()

    @property
    def size(self) -> int:
        """Sandboxes started so far."""
        return self._count

    def _acquire(self) -> LambdaHandler:
        with self._lock:
            while not self._idle:
                if self._grow and self._count < self._limit:
                    self._count += 1
                    index = self._count - 1
                    break
                self._lock.wait()
            else:
                return self._idle.pop()
        try:
            return self._factory(index)  # the cold start is this invocation's, outside the lock
        except BaseException:
            with self._lock:
                self._count -= 1
                self._lock.notify()
            raise

    def _release(self, handler: LambdaHandler) -> None:
        with self._lock:
            self._idle.append(handler)
            self._lock.notify()

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        handler = self._acquire()
        try:
            return handler(event, context)
        finally:
            self._release(handler)
