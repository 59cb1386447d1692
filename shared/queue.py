"""The job queue producer. On the ack path: every call is bounded by a deadline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from shared.errors import EnqueueError
from shared.jobs import JobEnvelope

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class JobQueue(Protocol):
    def send(self, job: JobEnvelope) -> str:
        """Queue the job and return the queue's message id; raise `EnqueueError` if it is not queued."""
        ...


def sqs_client(
    region: str,
    *,
    endpoint_url: str | None = None,
    connect_timeout: float = 0.5,
    read_timeout: float = 1.0,
    session: Any = None,
) -> SQSClient:
    """An SQS client with bounded time: botocore's defaults (60 s connect, 60 s read, retries) would
    blow Slack's 3 s. One attempt only: a second one would not fit the deadline (a duplicate would be harmless:
    the worker runs a job id once)."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": 1, "mode": "standard"},
        tcp_keepalive=True,
    )
    session = session or boto3.session.Session()
    return session.client("sqs", region_name=region, endpoint_url=endpoint_url, config=config)


class SqsJobQueue:
    """Sends job envelopes to SQS with the job id, kind and correlation id as message attributes."""

    def __init__(self, queue_url: str, *, client: Any = None, region: str = "us-east-1") -> None:
        self.queue_url = queue_url
        self._client = client if client is not None else sqs_client(region)

    def send(self, job: JobEnvelope, *, delay_seconds: int = 0) -> str:
        try:
            response = self._client.send_message(
                QueueUrl=self.queue_url,
                MessageBody=job.to_message(),
                DelaySeconds=delay_seconds,
                MessageAttributes={
                    "job_id": {"DataType": "String", "StringValue": job.job_id},
                    "kind": {"DataType": "String", "StringValue": job.kind},
                    "correlation_id": {"DataType": "String", "StringValue": job.correlation_id},
                },
            )
        except Exception as exc:  # botocore raises many unrelated types; none of them means "queued"
            raise EnqueueError(f"{type(exc).__name__}: {exc}", maybe_queued=_maybe_sent(exc)) from exc
        return str(response["MessageId"])


def _maybe_sent(exc: Exception) -> bool:
    """Whether a failed SendMessage may still have queued the message (it was sent; the answer never came): a read
    timeout, or a connection closed before a valid answer (botocore's `ConnectionClosedError`, raised for urllib3's
    `ProtocolError`: the connection dropped while the request was sent or its answer awaited, which the client cannot
    tell apart), or a 5xx (SQS's own trouble: the request may have been processed, the AWS SDKs' rule for retrying
    one; a standard queue's duplicates come from such retries). A connection that never opened
    (`EndpointConnectionError`, a connect timeout) sent nothing; a 4xx is a refusal."""
    if hasattr(exc, "maybe_sent"):  # shared.aws_json.AwsCallError
        return bool(exc.maybe_sent) or int(getattr(exc, "status", 0) or 0) >= 500
    if type(exc).__module__.startswith("botocore"):  # only a boto3 client raises these; botocore is loaded then
        from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

        if isinstance(exc, ClientError):
            return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0) >= 500
        return isinstance(exc, ReadTimeoutError | ConnectionClosedError)
    return False


#: Message attributes the worker sets when it puts a job in the DLQ itself (read by `opsbot dlq`).
DLQ_REASON_ATTR = "opsbot_reason"
DLQ_ATTEMPTS_ATTR = "opsbot_attempts"
DLQ_FAILED_AT_ATTR = "opsbot_failed_at"
