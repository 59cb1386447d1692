"""Step Functions executions in the local stack's moto server (`python -m infra.devstack.moto_server`); moto itself
is not modified on disk.

moto interprets Amazon States Language only when its Step Functions backend is configured to
(`execute_state_machine`, off by default); this turns it on for the server's process. Its interpreter then calls
the tasks' services back through the server's own port (`MOTO_PORT`), which is set here from the server's
arguments.

Four gaps are filled, each as small as it can be. First, moto 5.2's port of the interpreter passes an `aws-sdk:*` task's
parameters to boto3 as the state machine names them (Step Functions' PascalCase: `Cluster`, `DesiredCount`) and
hands back boto3's answer as it is (`services`, `desiredCount`), where Step Functions translates both ways (the
SDK integrations' documented casing). Without it `aws-sdk:ecs:updateService` fails with `States.Runtime 'Cluster'`.
The translation uses moto's own helpers (`_to_boto_request`, `_from_boto_response`) on the operation's botocore
shapes, as the interpreter it was ported from does. Second, StopExecution: moto drops its `error` and `cause`
and leaves the execution RUNNING (its task token still answered) until a task waiting for a token returns; AWS
aborts it at once. The stop here passes both on and marks the execution ABORTED when StopExecution answers, as on
AWS (its history's ExecutionAborted event comes when the waiting task's wait ends). Third, a task token answered
once refuses the next answer (TaskTimedOut), as on AWS; moto took it while the execution ran. Fourth,
SendTaskFailure keeps its `cause` (moto's handler dropped it).

Last, each task runs as the state machine's role, as on AWS: moto's interpreter signs its task calls with fixed
credentials, which nothing checks; here they are signed with a session of the execution's role when it is one the
local stack enforces (`infra.devstack.roles.provision_runbook_roles`: the role the CDK app synthesizes for the
runbook), so the moto server authorizes each task's call on its resource against that role's policies
(`infra.devstack.moto_iam`). A task calling what its role does not allow fails (`AccessDenied...`), as on AWS.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import pkgutil
import re
import threading
import time
from typing import Any


def _port(argv: list[str]) -> str | None:
    for flag in ("-p", "--port"):
        if flag in argv and argv.index(flag) + 1 < len(argv):
            return argv[argv.index(flag) + 1]
    return None


@functools.cache
def _operation_model(service: str, operation: str) -> Any:
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    return model.operation_model(operation)


def _operation_name(action: str) -> str:
    """`updateService` (the resource's action, or boto3's `update_service`) as botocore names it: `UpdateService`."""
    return "".join(part[:1].upper() + part[1:] for part in action.split("_"))


def apply(argv: list[str]) -> bool:
    """Executions on, the server's port for the interpreter's calls, the aws-sdk casing; False if moto differs."""
    try:
        from moto.core.config import default_user_config
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
            state_task_service_aws_sdk as aws_sdk,
        )
    except ImportError:
        return False
    task = getattr(aws_sdk, "StateTaskServiceAwsSdk", None)
    if task is None or not hasattr(task, "_to_boto_request") or not hasattr(task, "_from_boto_response"):
        return False
    port = _port(argv)
    if port is not None:
        os.environ["MOTO_PORT"] = port
    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True

    def normalise_parameters(
        self: Any,
        parameters: dict[str, Any],
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        model = _operation_model(
            self._get_boto_service_name(boto_service_name),
            _operation_name(service_action_name or self.resource.api_action),
        )
        if model.input_shape is not None:
            self._to_boto_request(parameters, model.input_shape)

    def normalise_response(
        self: Any, response: Any, boto_service_name: str | None = None, service_action_name: str | None = None
    ) -> None:
        model = _operation_model(
            self._get_boto_service_name(boto_service_name),
            _operation_name(service_action_name or self.resource.api_action),
        )
        if model.output_shape is not None:
            self._from_boto_response(response, model.output_shape)

    task._normalise_parameters = normalise_parameters
    task._normalise_response = normalise_response
    return _patch_stop() and _patch_answered_once()


def _patch_answered_once() -> bool:
    """A task token takes one answer: AWS refuses the next (`TaskTimedOut`, "Provided task does not exist
    anymore"), where moto 5.2 took it while the execution ran (its waiting state's outcome replaced)."""
    try:
        from moto.stepfunctions.parser.asl.eval.callback.callback import (
            CallbackConsumerTimeout,
            CallbackNotifyConsumerError,
            CallbackPoolManager,
        )
    except ImportError:
        return False
    original = CallbackPoolManager.notify

    def notify(self: Any, callback_id: str, outcome: Any) -> bool:
        endpoint = self.get(callback_id)
        if endpoint is not None and endpoint.get_outcome() is not None:
            raise CallbackNotifyConsumerError(callback_consumer_error=CallbackConsumerTimeout())
        return bool(original(self, callback_id, outcome))

    CallbackPoolManager.notify = notify  # type: ignore[method-assign]
    return _patch_failure_cause()


def _patch_failure_cause() -> bool:
    """SendTaskFailure's `cause`, which moto 5.2's response handler drops (the state's TaskFailed had none)."""
    try:
        from moto.core.responses import EmptyResult
        from moto.stepfunctions.responses import StepFunctionResponse
    except ImportError:
        return False

    def send_task_failure(self: Any) -> Any:
        backend = self.stepfunction_backend
        kwargs = {"error": self._get_param("error")}
        if "cause" in inspect.signature(backend.send_task_failure).parameters:  # the interpreter's backend
            kwargs["cause"] = self._get_param("cause")
        backend.send_task_failure(self._get_param("taskToken"), **kwargs)
        return EmptyResult()

    StepFunctionResponse.send_task_failure = send_task_failure  # type: ignore[method-assign]
    return _patch_task_credentials()


#: A session of a state machine's role is renewed after this long (moto's STS sessions last an hour).
_SESSION_S = 1800.0
_sessions: dict[str, tuple[float, tuple[str, str, str]]] = {}
_sessions_lock = threading.Lock()


def _role_session(role_arn: str | None) -> tuple[str, str, str] | None:
    """Credentials of a session of `role_arn` (moto's STS, in this process), when it is a role the local stack
    enforces (`moto_iam.ENFORCED_TAG`); None for any other (the task then runs with moto's fixed credentials)."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    from infra.devstack.moto_iam import ENFORCED_TAG, role_tags

    match = _ROLE_ARN.match(role_arn or "")
    if match is None:
        return None
    partition, account, name = match.group("partition"), match.group("account"), match.group("name")
    now = time.monotonic()
    with _sessions_lock:
        cached = _sessions.get(str(role_arn))
        if cached is not None and now - cached[0] < _SESSION_S:
            return cached[1]
        try:
            role = iam_backends[account][partition].get_role(name)
        except Exception:  # not a role of this moto: a machine provisioned without its role
            return None
        if not any(tag.get("Key") == ENFORCED_TAG for tag in role_tags(role)):
            return None
        assumed = sts_backends[account][partition].assume_role(
            region_name="us-east-1",
            role_session_name="states",
            role_arn=str(role_arn),
            policy="",
            duration=int(_SESSION_S * 2),
            external_id="",
        )
        session = (assumed.access_key_id, assumed.secret_access_key, assumed.session_token)
        _sessions[str(role_arn)] = (now, session)
        return session


_ROLE_ARN = re.compile(r"^arn:(?P<partition>[a-z-]+):iam::(?P<account>[0-9]{12}):role/(?:.*/)?(?P<name>[^/]+)$")


def _patch_task_credentials() -> bool:
    """The interpreter's task clients sign as the execution's role (the state machine's `roleArn`), as Step
    Functions calls a task's service with the role's credentials: the moto server's IAM check
    (`infra.devstack.moto_iam`) then authorizes each task's call on its resource against that role's policies.
    moto 5.2 signs them all with fixed credentials (`boto_client_for`), which nothing checks."""
    try:
        from moto.stepfunctions.parser.asl.utils import boto_client
    except ImportError:
        return False
    original = boto_client.boto_client_for
    if not callable(original) or getattr(original, "_opsbot", False):
        return callable(original)

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        client = original(region=region, service=service, state_credentials=state_credentials)
        session = _role_session(getattr(state_credentials, "role_arn", None))
        if session is None:
            return client
        import boto3

        key, secret, token = session
        make: Any = boto3.client  # a service named at run time (its typed overloads name each one)
        return make(
            service_name=service,
            region_name=region,
            endpoint_url=client.meta.endpoint_url,
            config=client.meta.config,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            aws_session_token=token,
        )

    boto_client_for._opsbot = True  # type: ignore[attr-defined]
    boto_client.boto_client_for = boto_client_for
    # Each task module imported the function by name: each gets this one.
    import moto.stepfunctions.parser.asl.component as components

    for module in pkgutil.walk_packages(components.__path__, components.__name__ + "."):
        try:
            loaded = importlib.import_module(module.name)
        except Exception:
            continue
        if getattr(loaded, "boto_client_for", None) is original:
            loaded.boto_client_for = boto_client_for  # type: ignore[attr-defined]
    return True


def _patch_stop() -> bool:
    from datetime import UTC, datetime

    try:
        from moto.core.responses import ActionResult
        from moto.stepfunctions.responses import StepFunctionResponse
    except ImportError:
        return False

    def stop_execution(self: Any) -> Any:
        arn = self._get_param("executionArn")
        execution = self.stepfunction_backend.describe_execution(arn)
        worker = getattr(execution, "exec_worker", None)
        env = getattr(worker, "env", None)
        if env is None or getattr(execution, "exec_status", None) is None:
            execution = self.stepfunction_backend.stop_execution(arn)
            return ActionResult({"stopDate": execution.stop_date})
        if str(getattr(execution.exec_status, "value", execution.exec_status)) == "RUNNING":
            from moto.stepfunctions.parser.api import ExecutionStatus

            error, cause = self._get_param("error"), self._get_param("cause")
            execution.stop(stop_date=datetime.now(UTC), error=error, cause=cause)
            # Aborted now, as AWS answers; a task still waiting for its token ends when its wait does (the token is
            # refused meanwhile: only running executions' tokens are answered).
            execution.exec_status = ExecutionStatus.ABORTED
            execution.stop_date = datetime.now(UTC)
            execution.error, execution.cause = error, cause
        return ActionResult({"stopDate": execution.stop_date})

    StepFunctionResponse.stop_execution = stop_execution  # type: ignore[method-assign]
    return True
