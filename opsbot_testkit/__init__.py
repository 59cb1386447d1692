"""opsbot's test kit for command authors, built-in or plugin: what opsbot's own tests use, in one import.

- `fake_context()`, `fake_job(line)`, `Recorder`: an operation's unit tests, on recording fakes (no AWS, no
  Slack), with an intent store in memory so `ctx.effect(...)` behaves as in the worker.
- `local_stack()` and `send(stack, line)`: the command end to end on the local stack, a signed Slack request in
  and the final Slack message out, each function under the IAM role the CDK app derives.
- `prove_exactly_once(harness, line, effects=...)`: the fault-enumeration harness applied to the command, every
  external request on its path failed or killed, before and after; the `Proof` lists any run that did not show
  one side effect at the target and one answer (`opsbot_harness`, from `pytest_plugins =
  ["opsbot_testkit.fixtures"]`, gives the harness).

Importing this module imports no test framework and starts nothing; the names load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsbot_testkit.context import NOW, MemoryIntents, Recorder, fake_context, fake_job
    from opsbot_testkit.exactly_once import Proof, Run, around, prove_exactly_once
    from opsbot_testkit.harness import Clock, Harness
    from opsbot_testkit.lambda_context import FakeLambdaContext
    from opsbot_testkit.local import local_stack, send

_WHERE = {
    "NOW": "context",
    "Recorder": "context",
    "MemoryIntents": "context",
    "FakeLambdaContext": "lambda_context",
    "fake_context": "context",
    "fake_job": "context",
    "local_stack": "local",
    "send": "local",
    "prove_exactly_once": "exactly_once",
    "around": "exactly_once",
    "Proof": "exactly_once",
    "Run": "exactly_once",
    "Harness": "harness",
    "Clock": "harness",
}

__all__ = [
    "NOW",
    "Clock",
    "FakeLambdaContext",
    "Harness",
    "MemoryIntents",
    "Proof",
    "Recorder",
    "Run",
    "around",
    "fake_context",
    "fake_job",
    "local_stack",
    "prove_exactly_once",
    "send",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'opsbot_testkit' has no attribute {name!r}")
    return getattr(importlib.import_module(f"opsbot_testkit.{_WHERE[name]}"), name)
