"""A job's walk through the worker goes down its stages and does not bounce back: the executor
(`worker_function/pipeline.py`) is entered once per stage.

Measured by a profiler hook (`sys.setprofile`) on the worker's own code: the walk is the sequence of worker
modules control stays in (library code is skipped, `walk.py` too: it is the data the stages pass, no place of
code). The executor must be entered once at the start and then only by a stage returning to it (never by a
call from a stage or a store), once per stage its own log names (`stage ...`, DEBUG).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import worker_function

PACKAGE = os.path.dirname(worker_function.__file__) + os.sep
EXECUTOR = "pipeline.py"
DATA = {"walk.py"}


@dataclass(frozen=True)
class Stay:
    module: str
    #: Entered by a call into it (else by a return to it).
    called: bool


def stays_of(deliver: Callable[[], None]) -> list[Stay]:
    """The worker modules control stays in while `deliver` runs (this thread), consecutive repeats merged."""
    stays: list[Stay] = []

    def module_of(frame: object) -> str | None:
        filename = getattr(getattr(frame, "f_code", None), "co_filename", "")
        if not filename.startswith(PACKAGE):
            return None
        module = os.path.relpath(filename, PACKAGE)
        return None if module in DATA else module

    def profile(frame: object, event: str, arg: object) -> None:
        if event == "call":
            module, called = module_of(frame), True
        elif event == "return":
            module, called = module_of(getattr(frame, "f_back", None)), False
        else:
            return
        if module is not None and (not stays or stays[-1].module != module):
            stays.append(Stay(module, called))

    sys.setprofile(profile)
    try:
        deliver()
    finally:
        sys.setprofile(None)
    return stays


def walk_of(caplog, deliver: Callable[[], None]) -> tuple[list[str], list[Stay]]:
    """The stages the executor logged, and the module stays, for one delivery."""
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="worker_function.pipeline"):
        stays = stays_of(deliver)
    stages = [r.getMessage().removeprefix("stage ") for r in caplog.records if r.name == "worker_function.pipeline"]
    return [s for s in stages if not s.startswith("executed")], stays


#: Stages that are the executor's own grouping (the step inside its run-once record): they leave it for nothing.
EXECUTORS_OWN = {"step", "step+reply.deliver"}


def assert_enters_once_per_stage(
    stages: list[str], stays: list[Stay], *, from_records: int = 0, lease_held: bool = False
) -> None:
    """Entered once, then once per stage that ran: not a stage whose result is read back from its run-once
    record (`from_records` of them), and once more for a lease held for the step (`lease_held`): the step's end
    closes it, and the lease stage's own context releases it or keeps it for the next step."""
    entries = [i for i, stay in enumerate(stays) if stay.module == EXECUTOR]
    calls = [stays[i - 1].module for i in entries[1:] if stays[i].called]
    assert calls == [], f"the executor was called back from {calls}"
    ran = len([s for s in stages if s not in EXECUTORS_OWN]) - from_records + lease_held
    assert len(entries) == ran + 1, (len(entries), stages, " > ".join(s.module for s in stays))
    returns = {stays[i - 1].module for i in entries[1:]}
    assert all(module.startswith("stages/") for module in returns), returns


def test_a_restart_walks_down_its_stages_once_each_step_and_a_redelivery_skips_the_step(harness, caplog):
    worker = harness.dispatcher()
    worker.handle_record(harness.job("/ops-ping").to_message(), 1)  # imports and clients out of the way
    job = harness.job("/ops-restart payment")

    first, stays = walk_of(caplog, lambda: worker.handle_record(job.to_message(), 1))

    assert first == [
        "audit.request",
        "registry.running",
        "step",
        "step.begin",
        "metrics.queue_wait",
        "planning.plan",
        "prompt.settle",
        "audit.planned",
        "lease.take",
        "step.operate",
        "lease.keep",
        "step.outcome",
        "metrics.finished",
        "audit.kept",
        "registry.after_step",
        "reply.deliver",
        "audit.restored",
        "reply.next_step",
        "audit.write",
    ]
    assert_enters_once_per_stage(first, stays, lease_held=True)

    # SQS delivers step 0 again: its step and its message are read back from their records, not redone.
    again, stays = walk_of(caplog, lambda: worker.handle_record(job.to_message(), 2))
    assert again == [
        "audit.request",
        "registry.running",
        "step",
        "registry.after_step",
        "reply.deliver",
        "audit.restored",
        "reply.next_step",
        "audit.write",
    ]
    assert_enters_once_per_stage(again, stays, from_records=2)  # reply.deliver, reply.next_step

    [step1] = harness.queued(wait=5)
    harness.clock.advance(harness.poll_s)
    last, stays = walk_of(caplog, lambda: worker.handle_record(step1["Body"], 1))
    assert last == [
        "registry.running",
        "step",
        "step.begin",
        "planning.plan",
        "prompt.settle",
        "audit.planned",
        "lease.take",
        "step.operate",
        "lease.keep",
        "step.outcome",
        "metrics.finished",
        "audit.kept",
        "registry.after_step",
        "reply.deliver",
        "audit.restored",
        "audit.outcome",
        "audit.write",
    ]
    assert_enters_once_per_stage(last, stays, lease_held=True)
    assert "Restart of `payment` completed" in harness.slack.messages(job=job.job_id)[-1].text
    assert worker.leases.holder("payment") is None


def test_a_read_walks_its_step_and_answer_in_one_record(harness, caplog):
    worker = harness.dispatcher()
    worker.handle_record(harness.job("/ops-ping").to_message(), 1)
    job = harness.job("/deploy-status payment")

    stages, stays = walk_of(caplog, lambda: worker.handle_record(job.to_message(), 1))

    assert stages[:3] == ["audit.request", "step+reply.deliver", "step.begin"]
    assert "reply.deliver" in stages and "lease.take" in stages
    assert_enters_once_per_stage(stages, stays)
