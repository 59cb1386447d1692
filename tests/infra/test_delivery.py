"""Every notification path the template wires can deliver, read from the synthesized template generically:

- every SNS topic a CloudWatch alarm notifies lets CloudWatch publish (a TopicPolicy replaces SNS's default
  policy, so without an explicit Allow the alarm notifies nobody), and no Deny stops it;
- every topic -> queue subscription can deliver: the queue's policy lets that topic send, the queue's encryption
  is one SNS can use, and what the subscription delivers (enveloped or raw) is what the worker reads;
- every EventBridge rule targeting a queue can deliver: the queue's policy lets that rule send, and the events it
  matches are ones the worker reads.

The checks evaluate the statements as IAM would for the service's request (principal, action, resource and the
condition keys AWS sets: aws:SourceAccount, aws:SourceArn, aws:SecureTransport); a condition on any other key is
taken as unmet, so a policy the checks cannot read fails them.
"""

from __future__ import annotations

import copy
import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aws_cdk")

from shared.alarm_events import EVENTBRIDGE_DETAIL_TYPE, EVENTBRIDGE_SOURCE
from shared.alarms import parse_alarm
from tests.events import EVENTS_DIR
from tests.infra.conftest import EXAMPLE_INVENTORY, JENKINS_URL, synthesize

