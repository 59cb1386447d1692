"""Errors shared by both functions. Only the edges (listeners, batch handler) turn them into text."""


class OpsbotError(Exception):
    """Base class of every error opsbot raises on purpose."""


class SettingsError(OpsbotError):
    """The environment does not hold valid settings for this function."""


class UsageError(OpsbotError):
    """The command text does not parse into the command's arguments."""


class EnqueueError(OpsbotError):
    """The job could not be put on the queue (refused, failed or past its deadline)."""

    def __init__(self, message: str, *, maybe_queued: bool = False) -> None:
        super().__init__(message)
        #: The request reached the queue but no answer came back in time: it may have been queued.
        self.maybe_queued = maybe_queued


class JobFormatError(OpsbotError):
    """A queue message is not a job envelope this version understands."""


class ConfirmationError(OpsbotError):
    """A confirmation click that cannot be honoured: altered, malformed, expired or from someone else."""


class AlarmFormatError(OpsbotError):
    """A queue message is not a CloudWatch alarm state change (not JSON, or a shape opsbot does not know)."""
