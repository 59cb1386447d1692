"""/ops-rollback and /ops-scale through the real worker on moto (with the local stack's ECS deployments patch):
what the requester saw, and what ECS shows after. Each test has services of its own in this module's cluster, so
a rollback here changes no other test's service (task definition families are account-wide: `payment:1` and
`payment:2` are shared)."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from infra.devstack.aws import aws_client, provision_demo_ecs
from infra.devstack.demo import demo_inventory_toml


@pytest.fixture
def ecs(harness):
    return aws_client("ecs", harness.moto.endpoint_url)


#: The cluster of this module's tests, apart from the session's: its services are made anew for each test. One
#: name for all of them, so their inventory, and the template the worker's role comes from, is synthesized once.
OWN_CLUSTER = "cluster-verbs"


@pytest.fixture
def own_cluster(harness, ecs):
    """The demo services `payment` and `checkout` (on revision 2 of their families), new for this test, in this
    module's cluster: whatever an earlier test left there (services, another revision, a count) is deleted first."""
    ecs.create_cluster(clusterName=OWN_CLUSTER)
    if arns := ecs.list_services(cluster=OWN_CLUSTER)["serviceArns"]:
        for found in ecs.describe_services(cluster=OWN_CLUSTER, services=arns)["services"]:
            if found["status"] == "ACTIVE":
                ecs.delete_service(cluster=OWN_CLUSTER, service=found["serviceName"], force=True)
    provision_demo_ecs(ecs, cluster=OWN_CLUSTER)
    harness.inventory_toml = demo_inventory_toml(OWN_CLUSTER)
    return OWN_CLUSTER


def service(ecs, cluster, name="payment"):
    [found] = ecs.describe_services(cluster=cluster, services=[name])["services"]
    return found


def revision(ecs, cluster, name="payment"):
    return service(ecs, cluster, name)["taskDefinition"].rsplit("/", 1)[-1]


def finals(harness, job):
    found = [m for m in harness.slack.messages(job=job.job_id) if m.final]
    assert len(found) == 1, [m.text for m in harness.slack.messages(job=job.job_id)]
    return found[0]


def shown(message) -> str:
    return message.text + json.dumps(message.payload.get("blocks", []), ensure_ascii=False)


# -- /ops-rollback -------------------------------------------------------------------------------


def test_a_rollback_goes_to_the_previous_revision_and_is_followed_to_completed(harness, ecs, own_cluster):
    job = harness.job("/ops-rollback payment")
    worker = harness.dispatcher()

    steps = harness.run(job, worker)

    assert steps == 3  # choose the revision, UpdateService, then one look at the new deployment
    assert revision(ecs, own_cluster) == "payment:1"
    [deployment] = service(ecs, own_cluster)["deployments"]
    assert deployment["status"] == "PRIMARY" and deployment["taskDefinition"].endswith("payment:1")
    planned, started = harness.slack.messages(job=job.job_id)[:2]
    assert "Rollback of `payment` (cluster" in planned.text and "starting the deployment" in planned.text
    assert "Rollback of `payment` started" in started.text and deployment["id"] in started.text
    text = shown(finals(harness, job))
    assert "Rollback of `payment` completed" in text and "2/2 running" in text
    assert "`payment:2` → `payment:1`" in text
    assert "`public.ecr.aws/opsbot-demo/payment:1.1.0` → `public.ecr.aws/opsbot-demo/payment:1.0.0`" in text
    assert worker.leases.holder("payment") is None  # its lease was taken and is free again
    events = {r.event for r in worker.audit.history("payment", limit=50) if r.job_id == job.job_id}
    assert {"request", "confirmation", "start", "outcome"} <= events


