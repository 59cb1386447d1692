"""The local stack's fixes to moto's SQS (`infra.devstack.moto_sqs`) change no behaviour a client sees: the same
script of SQS calls, run against a moto server with the fixes and one without, gets the same answers
(visibility, delays, receive counts, redrive to the DLQ, deletes by old receipt handles, batch deletes,
the approximate counts), and a server started by `MotoServer` has them applied."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from infra.devstack.aws import MotoServer, aws_client, provision_queues

pytestmark = pytest.mark.integration

COUNTS = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[MotoServer, MotoServer]]:
    with MotoServer(sqs_fixes=True) as fixed, MotoServer(sqs_fixes=False) as plain:
        yield fixed, plain


def counts(sqs: Any, url: str) -> dict[str, str]:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=COUNTS)["Attributes"]


def bodies(response: dict[str, Any]) -> list[tuple[str, str]]:
    """(body, receive count) of each message received, in order."""
    return [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in response.get("Messages", [])]


def script(endpoint_url: str) -> list[Any]:
    """Everything a client observes of one run: answers that carry no random ids or timestamps."""
    sqs = aws_client("sqs", endpoint_url)
    queues = provision_queues(sqs, name="script-jobs", visibility_timeout=2, max_receive_count=2)
    url, dlq = queues.queue_url, queues.dlq_url
    seen: list[Any] = []

    def receive(n: int = 10, **kwargs: Any) -> dict[str, Any]:
        return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=n, AttributeNames=["All"], **kwargs)

    for i in range(30):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    sqs.send_message(QueueUrl=url, MessageBody="late", DelaySeconds=2)
    seen.append(("after send", counts(sqs, url)))

    first = receive(10)
    seen.append(("first receive", bodies(first)))
    seen.append(("in flight", counts(sqs, url)))
    done = first["Messages"][:5]
    deleted = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
        + [{"Id": "bogus", "ReceiptHandle": "not-a-receipt-handle"}],
    )
    seen.append(("batch delete", sorted(e["Id"] for e in deleted["Successful"]), [e["Id"] for e in deleted["Failed"]]))
    seen.append(("after delete", counts(sqs, url)))

    rest = [receive(10) for _ in range(3)]
    seen.append(("the rest", [bodies(r) for r in rest]))
    time.sleep(2.5)  # the first batch's undeleted five, and the delayed one, are visible again
    seen.append(("visible again", counts(sqs, url)))
    again = []
    while True:
        response = receive(10)
        if not response.get("Messages"):
            break
        again.append(response)
    seen.append(("second receives", sorted(b for r in again for b in bodies(r))))
    # A message received twice is deleted with the receipt handle of its first receive.
    old_handle = first["Messages"][5]["ReceiptHandle"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=old_handle)
    seen.append(("deleted by an old handle", counts(sqs, url)))

    time.sleep(2.5)  # maxReceiveCount 2: the next receive moves every message received twice to the DLQ
    seen.append(("third receive", bodies(receive(10))))
    moved = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, AttributeNames=["All"])
    seen.append(("DLQ", sorted(m["Body"] for m in moved.get("Messages", []))))
    seen.append(("at the end", counts(sqs, url), counts(sqs, dlq)))
    sqs.delete_queue(QueueUrl=url)
    sqs.delete_queue(QueueUrl=dlq)
    return seen


def test_the_fixed_moto_answers_an_sqs_script_exactly_as_moto_does(servers):
    fixed, plain = servers

    with_fixes, without = script(fixed.endpoint_url), script(plain.endpoint_url)

    assert with_fixes == without
    assert with_fixes[0] == ("after send", {COUNTS[0]: "30", COUNTS[1]: "0", COUNTS[2]: "1"})
    assert with_fixes[3][0] == "batch delete" and with_fixes[3][2] == ["bogus"]
    assert any(step[0] == "DLQ" and step[1] for step in with_fixes)  # the script really redrove messages


def test_the_fixes_apply_to_this_moto_and_only_once():
    probe = (
        "import json, moto.sqs.models as m; from infra.devstack.moto_sqs import apply; "
        "before = m.Queue.messages; first = apply(); after = m.Queue.messages; "
        "print(json.dumps([first, apply(), before is not after, m.Queue.messages is after]))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)

    assert json.loads(result.stdout) == [True, True, True, True]
