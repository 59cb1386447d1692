"""The whole of opsbot on one laptop: moto, the local Slack, the ingress, the ack and worker functions."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from infra.devstack.ack_process import AckProcess
from infra.devstack.alarm_feed import provision_alarm_routes
from infra.devstack.aws import DEMO_CLUSTER, MotoServer, Provisioned, aws_client, check_endpoint, provision
from infra.devstack.client import Target
from infra.devstack.codebuild import CodeBuildServer
from infra.devstack.demo import demo_inventory_toml, demo_workspace, plugin_demo_toml, provision_demo_ops
from infra.devstack.deployed import LOCAL_ACCOUNT, SynthUnavailable
from infra.devstack.errors import CommandLineError
from infra.devstack.fault_proxy import FaultProxy, Rule, parse_rules
from infra.devstack.iam_policy import Denial
from infra.devstack.ingress import Ingress, LambdaHandler
from infra.devstack.jenkins import JenkinsServer
from infra.devstack.moto_cloudfront import DURATION_ENV as CLOUDFRONT_DURATION_ENV
from infra.devstack.poller import SqsPoller
from infra.devstack.roles import (
    RoleCredentials,
    enforce_on_stand_ins,
    local_resources,
    provision_function_roles,
    provision_runbook_roles,
)
from infra.devstack.runbooks import provision_runbooks
from infra.devstack.sandboxes import SandboxPool, cold_start_instance
from infra.devstack.slack_api import SlackApiServer
from infra.devstack.state import StackState, remove_state, write_state
from shared.deployment import LOCAL_VISIBILITY_TIMEOUT_S, local_timing
from shared.inventory import InventoryError, load_inventory

BOT_TOKEN = "xoxb-local"


def check_inventory(path: Path) -> None:
    """Refuse an inventory the functions would refuse, before anything starts (the error names the bad key)."""
    try:
        load_inventory(path)
    except InventoryError as exc:
        raise CommandLineError(f"--inventory: {exc}") from None


class LocalStack:
    """Starts everything on 127.0.0.1 (a context manager); `stop()` undoes it, environment included.

    The two functions read their settings from `os.environ` at import, so the stack sets the
    environment first and imports them inside `start()` (modules `ack_module`/`worker_module`,
    each `lambda_handler`); pass `ack_handler`/`worker_handler` to run other callables instead.

    `pollers` > 1 plays Lambda's concurrency for the SQS event source: that many pollers, each invoking
    its own cold-started copy of the worker (`cold_start_instance`), so duplicates really race;
    `batch_size` is the event source mapping's batch size. A given `worker_handler` is shared by all.

    The ingress invokes the ack as Lambda does, one invocation per sandbox at a time (`SandboxPool`):
    `ack_sandboxes` cold-started copies of `ack_module` (a given `ack_handler` is called as is).
    `ack_process` runs the ingress and the ack in a process of their own (`AckProcess`), as on AWS, where
    they share no interpreter or GIL with the worker, and there the pool grows when all are busy; by
    default they are threads of this process (tests then see the ack's module and logs here).
    `moto_sqs_fixes` (default on) starts moto with `infra.devstack.moto_sqs` applied, so its SQS calls do not
    slow down with the queue's depth.
    `aws_endpoint` runs the stack against an AWS endpoint already running (a moto server, LocalStack): no moto
    is started, the queues, tables and demo resources are created there, and both functions' AWS calls go
    there. `inventory_path` gives both functions that inventory (and its [policy]) instead of the demo one.
    `iam` (default: on when the stack starts its own moto) runs each function under its own role, the one the
    CDK app synthesizes for this inventory (`infra.devstack.roles`): its calls are checked on their resources
    by the moto server and a refused one fails as on AWS (`denials()` lists them). Off, both use admin keys.
    `faults` puts the fault proxy (`infra.devstack.fault_proxy`) between the worker and everything it calls (AWS,
    the local Slack API, CodeBuild, Jenkins), with these rules (their text form, or `Rule`s); the rules can be
    changed while the stack runs (`fault_proxy`). The ack and the queue poller are not behind it.
    """

    def __init__(
        self,
        *,
        port: int = 3000,
        region: str = "us-east-1",
        visibility_timeout: int = LOCAL_VISIBILITY_TIMEOUT_S,
        echo: bool = False,
        out: TextIO | None = None,
        state_path: Path | None = None,
        signing_secret: str | None = None,
        ecs_running_tasks: int = 2,
        log_level: str = "WARNING",
        ack_handler: LambdaHandler | None = None,
        worker_handler: LambdaHandler | None = None,
        ack_module: str = "ack_function.handler",
        worker_module: str = "worker_function.handler",
        pollers: int = 1,
        batch_size: int = 10,
        slack_bot_token: str | None = None,
        ack_process: bool = False,
        ack_sandboxes: int = 8,
        moto_sqs_fixes: bool = True,
        aws_endpoint: str | None = None,
        inventory_path: Path | None = None,
        iam: bool | None = None,
        slack_strict: bool = True,
        faults: str | list[Rule] | None = None,
    ) -> None:
        if pollers < 1 or not 1 <= batch_size <= 10:
            raise ValueError("pollers must be >= 1 and batch_size within 1..10")
        if ack_sandboxes < 1:
            raise ValueError("ack_sandboxes must be >= 1")
        if ack_process and ack_handler is not None:
            raise ValueError("ack_process runs `ack_module` in another process: it cannot run an ack_handler")
        self.region = region
        self.signing_secret = signing_secret or os.environ.get("SLACK_SIGNING_SECRET") or secrets.token_hex(16)
        self.state_path = state_path
        self._port = port
        self._visibility_timeout = visibility_timeout
        #: The deployed clock scaled to this visibility timeout (shared/deployment.py): the worker's timeout (its
        #: Lambda context, so an interrupted job's in-progress record) and inline wait follow, AWS's relations kept.
        self.timing = local_timing(visibility_timeout)
        self._log_level = log_level
        self._ack_handler = ack_handler
        self._worker_handler = worker_handler
        self._ack_module = ack_module
        self._worker_module = worker_module
        self._pollers = pollers
        self._batch_size = batch_size
        self._ack_process = ack_process
        self._ack_sandboxes = ack_sandboxes
        #: A real workspace's bot token (Socket Mode): the worker then answers on Slack itself.
        self._real_slack_token = slack_bot_token
        # A CloudFront invalidation takes a few seconds here (minutes on AWS): long enough to be seen in progress.
        moto_env = {"MOTO_ECS_SERVICE_RUNNING": str(ecs_running_tasks), CLOUDFRONT_DURATION_ENV: "4"}
        self.moto = MotoServer(env=moto_env, sqs_fixes=moto_sqs_fixes)
        # The denials log may be shared with other servers of a test session: this stack's start where it stood.
        self._denials_from = 0
        self._aws_endpoint = aws_endpoint.rstrip("/") if aws_endpoint else None
        self._inventory_path = inventory_path
        self._iam = (aws_endpoint is None) if iam is None else iam
        self._iam_asked = iam is not None
        #: The functions' role sessions ("ack", "worker") once started with `iam`.
        self.credentials: dict[str, RoleCredentials] = {}
        #: Between the worker and what it calls, when `faults` is given (None otherwise).
        self.fault_proxy: FaultProxy | None = None
        if faults is not None:
            self.fault_proxy = FaultProxy(parse_rules(faults) if isinstance(faults, str) else faults)
        self._fronts: dict[str, str] = {}
        # The demo workspace (channels, membership, scopes from the manifest); strict: it refuses what Slack does.
        self.slack = SlackApiServer(
            echo=echo, out=out, token=BOT_TOKEN, workspace=demo_workspace(), strict=slack_strict
        )
        # What moto does not play: CodeBuild builds that take time and leave test reports, pipeline
        # states, and Jenkins.
        self.codebuild = CodeBuildServer(region=region)
        self.jenkins = JenkinsServer()
        self._inventory_dir: str | None = None
        #: The installed plugins' demo targets (inventory TOML), made when the demo inventory is first written.
        self._plugin_toml: str | None = None
        #: The inventory file both functions were given (once started).
        self._inventory_file: str | None = None
        self.ingress: Ingress | AckProcess | None = None
        #: The first poller (the only one unless `pollers` > 1).
        self.poller: SqsPoller | None = None
        self.pollers: list[SqsPoller] = []
        self.provisioned: Provisioned | None = None
        #: The runbooks' state machines (runbook -> ARN), as the worker's OPSBOT_RUNBOOK_ARNS says.
        self.runbook_arns: dict[str, str] = {}
        self._saved_env: dict[str, str | None] = {}

    def common_environment(self) -> dict[str, str]:
        """What a Lambda deployment gives both functions, pointed at moto."""
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "POWERTOOLS_SERVICE_NAME": os.environ.get("POWERTOOLS_SERVICE_NAME", "opsbot"),
            "POWERTOOLS_METRICS_NAMESPACE": os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "opsbot"),
            "POWERTOOLS_METRICS_DISABLED": os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"),
            "POWERTOOLS_TRACE_DISABLED": os.environ.get("POWERTOOLS_TRACE_DISABLED", "true"),
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", self._log_level),
        }

    def _role_environment(self, function: str) -> dict[str, str]:
        role = self.credentials.get(function)
        return role.environment() if role is not None else {}

    def ack_environment(self, provisioned: Provisioned) -> dict[str, str]:
        """The ack function's own variables: its role's credentials, the signing secret, the queue and the
        inventory (for its [policy]); no bot token."""
        return self._role_environment("ack") | {
            "SLACK_SIGNING_SECRET": self.signing_secret,
            "JOBS_QUEUE_URL": provisioned.queue_url,
            "OPSBOT_INVENTORY": self._write_inventory(),
        }

    def _via(self, name: str, url: str) -> str:
        """`url`, or the fault proxy's front for it when the stack has one."""
        if self.fault_proxy is None:
            return url
        if name not in self._fronts:
            self._fronts[name] = self.fault_proxy.front(name, url)
        return self._fronts[name]

    def worker_environment(self, provisioned: Provisioned) -> dict[str, str]:
        """The worker's own variables: its role's credentials, the bot token, the local Slack API, the queues and
        tables (through the fault proxy when the stack has one)."""
        codebuild = self._via("codebuild", self.codebuild.url)
        return (
            self._role_environment("worker")
            | {
                "AWS_ENDPOINT_URL": self._via("aws", self.endpoint_url),
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_API_URL": self._via("slack", self.slack.url) + "/api/",
                "JOBS_QUEUE_URL": provisioned.queue_url,
                "JOBS_DLQ_URL": provisioned.dlq_url,
                "OPSBOT_IDEMPOTENCY_TABLE": provisioned.tables.idempotency,
                "OPSBOT_LEASES_TABLE": provisioned.tables.leases,
                "OPSBOT_AUDIT_TABLE": provisioned.tables.audit,
                "OPSBOT_LOCAL_MODE": "1",
                "OPSBOT_ECS_CLUSTER": DEMO_CLUSTER,
                "OPSBOT_INVENTORY": self._write_inventory(),
                "OPSBOT_SERVICE_ENDPOINTS": f"codebuild={codebuild},codepipeline={codebuild}",
                "JENKINS_URL": self._via("jenkins", self.jenkins.url),
                "JENKINS_USER": self.jenkins.user,
                "JENKINS_API_TOKEN": self.jenkins.token,
                # Demo builds take seconds: look at them every 2 s (on AWS: every 30 s).
                "OPSBOT_POLL_INTERVAL": "2",
                "OPSBOT_INLINE_WAIT": f"{self.timing.inline_wait_s:.3f}",
                "OPSBOT_MAX_RECEIVE_COUNT": str(self.timing.max_receive_count),
                "OPSBOT_RUNBOOK_ARNS": json.dumps(self.runbook_arns),
            }
            | (self._real_slack_environment() if self._real_slack_token else {})
        )

    def _real_slack_environment(self) -> dict[str, str]:
        """The worker on a real workspace: Slack's Web API with the app's bot token, response_urls on
        Slack's hosts only."""
        assert self._real_slack_token is not None
        return {
            "SLACK_BOT_TOKEN": self._real_slack_token,
            "SLACK_API_URL": "https://slack.com/api/",
            "OPSBOT_LOCAL_MODE": "0",
        }

    @property
    def endpoint_url(self) -> str:
        """Where every AWS call goes: the given `aws_endpoint`, else the stack's own moto."""
        return self._aws_endpoint or self.moto.endpoint_url

    @property
    def ingress_port(self) -> int:
        """The port the ingress listens on (once started; `port=0` picks a free one)."""
        if self.ingress is None:
            raise RuntimeError("the local stack is not running")
        return int(self.ingress.url.rsplit(":", 1)[1])

    def publish_state(self, path: Path) -> None:
        """Write the state file at `path` now (removed by `stop()`)."""
        self.state_path = path
        write_state(path, self.state)

    def inventory_text(self) -> str:
        """The inventory both functions read (TOML)."""
        return Path(self._write_inventory()).read_text()

    def _provision_roles(self, provisioned: Provisioned, *, required: bool) -> dict[str, str]:
        """Each function's role from the template synthesized for this inventory, and a session of each; each
        runbook's state machine's role (runbook name -> role ARN). Without the CDK app (opsbot[cdk] not installed)
        the stack runs unchecked, and says so, unless asked for it."""
        local = local_resources(provisioned.queues, provisioned.tables, region=self.region)
        try:
            self.credentials = provision_function_roles(self.endpoint_url, self.inventory_text(), local)
            runbook_roles = provision_runbook_roles(self.endpoint_url, self.inventory_text(), local)
            # The worker's CodeBuild/CodePipeline calls go to the local stand-in: checked there the same way.
            enforce_on_stand_ins(
                self.codebuild,
                self.endpoint_url,
                self.credentials["worker"],
                region=self.region,
                denials_path=self.moto.denials_path,
            )
        except SynthUnavailable as exc:
            if required:
                raise
            print(f"opsbot local: IAM not enforced: {exc}", file=sys.stderr, flush=True)
            return {}
        return runbook_roles

    def denials(self) -> list[Denial]:
        """Every call refused to a function's role since this stack started (when it started its own moto)."""
        return self.moto.denials(self._denials_from)[0]

    def _write_inventory(self) -> str:
        """The given inventory, else the demo inventory in a temporary file (removed by `stop()`)."""
        if self._inventory_path is not None:
            self._inventory_file = str(self._inventory_path.resolve())
            return self._inventory_file
        if self._inventory_dir is None:
            self._inventory_dir = tempfile.mkdtemp(prefix="opsbot-")
        path = Path(self._inventory_dir) / "inventory.toml"
        if self._plugin_toml is None:  # the plugins' demo targets, provisioned once (moto is up by now)
            self._plugin_toml = plugin_demo_toml(self.endpoint_url, self.region)
        path.write_text(demo_inventory_toml(DEMO_CLUSTER, second_person=True) + self._plugin_toml)
        self._inventory_file = str(path)
        return self._inventory_file

    def start(self) -> LocalStack:
        """moto, provisioning, Slack, then each function's cold start, the ingress, the poller, the state file."""
        try:
            if self._inventory_path is not None:
                check_inventory(self._inventory_path)
            if self._aws_endpoint is None:
                self._denials_from = self.moto.denials()[1]
                self.moto.start()
            else:
                check_endpoint(self._aws_endpoint)
            self.provisioned = provision(
                self.endpoint_url,
                self.region,
                visibility_timeout=self._visibility_timeout,
                max_receive_count=self.timing.max_receive_count,
            )
            # The alarm routes of the deployed stack (`opsbot alarm --via sns|sns-raw|eventbridge`).
            provision_alarm_routes(
                aws_client("sns", self.endpoint_url, self.region),
                aws_client("events", self.endpoint_url, self.region),
                queue_arn=self.provisioned.queue_arn,
                routes={k: r.prefix for k, r in load_inventory(self._write_inventory()).alarms.items()},
            )
            self.slack.start()
            self.codebuild.start()
            self.jenkins.start()
            provision_demo_ops(self.endpoint_url, self.region, self.codebuild, self.jenkins)
            runbook_roles: dict[str, str] = {}
            if self._iam is not False:
                runbook_roles = self._provision_roles(self.provisioned, required=self._iam is True and self._iam_asked)
            # Each runbook's state machine, its tasks run as the role the stack gives it (when IAM is enforced).
            self.runbook_arns = provision_runbooks(
                aws_client("stepfunctions", self.endpoint_url, self.region),
                load_inventory(self._write_inventory()),
                account=LOCAL_ACCOUNT,
                roles=runbook_roles,
            )
            # Both functions share this process's environment, but each is imported (cold-started)
            # while only its own variables are set, as on Lambda: the ack never sees the bot token.
            # Everything is on 127.0.0.1; slack_sdk ignores NO_PROXY, so proxies go for the stack's lifetime.
            self._unset_env(["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"])
            self._set_env(self.common_environment())
            ack_env = self.ack_environment(self.provisioned)
            self._unset_env(["SLACK_BOT_TOKEN"])
            self._set_env(ack_env)
            ack_handler: LambdaHandler | None = None
            if self._ack_process:
                self.ingress = AckProcess(
                    dict(os.environ),
                    module=self._ack_module,
                    port=self._port,
                    region=self.region,
                    sandboxes=self._ack_sandboxes,
                ).start()
            else:
                ack_handler = self._ack_handler or self._ack_sandbox_pool()
            self._unset_env(ack_env)
            self._set_env(self.worker_environment(self.provisioned))
            worker_handlers = [
                self._worker_handler or cold_start_instance(self._worker_module, i) for i in range(self._pollers)
            ]
            if ack_handler is not None:
                self.ingress = Ingress(ack_handler, port=self._port, region=self.region).start()
            for i, worker_handler in enumerate(worker_handlers):
                self.pollers.append(
                    SqsPoller(
                        self.provisioned.queue_url,
                        self.provisioned.queue_arn,
                        endpoint_url=self.endpoint_url,
                        region=self.region,
                        # The event source mapping polls with the function's role.
                        client=self._poller_client(),
                        handler=worker_handler,
                        batch_size=self._batch_size,
                        function_timeout_s=self.timing.function_timeout_s,
                        thread_name="sqs-poller" if i == 0 else f"sqs-poller-{i}",
                    ).start()
                )
            self.poller = self.pollers[0]
            if self.state_path is not None:
                write_state(self.state_path, self.state)
        except BaseException:
            self.stop()
            raise
        return self

    def _poller_client(self) -> Any:
        role = self.credentials.get("worker")
        if role is None:
            return None
        return aws_client("sqs", self.endpoint_url, self.region, credentials=role.client_kwargs())

    def _ack_sandbox_pool(self) -> SandboxPool:
        """`ack_sandboxes` copies of the ack cold-started now, while only its environment is set; a request
        finding all of them busy waits for one (this process's environment changes after start)."""
        module = self._ack_module
        return SandboxPool(lambda i: cold_start_instance(module, i), size=self._ack_sandboxes)

    def stop(self) -> None:
        """Stop taking requests, let the worker finish its batch, then stop Slack and moto."""
        if self.ingress is not None:
            self.ingress.stop()
            self.ingress = None
        for poller in self.pollers:  # all at once: each may be in a long poll or a batch
            poller.request_stop()
        for poller in self.pollers:
            poller.stop()
        self.pollers = []
        self.poller = None
        self.slack.stop()
        self.codebuild.stop()
        self.jenkins.stop()
        if self.fault_proxy is not None:
            self.fault_proxy.close()
            self._fronts.clear()
        self.moto.stop()
        if self._inventory_dir is not None:
            shutil.rmtree(self._inventory_dir, ignore_errors=True)
            self._inventory_dir = None
        self._restore_env()
        if self.state_path is not None:
            remove_state(self.state_path, os.getpid())

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def state(self) -> StackState:
        """What the state file holds (only once started)."""
        if self.ingress is None or self.provisioned is None:
            raise RuntimeError("the local stack is not running")
        return StackState(
            ingress_url=self.ingress.url,
            events_url=self.ingress.events_url,
            slack_url=self.slack.url,
            signing_secret=self.signing_secret,
            queue_url=self.provisioned.queue_url,
            dlq_url=self.provisioned.dlq_url,
            endpoint_url=self.endpoint_url,
            region=self.region,
            pid=os.getpid(),
            inventory=self._inventory_file,
        )

    @property
    def target(self) -> Target:
        """Where `run_command` sends slash commands for this stack."""
        state = self.state
        return Target(events_url=state.events_url, slack_url=state.slack_url, signing_secret=self.signing_secret)

    def _set_env(self, env: dict[str, str]) -> None:
        for name, value in env.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _unset_env(self, names: Iterable[str]) -> None:
        for name in names:
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ.pop(name, None)

    def _restore_env(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    def __repr__(self) -> str:
        parts: dict[str, Any] = {"aws": self.endpoint_url, "slack": self.slack.url}
        if self.ingress is not None:
            parts["ingress"] = self.ingress.url
        return f"LocalStack({', '.join(f'{k}={v}' for k, v in parts.items())})"
