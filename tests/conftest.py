"""How `pytest -n N` shares the suite among its workers (pytest-xdist): by file, the longest first.

xdist's default (`--dist load`) hands out tests one by one: a file's module-scoped stack (a `LocalStack`, a
moto server, a browser) is then started on every worker that got one of its tests, and the long files may come
last, one worker busy while the other waits. Here a file is one unit of work, so its module fixtures start once,
except the fault-injection harness, whose scenarios are units of their own (each runs minutes of faulted runs:
they are what the two workers share best). Units go out longest first (`WEIGHTS`, seconds measured on a busy
2-core machine; a file not listed counts a fraction of a second per test), so the two workers end together.

An explicit `--dist` (`-d`) is left alone.

The synthesized templates' cache (infra/devstack/deployed.py) is pinned for the session and its subprocesses:
a test that gives `opsbot local` a cache directory of its own (XDG_CACHE_HOME) would otherwise synthesize again.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any

import pytest

from infra.devstack.deployed import SYNTH_CACHE_ENV, cache_dir

#: Files whose tests are each a unit of work of their own.
SPREAD = ("tests/integration/test_exactly_once.py",)

#: Seconds a unit (a file, or a test of a `SPREAD` file by the start of its node id) takes, about: the order
#: units go out in. Only the order matters; a unit not listed weighs `UNLISTED_S_PER_TEST` per test.
HARNESS = (
    "tests/integration/test_exactly_once.py::"
    + "test_every_fault_on_the_path_still_runs_the_side_effect_once_and_answers_once"
)
WEIGHTS: dict[str, float] = {
    # Seconds measured in a whole run (`pytest -n 2 --durations=0`, load average 6 to 18 on 2 cores, 2026-12-06).
    # The harness's scenarios, by the faulted runs each makes (the runbooks' wait on Step Functions' executions).
    f"{HARNESS}[runbook step (Approve click)]": 215,
    f"{HARNESS}[runbook step (Reject click)]": 215,
    f"{HARNESS}[runbook (Step Functions)]": 195,
    f"{HARNESS}[rollback (confirmed)]": 135,
    f"{HARNESS}[migrate (approved)]": 105,
    f"{HARNESS}[scale (confirmed)]": 95,
    f"{HARNESS}[migrate (confirmed)]": 90,
    f"{HARNESS}[prompt (Confirm click)]": 85,
    f"{HARNESS}[regression]": 80,
    f"{HARNESS}[restart (ECS)]": 75,
    f"{HARNESS}[restart (EC2)]": 75,
    f"{HARNESS}[build (Jenkins)]": 70,
    f"{HARNESS}[alarm]": 65,
    f"{HARNESS}[cancel]": 55,
    f"{HARNESS}[freeze]": 15,
    f"{HARNESS}[lock]": 13,
    "tests/integration/test_exactly_once.py::": 6,
    "tests/integration/test_wire_faults.py": 250,
    "tests/integration/test_chaos.py": 150,
    "tests/browser/test_web_slack.py": 120,
    "tests/integration/test_local_wire_faults.py": 120,
    "tests/integration/test_worker.py": 110,
    "tests/integration/test_rollback_scale.py": 110,
    "tests/integration/test_operations.py": 110,
    "tests/test_static_checks.py": 70,
    "plugins/opsbot-cloudfront/tests/test_cdn_invalidate.py": 65,
    "tests/integration/test_opsbot_local.py": 65,
    "tests/integration/test_cli_unix.py": 55,
    "tests/integration/test_cli_alarm.py": 55,
    "tests/integration/test_audit.py": 50,
    "tests/integration/test_ack_sandboxes.py": 45,
    "tests/integration/test_holds.py": 45,
    "tests/integration/test_iam_enforced.py": 45,
    "tests/integration/test_local_matches_deployment.py": 40,
    "tests/integration/test_cancel.py": 40,
    "tests/integration/test_approval.py": 40,
    "tests/integration/test_rollback_scale_local.py": 38,
    "tests/integration/test_end_to_end.py": 35,
    "tests/infra/test_accounts_iam.py": 32,
    "tests/infra/test_delivery.py": 30,
    "tests/integration/test_moto_sqs.py": 27,
    "tests/integration/test_local_endpoint.py": 25,
    "tests/fuzz/test_atheris.py": 25,
}
UNLISTED_S_PER_TEST = 0.2


def weight(scope: str, tests: int) -> float:
    """The `WEIGHTS` entry that is the longest prefix of `scope`, else `tests` x `UNLISTED_S_PER_TEST`."""
    found = [prefix for prefix in WEIGHTS if scope.startswith(prefix)]
    return WEIGHTS[max(found, key=len)] if found else tests * UNLISTED_S_PER_TEST


def split_scope(nodeid: str) -> str:
    """The unit of work a test belongs to: its file, or itself in a `SPREAD` file."""
    path = nodeid.split("::", 1)[0]
    return nodeid if path in SPREAD else path


class _HeaviestFirst(OrderedDict[str, dict[str, bool]]):
    """xdist's queue of units (`LoadScopeScheduling.workqueue`): the next one taken is the heaviest left (the
    first of equals in collection order)."""

    def popitem(self, last: bool = True) -> tuple[str, dict[str, bool]]:
        if last:
            return super().popitem(last=True)
        scope = max(self, key=lambda s: weight(s, len(self[s])))
        return scope, self.pop(scope)


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault(SYNTH_CACHE_ENV, str(cache_dir()))


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    args = config.invocation_params.args
    explicit = any(a == "-d" or a == "--dist" or a.startswith("--dist=") for a in args)
    if explicit or config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class HeaviestFileFirst(LoadScopeScheduling):
        def __init__(self, config: pytest.Config, log: Any = None) -> None:
            super().__init__(config, log)
            self.workqueue = _HeaviestFirst()

        def _split_scope(self, nodeid: str) -> str:
            return split_scope(nodeid)

    return HeaviestFileFirst(config, log)
