"""DynamoDB's conditional writes made atomic in the local stack's moto server, as DynamoDB's are; applied only
inside `python -m infra.devstack.moto_server` (moto itself is not modified on disk).

Why: moto's server handles requests on threads, and its `put_item` / `update_item` / `delete_item` check a
`ConditionExpression` and then write without a lock, so two conditional puts racing for one lease could both
win (seen under load: two holders of one target's lease). DynamoDB never lets that happen; the stand-in must
not either. One lock around every write of the backend serialises them (a laptop's and the tests' load).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_LOCK = threading.RLock()


def _serialised(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    locked.__opsbot_serialised__ = True  # type: ignore[attr-defined]
    return locked


def apply() -> bool:
    """Serialise moto's DynamoDB writes; False if moto's layout differs (nothing is changed then)."""
    try:
        from moto.dynamodb.models import DynamoDBBackend
    except ImportError:
        return False
    if not all(callable(getattr(DynamoDBBackend, name, None)) for name in _WRITES):
        return False
    for name in _WRITES:
        method = getattr(DynamoDBBackend, name)
        if not getattr(method, "__opsbot_serialised__", False):
            setattr(DynamoDBBackend, name, _serialised(method))
    return True