@pytest.mark.parametrize("named", ["1", "arn"])
def test_a_rollback_to_a_named_revision_by_number_or_arn(harness, ecs, own_cluster, named):
    arn = ecs.describe_task_definition(taskDefinition="payment:1")["taskDefinition"]["taskDefinitionArn"]
    ecs.register_task_definition(  # payment:3 and on: the service goes to 3, then back to 1, skipping 2
        family="payment", containerDefinitions=[{"name": "payment", "image": "img:3", "memory": 512}]
    )
    latest = ecs.describe_task_definition(taskDefinition="payment")["taskDefinition"]
    ecs.update_service(cluster=own_cluster, service="payment", taskDefinition=latest["taskDefinitionArn"])
    job = harness.job(f"/ops-rollback payment {arn if named == 'arn' else '1'}")

    harness.run(job)

    assert revision(ecs, own_cluster) == "payment:1"
    text = shown(finals(harness, job))
    assert "completed" in text and f"`payment:{latest['revision']}` → `payment:1`" in text


def test_a_named_revision_of_another_family_is_refused_and_nothing_changes(harness, ecs, own_cluster):
    other = ecs.describe_task_definition(taskDefinition="checkout:1")["taskDefinition"]["taskDefinitionArn"]
    before = service(ecs, own_cluster)["deployments"]
    job = harness.job(f"/ops-rollback payment {other}")

    harness.run(job)

    text = finals(harness, job).text
    assert "is a revision of family `checkout`" in text and "runs family `payment`" in text
    assert "Nothing was run." in text and text.startswith(":warning:")
    assert service(ecs, own_cluster)["deployments"] == before


@pytest.mark.parametrize("where", ["account", "region"])
def test_a_named_arn_of_another_account_or_region_is_refused_and_nothing_changes(harness, ecs, own_cluster, where):
    """The same family and revision in another account (or region) is not the service's: ECS would read only
    `payment:1` of it and deploy the worker account's revision. Refused, naming both places."""
    own = ecs.describe_task_definition(taskDefinition="payment:1")["taskDefinition"]["taskDefinitionArn"]
    _, partition, service_, region, account, rest = own.split(":", 5)
    other = f"arn:{partition}:{service_}:{region}:210987654321:{rest}"
    if where == "region":
        other = f"arn:{partition}:{service_}:{'ap-south-1' if region != 'ap-south-1' else 'eu-west-3'}:{account}:{rest}"
    before = service(ecs, own_cluster)["deployments"]
    job = harness.job(f"/ops-rollback payment {other}")

    harness.run(job)

    text = finals(harness, job).text
    assert "a rollback stays within the service's own account, region and family" in text, text
    assert f"account `{account}`, region `{region}`" in text
    assert "Nothing was run." in text and text.startswith(":warning:")
    assert service(ecs, own_cluster)["deployments"] == before
    assert revision(ecs, own_cluster) == "payment:2"


def test_a_service_on_its_first_revision_has_no_previous_one_and_nothing_changes(harness, ecs, own_cluster):
    ecs.update_service(cluster=own_cluster, service="payment", taskDefinition="payment:1")
    before = service(ecs, own_cluster)["deployments"]
    job = harness.job("/ops-rollback payment")

    steps = harness.run(job)

    assert steps == 1
    text = finals(harness, job).text
    assert "it runs `payment:1`, the first revision of its family: there is no previous revision" in text
    assert "Nothing was run." in text
    assert service(ecs, own_cluster)["deployments"] == before


def test_a_previous_revision_that_is_deregistered_is_named_inactive_and_nothing_changes(harness, ecs, own_cluster):
    family = f"legacy-{uuid.uuid4().hex[:8]}"
    for image in ("legacy:1", "legacy:2"):
        ecs.register_task_definition(
            family=family, containerDefinitions=[{"name": "app", "image": image, "memory": 512}]
        )
    ecs.deregister_task_definition(taskDefinition=f"{family}:1")
    with pytest.raises(ClientError):  # as ECS: an INACTIVE revision no service uses cannot be described
        ecs.describe_task_definition(taskDefinition=f"{family}:1")
    ecs.create_service(cluster=own_cluster, serviceName="legacy", taskDefinition=f"{family}:2", desiredCount=2)
    harness.inventory_toml += f'\n[targets.legacy]\necs = {{ cluster = "{own_cluster}", service = "legacy" }}\n'
    before = service(ecs, own_cluster, "legacy")["deployments"]
    job = harness.job("/ops-rollback legacy")

    harness.run(job)

    text = finals(harness, job).text
    assert f"the previous revision `{family}:1` is deregistered (INACTIVE)" in text
    assert f"it runs `{family}:2`" in text and "Nothing was run." in text
    assert service(ecs, own_cluster, "legacy")["deployments"] == before


