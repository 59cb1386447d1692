"""opsbot's ack with one choice of its after-restore hook undone, for "what each change buys" in the same run.

BENCH_ACK_VARIANT=new-session (default): the Secrets Manager client from a new boto3 Session at every restore, as
before the Session was made at init and kept (botocore then parses its service model and endpoint rules again).
BENCH_ACK_VARIANT=boto3-sqs: SendMessage by a boto3 SQS client from the ack's kept Session (`shared.queue.sqs_client`)
instead of `shared.aws_json`'s SigV4 over http.client (nothing opened ahead: a boto3 client connects on its first call).

For restores only (bench/deployed.py): the module's own AckFunction, built by the ack's init in the snapshot and
whose after-restore hook is registered, gets the variant's class, so everything but the one step is the ack's own.
"""

from __future__ import annotations

import os
from typing import Any

import ack_function.handler as ack
from shared.queue import SqsJobQueue, sqs_client
from shared.secrets import secrets_session


class NewSessionPerRestore(ack.AckFunction):
    """Before: no Session kept, so each connect() makes one, and its client resolves credentials at once."""

    def connect(self, *, snapshot: bool = False) -> None:
        self._session = None
        super().connect(snapshot=False)


class Boto3Sqs(ack.AckFunction):
    """SendMessage through botocore, from the Session the ack keeps for Secrets Manager."""

    def connect(self, *, snapshot: bool = False) -> None:
        super().connect(snapshot=snapshot)
        if self._sqs is not None:
            self._sqs.close()
            self._sqs = None  # warm() has nothing to open: botocore resolves credentials when it makes the client
        s = self.settings
        self._session = self._session or secrets_session()
        client = sqs_client(
            s.aws_region,
            endpoint_url=s.aws_endpoint_url,
            connect_timeout=s.enqueue_connect_timeout_s,
            read_timeout=s.enqueue_read_timeout_s,
            session=self._session,
        )
        self.queue = SqsJobQueue(s.jobs_queue_url, client=client)


VARIANTS: dict[str, type[ack.AckFunction]] = {
    "new-session": NewSessionPerRestore,
    "boto3-sqs": Boto3Sqs,
}

if ack._function is not None:
    ack._function.__class__ = VARIANTS[os.environ.get("BENCH_ACK_VARIANT", "new-session")]


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return ack.lambda_handler(event, context)
