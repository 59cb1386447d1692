"""The local stack's concurrent pollers, its stand-in for Lambda running several worker invocations at once:
each poller invokes its own cold-started worker instance, and stop() stops them all."""

from __future__ import annotations

import sys
import threading

import pytest

from infra.devstack.client import run_command
from infra.devstack.stack import LocalStack

pytestmark = pytest.mark.integration

PROBES = "tests.integration.probes"
WORKER = f"{PROBES}.worker_probe"


def test_each_poller_invokes_its_own_worker_instance_and_stop_ends_them_all():
    with LocalStack(port=0, pollers=3, batch_size=1, ack_module=f"{PROBES}.ack_probe", worker_module=WORKER) as stack:
        outcomes = [run_command("/ops-ping", stack.target, timeout=20, emit=lambda line: None) for _ in range(4)]
        pollers = list(stack.pollers)
        instances = [sys.modules[WORKER], sys.modules[f"{WORKER}__env1"], sys.modules[f"{WORKER}__env2"]]

    assert all(outcome.ok for outcome in outcomes), [o.error for o in outcomes]
    assert len(pollers) == 3 and stack.pollers == [] and stack.poller is None
    assert sum(p.stats.records for p in pollers) == 4 and sum(p.stats.deleted for p in pollers) == 4
    assert len({id(module.lambda_handler) for module in instances}) == 3
    assert len({id(module._client) for module in instances}) == 3  # module state is per instance
    alive = {t.name for t in threading.enumerate()}
    assert not alive & {"sqs-poller", "sqs-poller-1", "sqs-poller-2"}


@pytest.mark.parametrize(("pollers", "batch_size"), [(0, 10), (1, 0), (1, 11)])
def test_pollers_and_batch_size_are_bounded(pollers, batch_size):
    with pytest.raises(ValueError):
        LocalStack(port=0, pollers=pollers, batch_size=batch_size)
