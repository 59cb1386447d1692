"""The local stack invokes the ack as Lambda does: one invocation per sandbox at a time (the ack's SQS client
keeps one connection that is not thread-safe), more sandboxes when all are busy; and, with `ack_process`,
in a process of its own, as the ack shares nothing with the worker on AWS."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from infra.devstack.client import run_command
from infra.devstack.sandboxes import SandboxPool
from infra.devstack.stack import LocalStack

pytestmark = pytest.mark.integration


class Sandbox:
    """A handler that records whether it was ever entered while already running, and waits for `gate`."""

    def __init__(self, index: int, gate: threading.Event, inside: threading.Semaphore) -> None:
        self.index = index
        self.gate = gate
        self.inside = inside
        self.running = 0
        self.overlapped = False
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> int:
        with self._lock:
            self.running += 1
            self.calls += 1
            self.overlapped |= self.running > 1
        self.inside.release()
        self.gate.wait(timeout=30)
        with self._lock:
            self.running -= 1
        return self.index


def pool_of(size: int, *, grow: bool) -> tuple[SandboxPool, list[Sandbox], threading.Event, threading.Semaphore]:
    gate, inside = threading.Event(), threading.Semaphore(0)
    made: list[Sandbox] = []

    def factory(i: int) -> Sandbox:
        made.append(Sandbox(i, gate, inside))
        return made[-1]

    return SandboxPool(factory, size=size, grow=grow), made, gate, inside


def test_concurrent_invocations_each_get_a_sandbox_and_the_pool_grows_when_all_are_busy():
    pool, made, gate, inside = pool_of(2, grow=True)
    with ThreadPoolExecutor(max_workers=5) as executor:
        futures = [executor.submit(pool, {}, None) for _ in range(5)]
        for _ in range(5):  # all five are inside a handler at once
            assert inside.acquire(timeout=30)
        gate.set()
        answered = sorted(f.result(timeout=30) for f in futures)

    assert answered == [0, 1, 2, 3, 4] and pool.size == 5
    assert not any(s.overlapped for s in made)
    assert pool({}, None) in range(5) and pool.size == 5  # an idle sandbox is reused, not a new one made


def test_a_pool_that_may_not_grow_makes_an_invocation_wait_for_a_free_sandbox():
    pool, made, gate, inside = pool_of(2, grow=False)
    with ThreadPoolExecutor(max_workers=3) as executor:
        futures = [executor.submit(pool, {}, None) for _ in range(3)]
        assert inside.acquire(timeout=30) and inside.acquire(timeout=30)
        assert not inside.acquire(timeout=0.3)  # the third waits: both sandboxes are busy
        gate.set()
        answered = sorted(f.result(timeout=30) for f in futures)

    assert len(made) == 2 and pool.size == 2
    assert answered in ([0, 0, 1], [0, 1, 1]) and not any(s.overlapped for s in made)


@pytest.mark.parametrize("ack_process", [False, True], ids=["threads", "own-process"])
def test_concurrent_commands_are_all_queued_by_the_real_ack(ack_process):
    with LocalStack(port=0, ack_process=ack_process, pollers=2) as stack:
        child = getattr(stack.ingress, "_process", None)
        target = stack.target
        with ThreadPoolExecutor(max_workers=12) as executor:
            outcomes = list(executor.map(lambda _: run_command("/ops-ping", target, timeout=30, emit=print), range(24)))

    assert all(o.queued for o in outcomes), [o.ack_text for o in outcomes if not o.queued]
    assert all(o.ok for o in outcomes)
    if ack_process:  # its own process, waited for by stop()
        assert child is not None and child.pid != os.getpid() and child.returncode is not None
    else:
        assert child is None


def test_the_ack_process_takes_no_ack_handler():
    with pytest.raises(ValueError):
        LocalStack(port=0, ack_process=True, ack_handler=lambda event, context: {})
