"""The side-effect door with recording fakes: intent first, reconcile on a retry, call only when missing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

from shared.commands import COMMANDS, CONTROL_PIPELINES, pipeline_for
from shared.commands.registry import job_kinds
from worker_function.effects import UNKNOWABLE, Unknowable, effect
from worker_function.store.intents import Intent

INTENT = Intent(job_id="0123456789abcdef", step=0, name="thing", before={"deployment": "d1"})


@dataclass
class RecordingIntents:
    """An IntentStore that keeps intents in a dict; `fail_write` makes the next write raise."""

    kept: dict[str, Intent] = field(default_factory=dict)
    forgotten: list[str] = field(default_factory=list)
    fail_write: Exception | None = None

    def write(self, intent: Intent) -> Intent | None:
        if self.fail_write is not None:
            raise self.fail_write
        if intent.key in self.kept:
            return self.kept[intent.key]
        self.kept[intent.key] = intent
        return None

    def forget(self, intent: Intent) -> None:
        self.forgotten.append(intent.key)
        self.kept.pop(intent.key, None)


@dataclass
class RecordingEffect:
    """A side effect that records its calls; `found` is what the target shows on a retry."""

    found: Any = None
    fail: Exception | None = None
    calls: list[Intent] = field(default_factory=list)
    intent: Intent = INTENT

    def call(self, intent: Intent) -> str:
        self.calls.append(intent)
        if self.fail is not None:
            raise self.fail
        return "made"

    def reconcile(self, intent: Intent) -> str | Unknowable | None:
        return self.found

    def assumed(self, intent: Intent) -> str:
        return "assumed"


def test_the_first_attempt_writes_its_intent_then_calls_once():
    intents, side = RecordingIntents(), RecordingEffect()

    assert effect(intents, side) == "made"
    assert list(intents.kept) == [INTENT.key] and side.calls == [INTENT]


def test_a_retry_that_finds_the_effect_at_the_target_does_not_call_again():
    intents, side = RecordingIntents(kept={INTENT.key: INTENT}), RecordingEffect(found="found")

    assert effect(intents, side) == "found"
    assert side.calls == []


def test_a_retry_whose_effect_is_not_at_the_target_calls_under_the_earlier_intent():
    earlier = INTENT.model_copy(update={"before": {"deployment": "d0"}})
    intents, side = RecordingIntents(kept={INTENT.key: earlier}), RecordingEffect(found=None)

    assert effect(intents, side) == "made"
    assert side.calls == [earlier]


def test_an_effect_the_target_cannot_show_is_not_made_twice():
    intents, side = RecordingIntents(kept={INTENT.key: INTENT}), RecordingEffect(found=UNKNOWABLE)

    assert effect(intents, side) == "assumed"
    assert side.calls == []


def test_an_intent_that_cannot_be_written_calls_nothing_and_goes_up():
    intents = RecordingIntents(fail_write=ReadTimeoutError(endpoint_url="dynamodb"))
    side = RecordingEffect()

    with pytest.raises(ReadTimeoutError):
        effect(intents, side)
    assert side.calls == [] and intents.forgotten == [INTENT.key]


@pytest.mark.parametrize(
    ("error", "forgotten"),
    [(EndpointConnectionError(endpoint_url="ecs"), True), (ReadTimeoutError(endpoint_url="ecs"), False)],
)
def test_only_a_call_that_certainly_did_not_leave_removes_its_intent(error, forgotten):
    intents, side = RecordingIntents(), RecordingEffect(fail=error)

    with pytest.raises(type(error)):
        effect(intents, side)
    assert (INTENT.key in intents.forgotten) is forgotten


def test_every_job_kind_declares_its_pipeline():
    kinds = set(job_kinds())
    assert kinds == {spec.kind for spec in COMMANDS} | set(CONTROL_PIPELINES) | {"dry_run"}
    assert all(pipeline_for(kind) is not None for kind in kinds)
    assert not pipeline_for("dry_run").lease and not pipeline_for("dry_run").confirmed
    assert pipeline_for("migrate").confirmed and pipeline_for("restart").lease
    assert not pipeline_for("settle").policy_checked and pipeline_for("audit_note").record_only
