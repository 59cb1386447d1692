"""The benchmarks' own logic (statistics, the load plan, execution counting): no timing is asserted here."""

from __future__ import annotations

import logging
import statistics

import pytest

from bench.common import median_ci, percentile
from bench.load import plan
from bench.stackkit import ExecutionCounter


@pytest.mark.parametrize("q", [0, 10, 50, 90, 99, 100])
def test_percentile_matches_linear_interpolation(q):
    values = [5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 7.0]
    expected = statistics.quantiles(values, n=100, method="inclusive")[q - 1] if 0 < q < 100 else None
    if q == 0:
        expected = min(values)
    if q == 100:
        expected = max(values)
    assert percentile(values, q) == pytest.approx(expected)


def test_median_ci_brackets_the_median():
    values = list(range(1, 101))
    lo, hi = median_ci(values)
    assert lo < statistics.median(values) < hi
    assert lo > 35 and hi < 65


def test_load_plan_has_retries_of_earlier_requests_and_a_third_restarts():
    bursts = plan(1000, bursts=10, retry_share=0.10, restart_share=1 / 3, seed=3)
    sent = [(command, retry, index) for index, burst in enumerate(bursts) for command, retry in burst]
    originals = {c.trigger_id: i for c, retry, i in sent if retry == 0}
    retries = [(c, i) for c, retry, i in sent if retry > 0]

    assert len(sent) == 1000 and len(originals) == 900 and len(retries) == 100
    assert all(c.trigger_id in originals and i - originals[c.trigger_id] in (0, 1) for c, i in retries)
    restarts = sum(1 for c, retry, _ in sent if retry == 0 and c.command == "/ops-restart")
    assert restarts == 300
    assert {c.text for c, _, _ in sent if c.command == "/ops-restart"} == {"payment", "checkout"}
    assert len({c.user_id for c, _, _ in sent}) == 5


def _record(message: str, job_id: str, thread: int) -> logging.LogRecord:
    record = logging.LogRecord("worker_function.dispatch", logging.INFO, __file__, 1, message, None, None)
    record.job_id = job_id
    record.thread = thread
    return record


def test_a_refusal_logged_twice_in_one_run_is_one_execution_but_two_runs_are_two():
    counter = ExecutionCounter()
    counter.emit(_record("executed /ops-restart payment: failed permanently: payment is busy with job x", "a", 1))
    counter.emit(_record("executed /ops-restart payment (step 0) in 3 ms", "a", 1))
    counter.emit(_record("executed /ops-ping (step 0) in 1 ms", "b", 1))
    counter.emit(_record("executed /ops-ping (step 0) in 1 ms", "b", 2))
    counter.emit(_record("received /ops-ping step 0 (attempt 2)", "b", 2))

    by_job = counter.by_job()

    assert [e.busy for e in by_job["a"]] == [True]
    assert len(by_job["b"]) == 2
    assert counter.double_logged == {"a"} and counter.deliveries == [("b", 2)]
