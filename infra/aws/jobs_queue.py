"""The job queue: SQS standard queue with a dead-letter queue, encrypted, TLS only."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from shared.deployment import DEPLOYED_TIMING, DLQ_RETENTION_SECONDS, JOBS_RETENTION_SECONDS

#: Long enough to investigate and redrive a failed job after a weekend.
DLQ_RETENTION = Duration.seconds(DLQ_RETENTION_SECONDS)
JOBS_RETENTION = Duration.seconds(JOBS_RETENTION_SECONDS)


class JobsQueue(Construct):
    """Standard (not FIFO) queue: continuations need per-message `DelaySeconds`, which FIFO lacks.

    SQS + Lambda: the visibility timeout is 6x the worker timeout and a message goes to the DLQ
    after `MAX_RECEIVE_COUNT` receives, the constant the worker's "last attempt" check reads
    (docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html). SQS-managed SSE keeps the
    producers free of KMS permissions.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.dlq = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.queue = sqs.Queue(
            self,
            "Jobs",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(int(DEPLOYED_TIMING.visibility_timeout_s)),
            retention_period=JOBS_RETENTION,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=DEPLOYED_TIMING.max_receive_count),
            removal_policy=RemovalPolicy.DESTROY,
        )
