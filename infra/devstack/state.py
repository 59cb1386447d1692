"""The state files: how `opsbot send` in another terminal finds the running `opsbot local` (one per port)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from infra.devstack.errors import SeveralStacksError, StateFileError


class StackState(BaseModel):
    """Addresses and the signing secret of a running local stack."""

    model_config = ConfigDict(frozen=True)

    ingress_url: str
    events_url: str
    slack_url: str
    signing_secret: str
    queue_url: str
    dlq_url: str
    endpoint_url: str
    region: str
    pid: int
    #: The inventory file both functions read (the demo one in a temporary file by default): the CLI checks
    #: names against it (`opsbot alarm`). None in a state file written before it was recorded.
    inventory: str | None = None


def state_dir() -> Path:
    """`$XDG_CACHE_HOME/opsbot`, i.e. `~/.cache/opsbot` by default (the XDG base directory spec: a relative
    XDG_CACHE_HOME is ignored)."""
    cache = os.environ.get("XDG_CACHE_HOME", "")
    return Path(cache if os.path.isabs(cache) else Path.home() / ".cache") / "opsbot"


def private_state_dir() -> Path:
    """The state directory, created private to this user (0700). One owned by another user is refused: the
    state files hold signing secrets, and one user's CLI must not find (or drive) another user's stacks."""
    path = state_dir()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise StateFileError(f"{path} is not a directory: set XDG_CACHE_HOME to a directory of your own")
    if info.st_uid != os.getuid():
        raise StateFileError(
            f"{path} belongs to another user (uid {info.st_uid}): the local stacks' state is per user; set "
            "XDG_CACHE_HOME to a directory of your own"
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def state_path_for(port: int) -> Path:
    """The state file of the stack whose ingress listens on `port`."""
    return private_state_dir() / f"local-{port}.json"


def is_alive(pid: int) -> bool:
    """True if process `pid` exists (a pid <= 0 is not checked: a state written by hand, or by a test)."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_state(explicit: Path | None = None) -> Path:
    """`explicit`, else the one running stack's state file (stale ones removed; several: `StateFileError`)."""
    if explicit is not None:
        return explicit
    running: list[tuple[Path, StackState]] = []
    for path in sorted(private_state_dir().glob("local*.json")):
        if path.lstat().st_uid != os.getuid():  # not this user's stack
            continue
        try:
            state = read_state(path)
        except StateFileError:
            continue
        running.append((path, state))
    if not running:
        raise StateFileError(
            f"no local stack is running (no state file in {state_dir()}): start one with `opsbot local`"
        )
    if len(running) > 1:
        listed = "; ".join(f"--state {path} (ingress {state.ingress_url}, pid {state.pid})" for path, state in running)
        raise SeveralStacksError(
            f"{len(running)} local stacks are running, pick one: {listed}", [str(path) for path, _ in running]
        )
    return running[0][0]


def write_state(path: Path, state: StackState) -> None:
    """Write atomically, readable by the owner only (it holds the signing secret)."""
    if path.parent == state_dir():
        private_state_dir()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(state.model_dump_json(indent=2))
    os.replace(tmp, path)


def read_state(path: Path) -> StackState:
    """The state of a running stack, or `StateFileError` saying what is wrong (a stale file is removed)."""
    try:
        state = StackState.model_validate_json(path.read_text())
    except FileNotFoundError:
        raise StateFileError(f"no local stack state at {path}: start one with `opsbot local`") from None
    except (OSError, ValidationError, ValueError) as exc:
        raise StateFileError(f"cannot read the local stack state at {path}: {exc}") from None
    if not is_alive(state.pid):
        path.unlink(missing_ok=True)
        raise StateFileError(
            f"the local stack of {path} is gone (process {state.pid} no longer runs): removed its stale state "
            "file; start one with `opsbot local`"
        )
    return state


def remove_state(path: Path, pid: int) -> None:
    """Remove the file if it still belongs to process `pid` (another stack may have replaced it)."""
    try:
        if read_state(path).pid == pid:
            path.unlink()
    except (StateFileError, OSError):
        pass
