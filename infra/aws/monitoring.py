"""Alarms (to an SNS topic) and a dashboard: ack latency, queue depth and age, job outcomes and durations."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.aws.alarm_feed import allow_cloudwatch_alarms
from infra.aws.functions import ACK_SERVICE, WORKER_SERVICE
from shared.observability import (
    ACK_LATENCY,
    ALARMS_DROPPED,
    COMMAND_DIMENSION,
    ENQUEUE_FAILURES,
    JOB_DURATION,
    JOB_OUTCOME,
    JOBS_QUEUED,
    NAMESPACE,
    OUTCOME_DIMENSION,
    QUEUE_WAIT,
)

#: Slack gives up at 3 s including the network; an ack p99 above this is close to failing users.
ACK_P99_THRESHOLD_MS = 1500
#: A job waiting longer than this was retried at least once (visibility timeout 720 s) or is
#: stuck behind a backlog. Continuations wait at most 900 s (SQS DelaySeconds).
OLDEST_MESSAGE_THRESHOLD_S = 900


_ONE_MINUTE = Duration.minutes(1)
_FIVE_MINUTES = Duration.minutes(5)


#: Dimension sets of the worker's job metrics (worker_function/dispatch.py: `command`, then `outcome`).
_JOB_WAIT_SCHEMA = f"{NAMESPACE},{COMMAND_DIMENSION},service"
_JOB_DONE_SCHEMA = f"{NAMESPACE},{COMMAND_DIMENSION},{OUTCOME_DIMENSION},service"


def _jobs(schema: str, metric_name: str, statistic: str) -> cloudwatch.SearchExpression:
    """One line per command (and outcome): a search over the metric's exact dimension set."""
    return cloudwatch.SearchExpression(
        expression=f"SEARCH('{{{schema}}} MetricName=\"{metric_name}\"', '{statistic}', 300)",
        label="",
        period=_FIVE_MINUTES,
    )


def _ack_metric(metric_name: str, statistic: str, label: str) -> cloudwatch.Metric:
    """A custom metric of the ack (EMF, dimension `service` only)."""
    return cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=metric_name,
        dimensions_map={"service": ACK_SERVICE},
        statistic=statistic,
        label=label,
        period=_ONE_MINUTE,
    )


