"""A stand-in for the Lambda runtime's `snapshot_restore_py` (SnapStart runtime hooks), for bench/cold_probe.py.

Same API as the runtime's module (register_before_snapshot / register_after_restore, also usable as decorators,
with arguments); the probe calls `run_before_snapshot()` in the parent and `run_after_restore()` in the forked child.
"""

from collections.abc import Callable
from typing import Any

_before: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []
_after: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []


def register_before_snapshot(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
    _before.append((func, args, kwargs))
    return func


def register_after_restore(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
    _after.append((func, args, kwargs))
    return func


def get_before_snapshot() -> list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]:
    return list(_before)


def get_after_restore() -> list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]:
    return list(_after)


def run_before_snapshot() -> int:
    """Run the before-snapshot hooks in registration order (as the runtime does); the number run."""
    for func, args, kwargs in _before:
        func(*args, **kwargs)
    return len(_before)


def run_after_restore() -> int:
    """Run the after-restore hooks in registration order; the number run."""
    for func, args, kwargs in _after:
        func(*args, **kwargs)
    return len(_after)
