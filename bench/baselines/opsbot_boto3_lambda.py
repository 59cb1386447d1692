"""opsbot's ack with its AWS calls made by boto3, for "what the choice buys" in the same run (the ack when unprimed).

BENCH_ACK_VARIANT=boto3-secret (default): the ack when unprimed, its signing secret read by a boto3 client
from a Session made at init and kept, through Powertools parameters (`bench/baselines/boto3_secret.py`);
SendMessage by `shared.aws_json`. BENCH_ACK_VARIANT=boto3-all: the same, and SendMessage by a boto3 SQS client from
that Session (`shared.queue.sqs_client`; it connects on its first call, so warm() has nothing to open).
BENCH_ACK_VARIANT=before: boto3-secret with nothing primed before a snapshot (no host lookup at init), as the ack
was when unprimed (restores only: on-demand, it is boto3-secret).

The ack's own module does the import and its init runs as in a snapshot (clients made, nothing resolved, nothing
read: a few microseconds), then the variant's AckFunction takes its place: `init()` again, on-demand or snap-start
as the environment says; under SnapStart the ack's registered after-restore hook runs the variant's steps.
"""

from __future__ import annotations

import os
from typing import Any

_INIT_TYPE = "AWS_LAMBDA_INITIALIZATION_TYPE"
_deployed = os.environ.get(_INIT_TYPE, "on-demand")
os.environ[_INIT_TYPE] = "snap-start"  # the ack's own init reads nothing: the variant's does
import ack_function.handler as ack  # noqa: E402

os.environ[_INIT_TYPE] = _deployed

from bench.baselines.boto3_secret import PowertoolsSecrets, prime_session, secrets_session  # noqa: E402
from shared.queue import SqsJobQueue, sqs_client  # noqa: E402
from shared.settings import AckSettings  # noqa: E402


class Boto3Secret(ack.AckFunction):
    """The secret by boto3 + Powertools from a Session kept across restores."""

    _session: Any = None

    def init(self) -> ack.AckFunction:
        self._session = secrets_session()
        if self.settings.initialization_type == "snap-start":
            prime_session(self._session, self.settings.aws_region, endpoint_url=self.settings.aws_endpoint_url)
        return super().init()

    def connect(self) -> None:
        super().connect()
        s = self.settings
        self._secrets = PowertoolsSecrets(self._session, s.aws_region, endpoint_url=s.aws_endpoint_url)  # type: ignore[assignment]


class Boto3All(Boto3Secret):
    """And SendMessage by a boto3 SQS client from the same Session."""

    def connect(self) -> None:
        super().connect()
        if self._sqs is not None:
            self._sqs.close()
            self._sqs = None
        s = self.settings
        client = sqs_client(
            s.aws_region,
            endpoint_url=s.aws_endpoint_url,
            connect_timeout=s.enqueue_connect_timeout_s,
            read_timeout=s.enqueue_read_timeout_s,
            session=self._session,
        )
        self.queue = SqsJobQueue(s.jobs_queue_url, client=client)


class Before(Boto3Secret):
    """And, under SnapStart, the init of before: the Session primed, the clients made, nothing looked up."""

    def init(self) -> ack.AckFunction:
        s = self.settings
        self._session = secrets_session()
        if s.initialization_type != "snap-start":
            return super().init()
        prime_session(self._session, s.aws_region, endpoint_url=s.aws_endpoint_url)
        self.connect()
        return self


VARIANTS: dict[str, type[Boto3Secret]] = {"boto3-secret": Boto3Secret, "boto3-all": Boto3All, "before": Before}

if ack._function is not None:
    ack._function.__class__ = VARIANTS[os.environ.get("BENCH_ACK_VARIANT", "boto3-secret")]
    ack._function.settings = AckSettings.from_env()
    ack._function.init()


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return ack.lambda_handler(event, context)
