"""The worker harness now ships with opsbot as the command authors' test kit (`opsbot_testkit.harness`): these
names stay importable from here while branches that import them from tests/ are merged."""

from opsbot_testkit.harness import POLL_S, WIRE_READ_TIMEOUT_S, Clock, Harness, Wire, at, minutes_ago

__all__ = ["POLL_S", "WIRE_READ_TIMEOUT_S", "Clock", "Harness", "Wire", "at", "minutes_ago"]