class Monitoring(Construct):
    """Five alarms, one topic, one dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: apigwv2.HttpApi,
        ack: lambda_.IFunction,
        worker: lambda_.IFunction,
        queue: sqs.IQueue,
        dlq: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Alarms", display_name="opsbot alarms", enforce_ssl=True)
        notify = actions.SnsAction(self.topic)

        dlq_depth = dlq.metric_approximate_number_of_messages_visible(period=_ONE_MINUTE, statistic="Maximum")
        worker_errors = worker.metric_errors(period=_FIVE_MINUTES, statistic="Sum")
        oldest = queue.metric_approximate_age_of_oldest_message(period=_FIVE_MINUTES, statistic="Maximum")
        ack_p99 = ack.metric_duration(period=_FIVE_MINUTES, statistic="p99")
        alarms_dropped = cloudwatch.Metric(
            namespace=NAMESPACE,
            metric_name=ALARMS_DROPPED,
            dimensions_map={"service": WORKER_SERVICE},
            statistic="Sum",
            period=_FIVE_MINUTES,
        )

        self.alarms = {
            "DlqNotEmpty": cloudwatch.Alarm(
                self,
                "DlqNotEmpty",
                alarm_description="A job failed every attempt and is parked in the dead-letter queue.",
                metric=dlq_depth,
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            "WorkerErrors": cloudwatch.Alarm(
                self,
                "WorkerErrors",
                alarm_description="The worker function failed (an error or timeout, not a reported job failure).",
                metric=worker_errors,
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            "OldestJobAge": cloudwatch.Alarm(
                self,
                "OldestJobAge",
                alarm_description=f"A queued job has waited more than {OLDEST_MESSAGE_THRESHOLD_S} s.",
                metric=oldest,
                threshold=OLDEST_MESSAGE_THRESHOLD_S,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            "AckLatencyP99": cloudwatch.Alarm(
                self,
                "AckLatencyP99",
                alarm_description=f"Ack p99 duration above {ACK_P99_THRESHOLD_MS} ms; Slack gives up at 3 s.",
                metric=ack_p99,
                threshold=ACK_P99_THRESHOLD_MS,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            "AlarmsDropped": cloudwatch.Alarm(
                self,
                "AlarmsDropped",
                alarm_description="A CloudWatch alarm reached the worker but no channel shows it: its name is not in "
                "the inventory's [alarms] (or the notification is unreadable); the worker's log names it.",
                metric=alarms_dropped,
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        }
        for alarm in self.alarms.values():
            alarm.add_alarm_action(notify)
            alarm.add_ok_action(notify)
        # The topic's policy (its TLS-only Deny) replaces SNS's default one: without this Allow CloudWatch could
        # not publish, and these alarms would notify nobody.
        allow_cloudwatch_alarms(self.topic, alarm_arns=[alarm.alarm_arn for alarm in self.alarms.values()])

        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=Stack.of(self).stack_name, default_interval=Duration.hours(3)
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Ack latency (ms)",
                left=[
                    ack.metric_duration(period=_ONE_MINUTE, statistic="p50", label="ack p50"),
                    ack.metric_duration(period=_ONE_MINUTE, statistic="p99", label="ack p99"),
                    api.metric_latency(period=_ONE_MINUTE, statistic="p99", label="API p99"),
                    _ack_metric(ACK_LATENCY, "p99", "handler p99"),
                ],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=3000, label="Slack timeout")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Ack requests and failures",
                left=[
                    api.metric_count(period=_ONE_MINUTE, label="requests"),
                    api.metric_client_error(period=_ONE_MINUTE, label="4xx"),
                    api.metric_server_error(period=_ONE_MINUTE, label="5xx"),
                    ack.metric_errors(period=_ONE_MINUTE, label="ack errors"),
                    ack.metric_throttles(period=_ONE_MINUTE, label="ack throttles"),
                ],
                right=[
                    _ack_metric(JOBS_QUEUED, "Sum", "jobs queued"),
                    _ack_metric(ENQUEUE_FAILURES, "Sum", "enqueue failures"),
                ],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Queue depth",
                left=[
                    queue.metric_approximate_number_of_messages_visible(period=_ONE_MINUTE, label="waiting"),
                    queue.metric_approximate_number_of_messages_not_visible(period=_ONE_MINUTE, label="in flight"),
                    dlq.metric_approximate_number_of_messages_visible(period=_ONE_MINUTE, label="dead letters"),
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Age of oldest job (s)",
                left=[queue.metric_approximate_age_of_oldest_message(period=_ONE_MINUTE, statistic="Maximum")],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=OLDEST_MESSAGE_THRESHOLD_S, label="alarm")],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Job outcomes (per command)",
                left=[_jobs(_JOB_DONE_SCHEMA, JOB_OUTCOME, "Sum")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Job duration and queue wait (ms, p99)",
                left=[_jobs(_JOB_DONE_SCHEMA, JOB_DURATION, "p99"), _jobs(_JOB_WAIT_SCHEMA, QUEUE_WAIT, "p99")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Worker",
                left=[
                    worker.metric_errors(period=_ONE_MINUTE, label="errors"),
                    worker.metric_throttles(period=_ONE_MINUTE, label="throttles"),
                    worker.metric_invocations(period=_ONE_MINUTE, label="invocations"),
                ],
                right=[
                    worker.metric_duration(period=_ONE_MINUTE, statistic="p99", label="duration p99 (ms)"),
                    worker.metric_duration(period=_ONE_MINUTE, statistic="Maximum", label="duration max (ms)"),
                ],
                width=8,
            ),
        )