ACCOUNT = {"Ref": "AWS::AccountId"}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    """An ARN (pattern) as text with pseudo parameters and references kept as `<name>`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_text(p) for p in parts)
    return json.dumps(value, sort_keys=True)


def _condition_met(operator: str, key: str, expected: Any, context: dict[str, Any]) -> bool:
    if key not in context:
        return False
    actual = context[key]
    options = _listed(expected)
    if operator in ("StringEquals", "ArnEquals"):
        return any(_text(o) == _text(actual) for o in options)
    if operator in ("StringLike", "ArnLike"):
        return any(fnmatch.fnmatchcase(_text(actual), _text(o)) for o in options)
    if operator == "Bool":
        return any(str(o).lower() == str(actual).lower() for o in options)
    return False  # an operator these checks do not read: unmet


def _applies(statement: dict[str, Any], service: str, action: str, resource: Any, context: dict[str, Any]) -> bool:
    principal = statement.get("Principal")
    anyone = principal in ("*", {"AWS": "*"})
    if not anyone and (not isinstance(principal, dict) or service not in _listed(principal.get("Service", []))):
        return False
    if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _listed(statement.get("Action", []))):
        return False
    if not any(r == "*" or r == resource for r in _listed(statement.get("Resource", []))):
        return False
    return all(
        _condition_met(operator, key, expected, context)
        for operator, keys in statement.get("Condition", {}).items()
        for key, expected in keys.items()
    )


def allowed(documents: list[dict[str, Any]], service: str, action: str, resource: Any, context: dict[str, Any]) -> bool:
    """Whether `service` calling `action` on `resource` (in `context`) is allowed by these resource policies."""
    statements = [s for d in documents for s in _listed(d["Statement"])]
    if any(s["Effect"] == "Deny" and _applies(s, service, action, resource, context) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and _applies(s, service, action, resource, context) for s in statements)


def _policies(resources: dict[str, Any], kind: str, key: str, logical_id: str) -> list[dict[str, Any]]:
    return [
        r["Properties"]["PolicyDocument"]
        for r in resources.values()
        if r["Type"] == kind and {"Ref": logical_id} in r["Properties"][key]
    ]


def alarm_topics_that_refuse_cloudwatch(template: dict[str, Any]) -> list[str]:
    """`alarm -> topic` for every alarm action CloudWatch could not publish."""
    resources = template["Resources"]
    problems = []
    for alarm_id, alarm in resources.items():
        if alarm["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = alarm["Properties"]
        actions = props.get("AlarmActions", []) + props.get("OKActions", []) + props.get("InsufficientDataActions", [])
        for topic in {json.dumps(a) for a in actions}:
            ref = json.loads(topic)
            assert isinstance(ref, dict) and "Ref" in ref, f"{alarm_id} notifies {ref}: not a topic of this stack"
            context = {
                "aws:SourceAccount": ACCOUNT,
                "aws:SourceArn": {"Fn::GetAtt": [alarm_id, "Arn"]},
                "aws:SecureTransport": "true",
            }
            documents = _policies(resources, "AWS::SNS::TopicPolicy", "Topics", ref["Ref"])
            # No TopicPolicy at all: SNS's default policy lets the account's own services publish.
            if documents and not allowed(documents, "cloudwatch.amazonaws.com", "sns:Publish", ref, context):
                problems.append(f"{alarm_id} -> {ref['Ref']}")
    return problems


def _queue_problems(resources: dict[str, Any], queue_id: str, service: str, source: Any) -> list[str]:
    queue = resources[queue_id]["Properties"]
    problems = []
    key = queue.get("KmsMasterKeyId")
    if key == "alias/aws/sqs":
        problems.append(f"{queue_id} is encrypted with the AWS managed key, which {service} cannot use")
    context = {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": source, "aws:SecureTransport": "true"}
    documents = _policies(resources, "AWS::SQS::QueuePolicy", "Queues", queue_id)
    arn = {"Fn::GetAtt": [queue_id, "Arn"]}
    if not allowed(documents, service, "sqs:SendMessage", arn, context):
        problems.append(f"{queue_id}'s policy does not let {service} send for {_text(source)}")
    return problems


def undeliverable(template: dict[str, Any]) -> list[str]:
    """Every subscription and rule target that could not deliver to its queue, or whose delivery the worker
    could not read."""
    resources = template["Resources"]
    problems = []
    for sub_id, sub in resources.items():
        if sub["Type"] != "AWS::SNS::Subscription" or sub["Properties"]["Protocol"] != "sqs":
            continue
        props = sub["Properties"]
        queue_id = props["Endpoint"]["Fn::GetAtt"][0]
        problems += [
            f"{sub_id}: {p}" for p in _queue_problems(resources, queue_id, "sns.amazonaws.com", props["TopicArn"])
        ]
        # What SNS hands the queue, in the shape this subscription asks for, is what the worker reads
        sample = "alarm_sns_raw.json" if props.get("RawMessageDelivery") in (True, "true") else "alarm_sns.json"
        parse_alarm((EVENTS_DIR / sample).read_text())
    for rule_id, rule in resources.items():
        if rule["Type"] != "AWS::Events::Rule":
            continue
        pattern = rule["Properties"]["EventPattern"]
        for target in rule["Properties"].get("Targets", []):
            queue_id = target["Arn"]["Fn::GetAtt"][0]
            if resources[queue_id]["Type"] != "AWS::SQS::Queue":
                continue
            source = {"Fn::GetAtt": [rule_id, "Arn"]}
            problems += [
                f"{rule_id}: {p}" for p in _queue_problems(resources, queue_id, "events.amazonaws.com", source)
            ]
            if pattern.get("source") != [EVENTBRIDGE_SOURCE] or pattern.get("detail-type") != [EVENTBRIDGE_DETAIL_TYPE]:
                problems.append(f"{rule_id} sends events the worker does not read: {pattern}")
            if "InputTransformer" in target or "Input" in target or "InputPath" in target:
                problems.append(f"{rule_id} changes the event: the worker reads it whole")
    return problems


@pytest.fixture(scope="module")
def with_alarms(tmp_path_factory):
    inventory = tmp_path_factory.mktemp("inv") / "inventory.toml"
    inventory.write_text(
        Path(EXAMPLE_INVENTORY).read_text()
        + '\n[alarms."checkout-"]\nprefix = true\ntarget = "checkout"\nchannel = "C0ALERTS"\n'
    )
    return synthesize(inventory=str(inventory), jenkinsUrl=JENKINS_URL)


@pytest.mark.parametrize("deployment", ["synth", "other", "with_alarms"])
def test_every_topic_an_alarm_notifies_lets_cloudwatch_publish(deployment, request):
    template = request.getfixturevalue(deployment).json
    alarms = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert len(alarms) >= 4  # the Monitoring alarms at least: the check has something to check
    assert alarm_topics_that_refuse_cloudwatch(template) == []


@pytest.mark.parametrize("deployment", ["synth", "other", "with_alarms"])
def test_every_subscription_and_rule_can_deliver_to_its_queue(deployment, request):
    template = request.getfixturevalue(deployment).json
    assert [r for r in template["Resources"].values() if r["Type"] == "AWS::SNS::Subscription"]
    assert undeliverable(template) == []


def test_the_checks_fail_on_a_topic_policy_without_cloudwatch_and_a_queue_policy_without_the_rule(synth):
    """The defects these checks exist for, put back: a TopicPolicy with only its TLS Deny (so CloudWatch may not
    publish), and a queue policy without EventBridge's statement."""
    broken = copy.deepcopy(synth.json)
    for resource in broken["Resources"].values():
        document = resource.get("Properties", {}).get("PolicyDocument", {})
        if resource["Type"] == "AWS::SNS::TopicPolicy":
            document["Statement"] = [s for s in document["Statement"] if s["Effect"] == "Deny"]
        if resource["Type"] == "AWS::SQS::QueuePolicy":
            document["Statement"] = [
                s for s in document["Statement"] if s.get("Principal") != {"Service": "events.amazonaws.com"}
            ]
    monitoring = synth.logical_id(synth.stack.monitoring.topic)
    notifying = [
        r
        for r in synth.json["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and monitoring in json.dumps(r["Properties"].get("AlarmActions", []))
    ]
    refused = alarm_topics_that_refuse_cloudwatch(broken)
    assert len(notifying) >= 4  # the stack's own alarms (DLQ, worker errors, oldest job, ack p99, ...)
    assert len(refused) == len(notifying) and all(r.endswith(monitoring) for r in refused)
    [problem] = undeliverable(broken)
    assert "does not let events.amazonaws.com send" in problem


def test_an_inventory_alarm_of_this_account_may_publish_to_the_alarm_feed_and_another_accounts_may_not(synth):
    topic = synth.logical_id(synth.stack.alarm_feed.topic)
    documents = _policies(synth.json["Resources"], "AWS::SNS::TopicPolicy", "Topics", topic)

    def publish(account: Any, arn: str) -> bool:
        context = {"aws:SourceAccount": account, "aws:SourceArn": arn, "aws:SecureTransport": "true"}
        return allowed(documents, "cloudwatch.amazonaws.com", "sns:Publish", {"Ref": topic}, context)

    own = "arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:payment-api-5xx"
    assert publish(ACCOUNT, own)
    assert not publish("999999999999", own.replace("<AWS::AccountId>", "999999999999"))
    assert not publish(ACCOUNT, own.replace(":alarm:", ":dashboard:"))


def test_the_rule_matches_the_inventory_alarms_and_nothing_else(with_alarms):
    rules = with_alarms.resources("AWS::Events::Rule")
    [(_, rule)] = rules.items()
    assert rule["Properties"]["EventPattern"]["detail"] == {"alarmName": [{"prefix": "checkout-"}, "payment-api-5xx"]}


def test_without_alarm_routes_there_is_no_rule(other):
    assert other.resources("AWS::Events::Rule") == {}
    queue = other.logical_id(other.stack.jobs.queue)
    statements = [
        s for p in _policies(other.json["Resources"], "AWS::SQS::QueuePolicy", "Queues", queue) for s in p["Statement"]
    ]
    assert not [s for s in statements if s.get("Principal") == {"Service": "events.amazonaws.com"}]
