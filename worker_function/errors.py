"""Worker errors. The batch handler decides from the class whether SQS should retry."""

from shared.errors import OpsbotError


class PermanentJobError(OpsbotError):
    """Retrying cannot help (unknown target, bad arguments, forbidden): tell the requester now."""


class SlackDeliveryError(OpsbotError):
    """No route to the requester worked (response_url, channel, direct message)."""
