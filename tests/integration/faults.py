"""Fault injection on the wire now ships with opsbot as part of the command authors' test kit
(`opsbot_testkit.faults`): these names stay importable from here while branches that import them from tests/ are
merged."""

from opsbot_testkit.faults import (
    REPORT,
    Fault,
    FaultPlan,
    WorkerKilled,
    moto_count,
    moto_recorder,
    moto_requests,
    visible_final_messages,
    visible_finals,
)

__all__ = [
    "REPORT",
    "Fault",
    "FaultPlan",
    "WorkerKilled",
    "moto_count",
    "moto_recorder",
    "moto_requests",
    "visible_final_messages",
    "visible_finals",
]
