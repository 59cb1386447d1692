"""The kernel of a command: its args model's base, its `CommandSpec` and the executor's `Pipeline` around it.

A command is one module in `shared/commands/builtin/` (or a plugin's package) holding its args model and its
spec, and one operation on the worker's side (`worker_function/operations/`). The ack loads specs only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from shared.commands.words import DRY_RUN_FLAG, flag_words, plain_problem
from shared.errors import UsageError

if TYPE_CHECKING:
    from shared.inventory import Inventory  # the inventory reads the specs: never imported by them

# Target names (inventory keys, ECS service names): letters, numbers, hyphens and underscores, up to 255.
TargetName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")]
#: Why a target is locked or an environment frozen: shown to whoever is refused, so kept to one readable line.
Reason = Annotated[str, Field(min_length=1, max_length=300)]


class Args(BaseModel):
    """A job's args: every command's model (and the worker's own messages') subclasses it, with `kind` a
    `Literal` naming the job kind (what the envelope's `args` are validated by: `shared.commands.registry`).

    `defer_build`: a model's validator is built when it first validates, so a cold start pays only for the kinds
    its requests use (`registry.prime()` builds them all before a SnapStart snapshot)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    if TYPE_CHECKING:  # each model declares it as a Literal (declared here, it would change the fields' order)
        kind: str


class TargetArgs(Args):
    """Args naming an inventory target (`target`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)

    #: An inventory target. v1 envelopes called it `service`; both names are read.
    target: TargetName = Field(validation_alias=AliasChoices("target", "service"))


@dataclass(frozen=True)
class Pipeline:
    """What the worker does around a job's steps, as data: the executor reads this, never the kind's name."""

    #: Only recorded in the audit trail (the ack's denial notes): no step runs, nobody is answered.
    record_only: bool = False
    #: The worker's own message: it replaces the prompt it answers at any step, and has no request/outcome.
    control: bool = False
    #: Request, confirmation, start and outcome go in the audit trail.
    audited: bool = True
    #: Before the first step: the prompt's decision claimed, the policy checked again (user groups resolved).
    policy_checked: bool = True
    #: A rule's approval by a second person is claimed before the first step when the policy asks for one.
    approval: bool = True
    #: Runs only once its confirmation prompt's decision was claimed (`CommandSpec.confirm`).
    confirmed: bool = False
    #: Takes its target's lease (one mutating job per target; `CommandSpec.target`).
    lease: bool = False
    #: Its step only reads (`CommandSpec.reads_only`): run and reply share one idempotency record.
    reads_only: bool = False
    #: Publishes its duration and outcome as metrics.
    measured: bool = True
    #: Kept in the registry of jobs while it runs or waits (/ops-jobs, /ops-cancel; worker_function/store/jobs.py).
    tracked: bool = False


#: A dry run: no prompt, no policy gate, no approval, no lease, no request/outcome audit (it records its own
#: `dry_run` event, with the policy's verdict), no metrics beside the command's own.
DRY_RUN_PIPELINE = Pipeline(audited=False, policy_checked=False, approval=False, measured=False)

#: What a command's target must be in the inventory (the worker checks; the ack does not load it).
#: ("target": any target; "environment": an environment some target, suite or Jenkins job of the inventory is in.)
Accepts = Literal[
    "ecs", "restartable", "status", "logs", "migration", "suite", "jenkins_job", "runbook", "target", "environment"
]

#: A long job is stopped past this age unless its spec says otherwise.
DEFAULT_MAX_AGE_S = 15 * 60
HOUR = 3600


@dataclass(frozen=True)
class CommandSpec:
    """A slash command: how its text parses into its args model, and how to explain it."""

    name: str
    args_model: type[Args]
    description: str
    #: Positional words of the text, in order, mapped to the args model's fields.
    positional: tuple[str, ...] = ()
    #: How many trailing positional words may be left out (their fields have defaults).
    optional: int = 0
    usage_hint: str = ""
    #: The args field naming what a mutating command changes: one mutating job per target at a time.
    target: str | None = None
    #: Words to field values, for texts that are more than positional words (flags, key=value).
    parse_words: Callable[[list[str]], dict[str, Any]] | None = None
    #: The args field naming an inventory entry, and what that entry must have (for help and errors).
    subject: str | None = None
    accepts: Accepts | None = None
    #: A job still running after this long is stopped and reported (its steps are continuations).
    max_age_s: int = DEFAULT_MAX_AGE_S
    #: Ask the requester to confirm (an ephemeral prompt with Confirm / Cancel) before queueing.
    confirm: bool = False
    #: Kept in the registry of jobs while it runs or waits (what /ops-jobs shows and /ops-cancel stops); None:
    #: the mutating commands are, the others (answered in one short step, nothing to cancel) are not.
    tracked: bool | None = None
    #: The policy's rules decide who may run it (False: anyone; the operation decides, as /ops-cancel does).
    guarded: bool = True
    #: Typed without its subject, answer with a picker of names (not for a command that also needs a reason).
    picker: bool = True
    #: Its operation changes nothing anywhere, its message aside: a retry may run it again (a read).
    reads_only: bool = False
    #: The args field naming what a read is about (any inventory name, or an environment) when the command has
    #: no `subject`: the policy decides it in that name's environment (`/ops-audit payment` is a prod read).
    reads_about: str | None = None
    #: How a reply names this command's own args fields (`shared.commands.words.FIELD_WORDS` has the common
    #: ones), what their values must look like, and a field's whole sentence for a value its validator refuses.
    field_words: Mapping[str, str] = field(default_factory=dict)
    pattern_words: Mapping[str, str] = field(default_factory=dict)
    invalid_words: Mapping[str, str] = field(default_factory=dict)
    #: Where `/ops-help` and the manifest list it (lower first; then by name).
    rank: int = 500
    #: What the ack checks beyond the args model, against the inventory when it has one (the worker checks again
    #: when it does not): `check(args, inventory)` -> a refusal in plain words, or None.
    check: Callable[[Any, Inventory | None], str | None] | None = None
    #: Where the worker finds its operation, "module:attribute" (imported by the worker alone, never by the ack);
    #: None: the built-in `worker_function/operations/<kind>.py`'s `OPERATION`.
    operation: str | None = None
    #: The plugin that brought it (its entry point's name; set by the registry when it loads the plugin), "" for a
    #: built-in command. A plugin's operation is guarded: what it raises that cannot pass with time fails the job
    #: at once (`worker_function.operations.plugin_guard`).
    plugin: str = ""

    @property
    def mutating(self) -> bool:
        return self.target is not None

    @property
    def pipeline(self) -> Pipeline:
        """What the worker does around this command's steps."""
        return Pipeline(
            confirmed=self.confirm,
            lease=self.mutating,
            reads_only=self.reads_only and not self.mutating,
            tracked=self.mutating if self.tracked is None else self.tracked,
        )

    def split_dry_run(self, text: str) -> tuple[str, bool]:
        """The text without `--dry-run` (wherever it was typed) and whether it was there; `UsageError` for a
        command that changes nothing (it has nothing to preview)."""
        words = text.split()
        flags = flag_words(words)
        if DRY_RUN_FLAG not in flags:
            return text, False
        if not self.mutating:
            from shared.commands.registry import all_commands  # the registry is built from the specs

            mutating = ", ".join(spec.name for spec in all_commands() if spec.mutating)
            if self.reads_only:
                raise UsageError(
                    f"{self.name} changes nothing, so it has no {DRY_RUN_FLAG} (the commands that do: {mutating})."
                )
            raise UsageError(
                f"{self.name} has no {DRY_RUN_FLAG}: leave it out to run it for real (the commands with a "
                f"{DRY_RUN_FLAG}: {mutating})."
            )
        return " ".join(w for w, f in zip(words, flags, strict=True) if f != DRY_RUN_FLAG), True

    def target_of(self, args: Args) -> str | None:
        return None if self.target is None else str(getattr(args, self.target))

    @property
    def kind(self) -> str:
        return str(self.args_model.model_fields["kind"].default)

    @property
    def usage(self) -> str:
        return f"{self.name} {self.usage_hint}".strip()

    @property
    def summary(self) -> str:
        """The description as lists show it: with "Asks you to confirm first." for a command that does (the
        confirmation prompt itself shows the bare description)."""
        return f"{self.description} Asks you to confirm first." if self.confirm else self.description

    def parse(self, text: str) -> Args:
        """Parse the slash command's text into its args model, or raise `UsageError`."""
        words = text.split()
        if self.parse_words is not None:
            values = self.parse_words(words)
        else:
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
            values = dict(zip(self.positional, words, strict=False))
        try:
            return self.args_model.model_validate(values)
        except ValidationError as exc:
            raise UsageError(
                plain_problem(exc.errors()[0], self.field_words, self.pattern_words, self.invalid_words)
            ) from None
