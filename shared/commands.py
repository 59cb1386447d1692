"""Command specs: one args model and one spec per command. The worker has one operation module per kind.

Adding a command: an args model and a `CommandSpec` here (and the model in `JobArgs`), plus
`worker_function/operations/<kind>.py`. Help text and usage are generated from the specs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import UsageError

# ECS service names: letters, numbers, hyphens and underscores, up to 255 characters.
TargetName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")]


class _Args(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PingArgs(_Args):
    kind: Literal["ping"] = "ping"
    #: Simulated work in seconds: shows that a slow job never delays the ack.
    work_seconds: float = Field(default=0.0, ge=0, le=60)


class DeployStatusArgs(_Args):
    kind: Literal["deploy_status"] = "deploy_status"
    service: TargetName


class RestartArgs(_Args):
    kind: Literal["restart"] = "restart"
    service: TargetName


class NoticeArgs(_Args):
    """Not a command: a message for the requester queued by the ack, which never calls Slack's Web API
    itself (an Events API mention that does not parse is answered this way)."""

    kind: Literal["notice"] = "notice"
    text: str = Field(max_length=3000)


JobArgs = Annotated[PingArgs | DeployStatusArgs | RestartArgs | NoticeArgs, Field(discriminator="kind")]


@dataclass(frozen=True)
class CommandSpec:
    """A slash command: how its text parses into its args model, and how to explain it."""

    name: str
    args_model: type[_Args]
    description: str
    #: Positional words of the text, in order, mapped to the args model's fields.
    positional: tuple[str, ...] = ()
    #: How many trailing positional words may be left out (their fields have defaults).
    optional: int = 0
    usage_hint: str = ""
    #: The args field naming what a mutating command changes: one mutating job per target at a time.
    target: str | None = None

    @property
    def mutating(self) -> bool:
        return self.target is not None

    def target_of(self, args: _Args) -> str | None:
        return None if self.target is None else str(getattr(args, self.target))

    @property
    def kind(self) -> str:
        return str(self.args_model.model_fields["kind"].default)

    @property
    def usage(self) -> str:
        return f"{self.name} {self.usage_hint}".strip()

    def parse(self, text: str) -> _Args:
        """Parse the slash command's text into its args model, or raise `UsageError`."""
        words = text.split()
        required = len(self.positional) - self.optional
        if not required <= len(words) <= len(self.positional):
            expected = (
                "no arguments"
                if not self.positional
                else f"{required}"
                + (f" to {len(self.positional)}" if self.optional else "")
                + f" argument{'s' if len(self.positional) != 1 else ''}"
            )
            raise UsageError(f"{self.name} takes {expected}, got {len(words)}.")
        try:
            return self.args_model.model_validate(dict(zip(self.positional, words, strict=False)))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = "/".join(str(p) for p in err["loc"])
            raise UsageError(f"{field} {err['input']!r} is not valid: {err['msg']}.") from None


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        name="/ops-ping",
        args_model=PingArgs,
        description="Check that opsbot is alive end to end; optionally simulate N seconds of work.",
        positional=("work_seconds",),
        optional=1,
        usage_hint="[seconds]",
    ),
    CommandSpec(
        name="/deploy-status",
        args_model=DeployStatusArgs,
        description="Show a service's ECS deployments: rollout state, running/desired tasks, task definition.",
        positional=("service",),
        usage_hint="<service>",
    ),
    CommandSpec(
        name="/ops-restart",
        args_model=RestartArgs,
        description="Restart a service: ECS force new deployment (one mutating job per service at a time).",
        positional=("service",),
        usage_hint="<service>",
        target="service",
    ),
)

_BY_NAME = {spec.name: spec for spec in COMMANDS}
_BY_KIND = {spec.kind: spec for spec in COMMANDS}


def find_command(name: str) -> CommandSpec | None:
    return _BY_NAME.get(name.strip().lower())


def spec_for_kind(kind: str) -> CommandSpec | None:
    return _BY_KIND.get(kind)
