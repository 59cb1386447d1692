"""`opsbot alarm <name> ALARM|OK [--via sns|sns-raw|eventbridge]`: the alarm state change goes through the route's
topic or EventBridge rule on moto server, which delivers it to the local jobs queue in that route's shape (SNS
envelope, bare alarm JSON, EventBridge event), and it parses as the worker parses it; an alarm the inventory does
not route matches no EventBridge rule; a bad name or state is refused on stderr with nothing sent."""

from __future__ import annotations

import json

import pytest

from infra.cli.main import main
from infra.devstack.alarm_feed import provision_alarm_routes
from infra.devstack.aws import aws_client
from infra.devstack.demo import demo_inventory_toml
from infra.devstack.state import StackState, write_state
from shared.alarms import parse_alarm
from shared.inventory import Inventory


@pytest.fixture
def state_file(tmp_path, moto_server, queues):
    # The routes as the local stack provisions them, from the demo inventory's [alarms]
    routes = {k: r.prefix for k, r in Inventory.from_toml(demo_inventory_toml()).alarms.items()}
    provision_alarm_routes(
        aws_client("sns", moto_server.endpoint_url),
        aws_client("events", moto_server.endpoint_url),
        queue_arn=queues.queue_arn,
        routes=routes,
    )
    path = tmp_path / "local-1.json"
    write_state(
        path,
        StackState(
            ingress_url="http://127.0.0.1:1/slack/events",
            events_url="http://127.0.0.1:1/slack/events",
            slack_url="http://127.0.0.1:2",
            signing_secret="s",
            queue_url=queues.queue_url,
            dlq_url=queues.dlq_url,
            endpoint_url=moto_server.endpoint_url,
            region="us-east-1",
            pid=1,
        ),
    )
    return path


def _received(sqs, queues, expected: int = 2) -> list[str]:
    """What reached the queue: up to `expected` bodies, waiting a bounded time for them."""
    bodies: list[str] = []
    for _ in range(10):
        answer = sqs.receive_message(QueueUrl=queues.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in answer.get("Messages", []):
            bodies.append(message["Body"])
            # Taken, as the worker would: not received again once its visibility timeout ends
            sqs.delete_message(QueueUrl=queues.queue_url, ReceiptHandle=message["ReceiptHandle"])
        if len(bodies) >= expected:
            break
    return bodies


@pytest.mark.parametrize("via", ["sns", "sns-raw", "eventbridge"])
def test_every_route_delivers_the_alarm_in_its_own_shape(state_file, sqs, queues, capsys, via) -> None:
    assert main(["alarm", "payment-5xx", "ALARM", "--via", via, "--state", str(state_file)]) == 0
    [body] = _received(sqs, queues, expected=1)
    data = json.loads(body)
    # The shape the route gives it on AWS: SNS's envelope, the bare alarm JSON, or the EventBridge event
    shape = {"sns": data.get("Type"), "sns-raw": "AlarmName" in data, "eventbridge": data.get("detail-type")}[via]
    assert shape == {"sns": "Notification", "sns-raw": True, "eventbridge": "CloudWatch Alarm State Change"}[via]
    alarm = parse_alarm(body)
    assert (alarm.name, alarm.state) == ("payment-5xx", "ALARM")
    assert alarm.via == via
    assert "published through" in capsys.readouterr().out


def test_eventbridge_delivers_only_the_alarms_the_inventory_routes(state_file, sqs, queues) -> None:
    assert main(["alarm", "search-down", "ALARM", "--via", "eventbridge", "--state", str(state_file)]) == 0
    assert _received(sqs, queues, expected=1) == []  # no rule matches it, as on AWS


def test_the_demo_alarm_fires_and_clears(state_file, sqs, queues, capsys) -> None:
    assert main(["alarm", "payment-5xx", "ALARM", "--state", str(state_file)]) == 0
    assert main(["alarm", "payment-5xx", "OK", "--reason", "back to normal", "--state", str(state_file)]) == 0
    alarms = sorted((parse_alarm(b) for b in _received(sqs, queues)), key=lambda a: a.state)
    assert [(a.name, a.previous, a.state) for a in alarms] == [
        ("payment-5xx", "OK", "ALARM"),
        ("payment-5xx", "ALARM", "OK"),
    ]
    assert alarms[1].reason == "back to normal" and alarms[0].via == "sns"
    assert "to the jobs queue" in capsys.readouterr().out
    # And the demo inventory maps it to #incident with its runbook
    found = Inventory.from_toml(demo_inventory_toml()).alarm("payment-5xx")
    assert found is not None and found[1].channel == "C0INCIDENT" and len(found[1].runbook) == 3


@pytest.mark.parametrize("argv", [["alarm", "payment-5xx", "ON_FIRE"], ["alarm", "bad\x01name", "ALARM"]])
def test_a_bad_alarm_is_refused_and_nothing_is_sent(state_file, sqs, queues, capsys, argv) -> None:
    try:
        code = main([*argv, "--state", str(state_file)])
    except SystemExit as exited:  # argparse refuses a state that is not one of the choices
        code = int(exited.code or 0)
    assert code != 0
    assert capsys.readouterr().err
    assert _received(sqs, queues) == []


@pytest.fixture
def stack_state(state_file, tmp_path):
    """The state file of a stack that recorded its inventory (the demo one)."""
    from infra.devstack.state import read_state

    inventory = tmp_path / "inventory.toml"
    inventory.write_text(demo_inventory_toml())
    write_state(state_file, read_state(state_file).model_copy(update={"inventory": str(inventory)}))
    return state_file


def test_an_alarm_the_inventory_does_not_route_is_refused_with_the_known_ones(stack_state, sqs, queues, capsys):
    code = main(["alarm", "paymnt-5xx", "ALARM", "--state", str(stack_state)])

    captured = capsys.readouterr()
    assert code != 0
    assert "published" not in captured.out
    assert "no alarm 'paymnt-5xx' in the stack's inventory" in captured.err
    assert "closest first" in captured.err and captured.err.index("payment-5xx") > 0
    assert _received(sqs, queues) == []
    # The known one still goes
    assert main(["alarm", "payment-5xx", "ALARM", "--state", str(stack_state)]) == 0
    assert len(_received(sqs, queues)) == 1
