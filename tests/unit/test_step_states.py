"""Continuation state is typed per operation: what a waiting step leaves is what the next step reads back."""

from __future__ import annotations

import pytest

from worker_function.errors import PermanentJobError, StaleStateError
from worker_function.operations import StepState, Wait
from worker_function.operations._codebuild import BuildState
from worker_function.operations.build import State as JenkinsState
from worker_function.operations.logs import State as LogsState
from worker_function.operations.registry import resume_state
from worker_function.operations.restart import InstancesState, ServiceState
from worker_function.outcomes import NothingToPost

WAITING = [
    ("migrate", BuildState(build_id="payment-migrate:1", link="https://x", summary="started")),
    ("regression", BuildState(build_id="smoke:7")),
    ("build", JenkinsState(job="deploy-web", queue_item=3, summary="queued")),
    ("build", JenkinsState(job="deploy-web", build=12, url="https://j/12")),
    ("logs", LogsState(query_id="q-1", summary="query running")),
    ("restart", ServiceState(cluster="c", service="payment", deployment="ecs-svc/1", summary="1 of 2 running")),
    ("restart", InstancesState(instances=["i-1", "i-2"], uncertain=True)),
    ("settle", StepState()),
]


@pytest.mark.parametrize(("kind", "state"), WAITING, ids=[f"{k}-{type(s).__name__}" for k, s in WAITING])
def test_the_state_a_step_leaves_comes_back_as_the_same_typed_state(kind, state):
    queued = Wait(progress=NothingToPost(), state=state).state.model_dump(mode="json")  # as the envelope has it

    back = resume_state(kind, 1, queued)

    assert back == state and type(back) is type(state)


def test_a_restart_state_comes_back_as_the_kind_of_target_it_follows():
    ec2 = resume_state("restart", 2, {"kind": "ec2", "instances": ["i-1"], "summary": "reboot requested"})
    ecs = resume_state("restart", 2, {"kind": "ecs", "cluster": "c", "service": "s", "deployment": "d"})

    assert isinstance(ec2, InstancesState) and ec2.instances == ["i-1"] and ec2.uncertain is False
    assert isinstance(ecs, ServiceState) and ecs.deployment == "d"


@pytest.mark.parametrize(
    ("kind", "raw", "named"),
    [
        ("migrate", {}, "build_id"),  # lost its build id
        ("migrate", {"build_id": "b:1", "buildId": "b:1"}, "buildId"),  # a key no step writes
        ("build", {"job": "deploy-web", "queue_item": "soon"}, "queue_item"),
        ("logs", {"query": "q-1"}, "query_id"),
        ("restart", {"kind": "lambda", "function": "f"}, "kind"),  # no such restart
        ("restart", {"kind": "ec2", "instances": []}, "instances"),
        ("restart", {"kind": "ecs", "cluster": "c", "service": "s"}, "deployment"),
    ],
)
def test_a_wrong_or_stale_state_is_a_permanent_error_that_says_what_is_wrong(kind, raw, named):
    with pytest.raises(StaleStateError) as caught:
        resume_state(kind, 3, raw)

    assert isinstance(caught.value, PermanentJobError)  # told to the requester, not retried
    assert f"step 3 of `{kind}` cannot resume" in str(caught.value) and named in str(caught.value)


@pytest.mark.parametrize("kind", ["ping", "status", "approval_request"])
def test_an_operation_that_never_waits_has_no_state_to_resume_from(kind):
    with pytest.raises(StaleStateError, match="has no steps to resume"):
        resume_state(kind, 1, {"summary": "x"})


def test_a_state_changes_only_through_its_validators():
    state = JenkinsState(job="deploy-web", queue_item=3)

    assert state.changed(build=4).build == 4 and state.build is None
    with pytest.raises(ValueError, match="build"):
        state.changed(build="four")
