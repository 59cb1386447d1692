"""Errors of the local stack and the CLI. The CLI turns them into a message on stderr and an exit code."""


class LocalStackError(Exception):
    """Base class of every error the local stack raises on purpose."""


class MotoStartError(LocalStackError):
    """The moto server did not start or did not answer in time."""


class AckProcessError(LocalStackError):
    """The ack's own process (ingress + ack function) did not start or did not answer in time."""


class StateFileError(LocalStackError):
    """The state file of a running `opsbot local` is missing or unreadable."""


class SeveralStacksError(StateFileError):
    """Several local stacks run and no --state says which: `paths` are their state files."""

    def __init__(self, message: str, paths: list[str]) -> None:
        super().__init__(message)
        self.paths = paths


class IngressUnreachableError(LocalStackError):
    """The ingress did not answer (nothing listening, or no answer before the timeout)."""


class CommandLineError(LocalStackError):
    """What the person typed is not something the CLI can send."""


class AwsEndpointError(LocalStackError):
    """The AWS endpoint given with --aws-endpoint does not answer."""
