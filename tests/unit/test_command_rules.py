"""Each rule a command is checked against when loaded: a spec or an operation that breaks it is refused with an
error naming the command and the rule (at the ack's and the worker's start, and at synth)."""

from __future__ import annotations

from typing import Literal

import pytest

from shared.commands import COMMANDS, CommandLoadError, CommandSpec
from shared.commands.registry import check_registry, check_spec, load_specs
from shared.commands.spec import Args, TargetArgs
from tests.unit import command_rule_cases as cases
from worker_function.operations.registry import (
    SOURCE_RULES,
    OperationLoadError,
    check_all,
    check_operation,
    load_operation,
)


class PingLikeArgs(Args):
    kind: Literal["pinglike"] = "pinglike"


class NoKindArgs(Args):
    pass


class NoticeKindArgs(Args):
    kind: Literal["notice"] = "notice"


def spec(**changes) -> CommandSpec:
    values = {"name": "/ops-pinglike", "args_model": PingLikeArgs, "description": "Ping."} | changes
    return CommandSpec(**values)


# -- the spec's rules (the ack's start: shared/commands/registry.py) ---------------------------------


@pytest.mark.parametrize(
    ("bad", "rule"),
    [
        (spec(name="ops-pinglike"), "/ops-pinglike|ops-pinglike: a command's name is a slash"),
        (spec(name="/Ops-Ping"), "a command's name is a slash and up to 31 lower-case"),
        (spec(args_model=NoKindArgs), "needs `kind: Literal"),
        (spec(args_model=NoticeKindArgs), "its kind 'notice' is reserved"),
        (spec(target="service_name"), "its target 'service_name' is not a field of PingLikeArgs"),
        (spec(positional=("count",)), r"its positional words \['count'\] are not fields"),
        (spec(positional=("kind",), optional=2), "optional must count trailing positional words"),
        (CommandSpec(name="/ops-t", args_model=TargetArgs, description="T."), "needs `kind: Literal"),
        (spec(subject="kind"), "a command with a subject says what the subject must be"),
        (spec(max_age_s=0), "max_age_s must be positive"),
    ],
)
def test_a_spec_breaking_a_rule_is_refused_naming_the_command_and_the_rule(bad, rule):
    with pytest.raises(CommandLoadError, match=rule):
        check_spec(bad)


def test_a_name_or_a_kind_taken_twice_is_refused_naming_both():
    with pytest.raises(CommandLoadError, match="/ops-ping: the name is taken twice"):
        check_registry([*COMMANDS, spec(name="/ops-ping")])
    with pytest.raises(CommandLoadError, match="/ops-other: its kind 'pinglike' is also /ops-pinglike's"):
        check_registry([spec(), spec(name="/ops-other")])


def test_a_command_module_that_does_not_import_or_defines_no_spec_is_named():
    with pytest.raises(CommandLoadError, match=r"acme_nowhere\.commands: does not import"):
        load_specs(["acme_nowhere.commands"])
    with pytest.raises(CommandLoadError, match=r"shared\.commands\.words: defines no SPEC"):
        load_specs(["shared.commands.words"])


def test_the_built_in_specs_are_sorted_as_help_lists_them():
    assert COMMANDS[0].name == "/ops-ping" and COMMANDS[-1].name == "/ops-help"


# -- the operation's rules (the worker's start, the synth: worker_function/operations/registry.py) ---


def test_every_built_in_command_has_an_operation_keeping_every_rule_its_source_included():
    commands = check_all()  # raises OperationLoadError naming the first command breaking a rule
    assert {c.kind for c in commands} >= {s.kind for s in COMMANDS}


def test_an_operation_module_without_its_command_is_refused(monkeypatch):
    from worker_function.operations import registry

    kinds = registry.all_kinds()
    monkeypatch.setattr(registry, "all_kinds", lambda: [k for k in kinds if k != "scale"])
    with pytest.raises(OperationLoadError, match=r"^worker_function\.operations\.scale: an operation module no"):
        check_all()


def test_a_spec_without_an_operation_is_refused():
    with pytest.raises(OperationLoadError, match=r"/ops-flush \(flush\): has no operation \(no module acme.ops\)"):
        load_operation("flush", cases.FLUSH, "acme.ops:OPERATION")
    with pytest.raises(OperationLoadError, match=r"/ops-flush \(flush\): has no operation \(.*:FLUSHER is not"):
        load_operation("flush", cases.FLUSH, f"{cases.__name__}:FLUSHER")


@pytest.mark.parametrize(
    ("op", "rule"),
    [
        (cases.NoRun(), "its operation needs run"),
        (cases.BadPermissions(), "its permissions must be Grant"),
        (cases.NoPreview(), "a mutating command needs preview"),
        (cases.ResumeWithoutState(), "resume.* needs the state model"),
        (cases.StateWithoutResume(), r"a state model \(state\) needs resume"),
        (cases.StopWithoutResume(), "stop.* needs resume and state"),
        (cases.EffectWithoutReconcile(), "its side effect NoReconcile has no reconcile"),
    ],
)
def test_an_operation_breaking_a_rule_is_refused_naming_the_command_and_the_rule(op, rule):
    with pytest.raises(OperationLoadError, match=rf"^/ops-flush \(flush\): .*{rule}"):
        check_operation("flush", cases.FLUSH, op)


@pytest.mark.parametrize(
    ("op", "rule"),
    [
        (
            cases.UndeclaredCall(),
            r"it calls ecs:UpdateService \(command_rule_cases.py:\d+\) but its permissions do not",
        ),
        (
            cases.DeclaredTooMuch(),
            r"its permissions declare ecs:DeleteService, which it never calls \(least privilege\)",
        ),
        (cases.WriteOutsideEffect(), r"ecs:UpdateService \(command_rule_cases.py:\d+\) changes its target outside a"),
        (cases.PreviewWrites(), r"preview calls ecs:UpdateService .*: a dry run only reads"),
        (
            cases.OnceOutsideEffect(),
            r"command_rule_cases.py:\d+ uses the single-attempt client outside a declared effect",
        ),
    ],
)
def test_an_operation_whose_source_breaks_a_rule_is_refused(op, rule):
    check_operation("flush", cases.FLUSH, op)  # the rules that need no source keep
    with pytest.raises(OperationLoadError, match=rf"^/ops-flush \(flush\): {rule}"):
        check_operation("flush", cases.FLUSH, op, SOURCE_RULES)


def test_an_operation_keeping_every_rule_is_paired_with_its_spec():
    good = cases.Good()
    assert check_operation("flush", cases.FLUSH, good, SOURCE_RULES) is good
