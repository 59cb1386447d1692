"""Deliberately broken builds, to show the chaos run catches them: `broken("lease")` takes a target's lease without
its condition (two jobs may hold one target), `broken("restart-intent")` makes the restart's intent find nothing
at the target (a retry after a lost answer restarts again). `python -m tests.chaos --break NAME` runs a campaign on
one; `tests/integration/test_chaos.py` asserts the CI seeds catch each."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from unittest import mock

from shared.jobs import JobEnvelope


def _unconditional_acquire(self: Any, target: str, job: JobEnvelope, *, since: int | None = None) -> Any:
    from worker_function.store.leases import Lease

    now = int(self._now())
    lease = Lease(target, job.job_id, job.requester.user_id, job.display, since or now, now + self._ttl)
    self._client.put_item(TableName=self._table, Item=lease.item())
    return lease


@contextlib.contextmanager
def broken(name: str) -> Iterator[None]:
    if name == "lease":
        from worker_function.store import leases

        [store] = [c for c in vars(leases).values() if isinstance(c, type) and hasattr(c, "acquire")]
        with mock.patch.object(store, "acquire", _unconditional_acquire):
            yield
    elif name == "restart-intent":
        from worker_function.operations import restart

        with mock.patch.object(restart.ForceNewDeployment, "reconcile", lambda self, intent: None):
            yield
    else:
        raise ValueError(f"no broken build named {name!r} (lease, restart-intent)")


NAMES = ("lease", "restart-intent")
