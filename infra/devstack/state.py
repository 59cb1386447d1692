"""The state file: how `opsbot send` in another terminal finds the running `opsbot local`."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from infra.devstack.errors import StateFileError


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


def default_state_path() -> Path:
    """`$XDG_CACHE_HOME/opsbot/local.json`, i.e. `~/.cache/opsbot/local.json` by default."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "opsbot" / "local.json"


def write_state(path: Path, state: StackState) -> None:
    """Write atomically, readable by the owner only (it holds the signing secret)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(state.model_dump_json(indent=2))
    os.replace(tmp, path)


def read_state(path: Path) -> StackState:
    """The state of a running stack, or `StateFileError` saying what is wrong with the file."""
    try:
        return StackState.model_validate_json(path.read_text())
    except FileNotFoundError:
        raise StateFileError(f"no local stack state at {path}: start one with `opsbot local`") from None
    except (OSError, ValidationError, ValueError) as exc:
        raise StateFileError(f"cannot read the local stack state at {path}: {exc}") from None


def remove_state(path: Path, pid: int) -> None:
    """Remove the file if it still belongs to process `pid` (another stack may have replaced it)."""
    try:
        if read_state(path).pid == pid:
            path.unlink()
    except (StateFileError, OSError):
        pass
