"""Commands: one module per command (its args model and `CommandSpec`) in `shared/commands/builtin/` or a
plugin's package, the kernel they are made of (`spec`, `words`), the worker's own messages (`control`) and the
registry of them all (`registry`).

Adding a command: a module in `shared/commands/builtin/` with its args model and `SPEC`, and its operation in
`worker_function/operations/<kind>.py`. Help text, usage and the manifest are generated from the specs.
"""

from typing import TYPE_CHECKING, Any

from shared.commands.control import (
    CONTROL_PIPELINES,
    ApprovalRequestArgs,
    AuditNoteArgs,
    ControlArgs,
    HomeArgs,
    NoticeArgs,
    SettleArgs,
)
from shared.commands.spec import DRY_RUN_PIPELINE, Accepts, Args, CommandSpec, Pipeline, TargetArgs
from shared.commands.words import DRY_RUN_FLAG, flag_word, flag_words, plain_problem, quoted

if TYPE_CHECKING:
    from shared.commands.registry import (
        COMMANDS,
        CommandArgs,
        CommandLoadError,
        DryRunArgs,
        JobArgs,
        all_commands,
        command_names,
        find_command,
        pipeline_for,
        spec_for_kind,
    )

#: The registry's names, loaded when first asked for: a plugin's spec module imports the kernel above
#: (`shared.commands.spec`) without building the registry, which imports that same spec module. `COMMANDS`
#: loads every command (`all_commands()`): code on the ack's path asks for one (`find_command`) instead.
_REGISTRY = frozenset(
    {
        "COMMANDS",
        "CommandArgs",
        "CommandLoadError",
        "DryRunArgs",
        "JobArgs",
        "all_commands",
        "command_names",
        "find_command",
        "pipeline_for",
        "spec_for_kind",
    }
)


def __getattr__(name: str) -> Any:
    if name in _REGISTRY:
        from shared.commands import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "COMMANDS",
    "CONTROL_PIPELINES",
    "DRY_RUN_FLAG",
    "DRY_RUN_PIPELINE",
    "Accepts",
    "ApprovalRequestArgs",
    "Args",
    "AuditNoteArgs",
    "CommandArgs",
    "CommandLoadError",
    "CommandSpec",
    "ControlArgs",
    "DryRunArgs",
    "HomeArgs",
    "JobArgs",
    "NoticeArgs",
    "Pipeline",
    "SettleArgs",
    "TargetArgs",
    "all_commands",
    "command_names",
    "find_command",
    "flag_word",
    "flag_words",
    "pipeline_for",
    "plain_problem",
    "quoted",
    "spec_for_kind",
]
