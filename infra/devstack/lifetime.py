"""Children of `opsbot local` die with it, even when it is killed with SIGKILL and cannot clean up."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

#: The parent's pid, set by the parent in the child's environment.
PARENT_PID_ENV = "OPSBOT_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Called first in a child: SIGTERM when the parent dies (prctl PR_SET_PDEATHSIG, else a watching thread)."""
    parent = int(os.environ.get(PARENT_PID_ENV) or 0)
    if parent <= 0:
        return
    if not (sys.platform.startswith("linux") and _set_parent_death_signal(signal.SIGTERM)):
        threading.Thread(target=_watch, args=(parent,), name="parent-watch", daemon=True).start()
    if os.getppid() != parent:  # it died before the signal was asked for
        os._exit(0)


def _set_parent_death_signal(signum: int) -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)
