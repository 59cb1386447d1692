"""The one door every side effect goes through: `effect(intents, side)`, exactly once at the target.

The intent is written first (a conditional put). If it cannot be written, nothing is called and the error
goes up, so SQS delivers the job again. A retry that finds an intent already there (the worker failed or was
killed after writing it, maybe after the call, before the step's outcome was saved) asks the target whether
this job's effect is there (`reconcile`) and calls only if it is not. A call that certainly did not reach
the target (connection refused, an error answer) removes its intent, so that an effect the target cannot be
asked about (`reconcile` returns `UNKNOWABLE`) is retried only then.
"""

from __future__ import annotations

import logging
import urllib.error
from typing import Final, Protocol, TypeVar

from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError

from worker_function.store.intents import Intent, IntentStore

logger = logging.getLogger(__name__)

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Unknowable:
    """`reconcile`'s answer when the target cannot tell whether the effect was made (an EC2 reboot)."""


UNKNOWABLE: Final = Unknowable()


class SideEffect(Protocol[R_co]):
    """A side effect on a target: what it is, how to make it, how to find it made."""

    @property
    def intent(self) -> Intent: ...

    def call(self, intent: Intent) -> R_co: ...

    def reconcile(self, intent: Intent) -> R_co | Unknowable | None:
        """This job's effect as the target shows it; None when the target shows it was not made."""
        ...

    def assumed(self, intent: Intent) -> R_co:
        """The result to go on with when the target cannot tell (`UNKNOWABLE`) and the effect may be made."""
        ...


def effect(intents: IntentStore, side: SideEffect[R]) -> R:
    """Make the side effect once: intent first, reconcile on a retry, call only when the target lacks it."""
    try:
        earlier = intents.write(side.intent)
    except Exception:  # maybe written (a timeout after the put): nothing was called, so it must not stand
        _forget(intents, side.intent)
        raise
    if earlier is not None:
        found = side.reconcile(earlier)
        if isinstance(found, Unknowable):
            logger.warning("%s: an earlier attempt may have made it; not made again", earlier.key)
            return side.assumed(earlier)
        if found is not None:
            logger.info("%s: made by an earlier attempt, found at the target", earlier.key)
            return found
        logger.info("%s: an earlier attempt did not make it; making it now", earlier.key)
    intent = earlier or side.intent
    try:
        return side.call(intent)
    except Exception as exc:
        if not_sent(exc):
            _forget(intents, intent)
        raise


def not_sent(exc: BaseException) -> bool:
    """True when the exception says the request never reached the target, or was refused by it (4xx)."""
    if isinstance(exc, ClientError):
        return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)) < 500
    if isinstance(exc, urllib.error.URLError):
        return isinstance(exc.reason, ConnectionRefusedError)
    return isinstance(exc, (EndpointConnectionError, ConnectTimeoutError, ConnectionRefusedError))


def _forget(intents: IntentStore, intent: Intent) -> None:
    try:
        intents.forget(intent)
    except Exception:  # the retry finds the intent and reconciles; only an unknowable effect is then skipped
        logger.exception("could not remove the intent %s of a call that did not happen", intent.key)


__all__ = ["UNKNOWABLE", "Intent", "SideEffect", "Unknowable", "effect", "not_sent"]
