"""The deployed clock and the local one keep AWS's relations; the local one is the deployed one scaled."""

from __future__ import annotations

import pytest

from shared.deployment import DEPLOYED_TIMING, LOCAL_VISIBILITY_TIMEOUT_S, Timing, local_timing
from shared.settings import MAX_RECEIVE_COUNT, QUEUE_VISIBILITY_TIMEOUT_SECONDS, WORKER_TIMEOUT_SECONDS


def test_the_deployed_clock_is_the_stacks_and_keeps_the_relations():
    assert DEPLOYED_TIMING.function_timeout_s == WORKER_TIMEOUT_SECONDS
    assert DEPLOYED_TIMING.visibility_timeout_s == QUEUE_VISIBILITY_TIMEOUT_SECONDS
    assert DEPLOYED_TIMING.max_receive_count == MAX_RECEIVE_COUNT
    assert DEPLOYED_TIMING.problems() == []
    assert DEPLOYED_TIMING.in_progress_expiry_s < DEPLOYED_TIMING.visibility_timeout_s
    assert DEPLOYED_TIMING.visibility_timeout_s >= 6 * DEPLOYED_TIMING.function_timeout_s


@pytest.mark.parametrize("visibility", [1, 2, 5, LOCAL_VISIBILITY_TIMEOUT_S, 60])
def test_the_local_clock_scales_every_constant_together_and_keeps_the_relations(visibility):
    local = local_timing(visibility)

    assert local.problems() == []
    assert local.visibility_timeout_s == visibility
    assert local.in_progress_expiry_s < local.visibility_timeout_s
    assert local.visibility_timeout_s >= 6 * local.function_timeout_s
    assert local.max_receive_count == DEPLOYED_TIMING.max_receive_count
    factor = visibility / DEPLOYED_TIMING.visibility_timeout_s
    assert local.function_timeout_s == pytest.approx(DEPLOYED_TIMING.function_timeout_s * factor)
    assert local.inline_wait_s == pytest.approx(DEPLOYED_TIMING.inline_wait_s * factor)


def test_the_clock_the_local_stack_had_breaks_the_relations():
    """Visibility 5 s with the worker's 120 s timeout: an interrupted job's record outlived every receive."""
    old = Timing(function_timeout_s=WORKER_TIMEOUT_SECONDS, visibility_timeout_s=5)

    problems = old.problems()

    assert any("outlives the visibility timeout" in p for p in problems)
    assert any("below 6x the function timeout" in p for p in problems)
    assert Timing(function_timeout_s=1, visibility_timeout_s=6, max_receive_count=5, inline_wait_s=0.1).problems() == [
        f"5 receives, not the deployed {MAX_RECEIVE_COUNT}"
    ]
