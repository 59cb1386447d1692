"""The alarm feed in the template: a topic only CloudWatch of this account publishes to, subscribed to the jobs
queue with the SNS envelope kept, the queue open to that topic alone; inventory alarms the stack does not define
are a synth warning, not an error."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("aws_cdk")

from aws_cdk.assertions import Annotations, Match

from tests.infra.conftest import EXAMPLE_INVENTORY, JENKINS_URL, synthesize


@pytest.fixture(scope="module")
def with_alarms(tmp_path_factory):
    inventory = tmp_path_factory.mktemp("inv") / "inventory.toml"
    inventory.write_text(
        Path(EXAMPLE_INVENTORY).read_text()
        + '\n[alarms.payment-5xx]\ntarget = "payment"\nchannel = "C0ALERTS"\nrunbook = ["/ops-status payment"]\n'
    )
    return synthesize(inventory=str(inventory), jenkinsUrl=JENKINS_URL)


def test_the_topic_is_subscribed_to_the_jobs_queue_with_the_envelope_kept(synth):
    topic = synth.logical_id(synth.stack.alarm_feed.topic)
    queue = synth.logical_id(synth.stack.jobs.queue)
    _, subscription = synth.only("AWS::SNS::Subscription")
    props = subscription["Properties"]
    assert props["Protocol"] == "sqs"
    assert props["TopicArn"] == {"Ref": topic}
    assert props["Endpoint"] == {"Fn::GetAtt": [queue, "Arn"]}
    assert props.get("RawMessageDelivery") in (None, False)  # the worker reads the alarm from the envelope


def test_only_that_topic_may_send_to_the_queue(synth):
    topic = synth.logical_id(synth.stack.alarm_feed.topic)
    queue = synth.logical_id(synth.stack.jobs.queue)
    policies = [
        p for p in synth.resources("AWS::SQS::QueuePolicy").values() if {"Ref": queue} in p["Properties"]["Queues"]
    ]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    from_sns = [s for s in statements if s.get("Principal") == {"Service": "sns.amazonaws.com"}]
    assert len(from_sns) == 1
    assert from_sns[0]["Action"] == "sqs:SendMessage" and from_sns[0]["Effect"] == "Allow"
    assert from_sns[0]["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Ref": topic}}}


def test_only_cloudwatch_of_this_account_may_publish(synth):
    topic = synth.logical_id(synth.stack.alarm_feed.topic)
    synth.template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [{"Ref": topic}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "sns:Publish",
                                "Effect": "Allow",
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_an_inventory_alarm_the_stack_does_not_define_is_a_warning(with_alarms, other):
    warnings = Annotations.from_stack(with_alarms.stack).find_warning("*", Match.string_like_regexp("payment-5xx"))
    assert len(warnings) == 1 and "synth cannot see the account" in str(warnings[0].entry.data)
    assert "payment-api-5xx" in str(warnings[0].entry.data)  # the example inventory's own alarm too
    assert Annotations.from_stack(with_alarms.stack).find_error("*", Match.any_value()) == []
    # Without [alarms] in the inventory, no such warning
    assert Annotations.from_stack(other.stack).find_warning("*", Match.string_like_regexp("alarms this stack")) == []