def test_a_named_revision_that_does_not_exist_is_told_and_nothing_changes(harness, ecs, own_cluster):
    job = harness.job("/ops-rollback payment 999")

    harness.run(job)

    assert "revision `payment:999` does not exist in ECS (it runs `payment:2`)" in finals(harness, job).text
    assert revision(ecs, own_cluster) == "payment:2"


def test_a_rollback_of_a_target_that_is_not_an_ecs_service_names_the_ones_that_are(harness, own_cluster):
    job = harness.job("/ops-rollback bastion")

    harness.run(job)

    assert "I don't know target `bastion`" in finals(harness, job).text


# -- /ops-scale ----------------------------------------------------------------------------------


def test_a_scale_within_the_bounds_sets_the_desired_count_and_follows_it_until_running(harness, ecs, own_cluster):
    job = harness.job("/ops-scale payment 3")
    worker = harness.dispatcher()

    steps = harness.run(job, worker)

    assert steps == 2
    found = service(ecs, own_cluster)
    assert (found["desiredCount"], found["runningCount"]) == (3, 3)
    first = harness.slack.messages(job=job.job_id)[0]
    assert "Scale of `payment` started" in first.text and "desired count 2 → 3" in first.text
    text = finals(harness, job).text
    assert "Scale of `payment` completed" in text and "2 → 3 tasks, 3/3 running, 0 pending" in text
    assert worker.leases.holder("payment") is None
    events = {r.event for r in worker.audit.history("payment", limit=50) if r.job_id == job.job_id}
    assert {"request", "confirmation", "start", "outcome"} <= events


def test_a_scale_to_the_count_it_has_still_goes_through_and_completes(harness, ecs, own_cluster):
    job = harness.job("/ops-scale payment 2")

    harness.run(job)

    assert "2 → 2 tasks, 2/2 running" in finals(harness, job).text
    assert service(ecs, own_cluster)["desiredCount"] == 2


@pytest.mark.parametrize(
    ("line", "told"),
    [
        ("/ops-scale payment 7", "`payment` scales between 1 and 6 tasks (the inventory's bounds): 7 is outside them."),
        ("/ops-scale payment 0", "`payment` scales between 1 and 6 tasks (the inventory's bounds): 0 is outside them."),
        ("/ops-scale checkout 11", "`checkout` scales between 1 and 10 tasks (opsbot's default bounds"),
    ],
)
def test_a_count_outside_the_bounds_is_refused_by_the_worker_too_and_nothing_changes(
    harness, ecs, own_cluster, line, told
):
    """The ack refuses these when it has the inventory; a worker reached without that check refuses them too."""
    job = harness.job(line)
    name = line.split()[1]

    harness.run(job)

    text = finals(harness, job).text
    assert told in text and "Nothing was run." in text
    assert service(ecs, own_cluster, name)["desiredCount"] == 2


def test_a_scale_whose_count_is_changed_by_someone_else_meanwhile_says_so(harness, ecs, own_cluster):
    job = harness.job("/ops-scale payment 3")
    worker = harness.dispatcher()
    worker.handle_record(job.to_message(), 1)  # step 0: the count is set; the job waits
    [step] = harness.queued()
    ecs.update_service(cluster=own_cluster, service="payment", desiredCount=5)

    worker.handle_record(step["Body"], 1)
    harness.delete(step)

    assert "the desired count is now 5, not 3: something else changed it" in finals(harness, job).text
