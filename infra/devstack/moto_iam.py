"""IAM enforced in the local stack's moto server, on the resource as AWS checks it (`python -m
infra.devstack.moto_server`); moto itself is not modified on disk.

moto checks no permission by default, and with its IAM authorization on it matches the action only (every
request is checked against the resource `*`). Here, a request signed with credentials of a role tagged
`ENFORCED_TAG` (the functions' roles, provisioned from the synthesized template by `infra.devstack.roles`)
is authenticated (moto's signature check) and authorized on each resource it touches: the ARN of the
table, index, queue, secret, log group, ECS service, instance or role the request names, computed here
per action, and evaluated against the role's policies (`infra.devstack.iam_policy`). An action opsbot's
functions call that has no mapping here is refused too: an unknown call fails loudly, it never passes.
Requests with any other credentials (provisioning, the tests' own look at the state) are not checked, as
before.

Each refusal is answered as AWS answers it (403, AccessDenied naming the role, the action and the resource)
and appended as a JSON line to the file `OPSBOT_IAM_DENIALS` names, where the tests and `opsbot local` read it.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from infra.devstack.iam_policy import Denial, UnsupportedPolicy, evaluate

#: A role carrying this tag has every call it makes checked (`infra.devstack.roles` tags the functions' roles).
ENFORCED_TAG = "opsbot:enforced"
#: Where each refusal is appended (one JSON object a line: role, action, resource, reason).
DENIALS_ENV = "OPSBOT_IAM_DENIALS"

_lock = threading.Lock()


def _denials_file() -> str | None:
    return os.environ.get(DENIALS_ENV) or None


def record(denial: Denial, path: str | None = None) -> None:
    """Append `denial` to `path` (default: the file `OPSBOT_IAM_DENIALS` names; nowhere if unset)."""
    path = path or _denials_file()
    if path is None:
        return
    line = json.dumps(denial.__dict__) + "\n"
    with _lock, open(path, "a", encoding="utf-8") as handle:
        handle.write(line)


# --- The resource of each call -------------------------------------------------------------------------------


class Request:
    """What the resource mapping reads of one request: its action's parameters, region and account."""

    def __init__(
        self, service: str, action: str, params: dict[str, Any], region: str, account: str, path: str = ""
    ) -> None:
        self.service = service
        self.action = action
        self.params = params
        self.region = region
        self.account = account
        #: The request's path (REST services name their resource in it).
        self.path = path

    def arn(self, service: str, resource: str, *, region: str | None = None) -> str:
        return f"arn:aws:{service}:{self.region if region is None else region}:{self.account}:{resource}"


#: A resource and the condition keys AWS would give it (aws:ResourceTag/<key>).
Resource = tuple[str, dict[str, list[str]]]


def _table(request: Request, name: str) -> str:
    return name if name.startswith("arn:") else request.arn("dynamodb", f"table/{name}")


def _dynamodb(request: Request) -> list[Resource]:
    p, action = request.params, request.action
    if action in ("BatchWriteItem", "BatchGetItem"):
        return [(_table(request, name), {}) for name in p.get("RequestItems", {})]
    if action == "TransactWriteItems":
        names = {next(iter(item.values()))["TableName"] for item in p.get("TransactItems", [])}
        return [(_table(request, name), {}) for name in sorted(names)]
    if action == "TransactGetItems":
        names = {item["Get"]["TableName"] for item in p.get("TransactItems", [])}
        return [(_table(request, name), {}) for name in sorted(names)]
    if action in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "DescribeTable", "Query", "Scan"):
        table = _table(request, p["TableName"])
        if action in ("Query", "Scan") and p.get("IndexName"):
            return [(f"{table}/index/{p['IndexName']}", {})]
        return [(table, {})]
    raise KeyError(action)


def _queue_arn(request: Request, url: str) -> str:
    # https://sqs.<region>.amazonaws.com/<account>/<name> (moto: http://127.0.0.1:<port>/<account>/<name>)
    parts = urlsplit(url).path.strip("/").split("/")
    account, name = (parts[-2], parts[-1]) if len(parts) >= 2 else (request.account, parts[-1])
    return f"arn:aws:sqs:{request.region}:{account}:{name}"


_SQS_QUEUE_ACTIONS = frozenset(
    {
        "SendMessage",
        "SendMessageBatch",
        "ReceiveMessage",
        "DeleteMessage",
        "DeleteMessageBatch",
        "ChangeMessageVisibility",
        "ChangeMessageVisibilityBatch",
        "GetQueueAttributes",
        "SetQueueAttributes",
        "PurgeQueue",
        "ListDeadLetterSourceQueues",
    }
)


def _sqs(request: Request) -> list[Resource]:
    p = request.params
    if request.action in _SQS_QUEUE_ACTIONS:
        return [(_queue_arn(request, p["QueueUrl"]), {})]
    if request.action == "GetQueueUrl":
        account = p.get("QueueOwnerAWSAccountId") or request.account
        return [(f"arn:aws:sqs:{request.region}:{account}:{p['QueueName']}", {})]
    raise KeyError(request.action)


def _secretsmanager(request: Request) -> list[Resource]:
    if request.action not in ("GetSecretValue", "DescribeSecret"):
        raise KeyError(request.action)
    secret_id = request.params["SecretId"]
    if not secret_id.startswith("arn:"):
        try:
            from moto.secretsmanager.models import secretsmanager_backends

            secret_id = secretsmanager_backends[request.account][request.region].describe_secret(secret_id).arn
        except Exception:
            secret_id = request.arn("secretsmanager", f"secret:{secret_id}")
    return [(secret_id, {})]


def _ecs_name(value: str) -> str:
    return value.rsplit("/", 1)[-1] if value.startswith("arn:") else value


def _ecs(request: Request) -> list[Resource]:
    p, action = request.params, request.action
    cluster = _ecs_name(p.get("cluster") or "default")
    if action == "UpdateService":
        return [(request.arn("ecs", f"service/{cluster}/{_ecs_name(p['service'])}"), {})]
    if action == "DescribeServices":
        return [(request.arn("ecs", f"service/{cluster}/{_ecs_name(s)}"), {}) for s in p.get("services", [])]
    if action in ("DescribeTaskDefinition", "ListTaskDefinitions", "ListTaskDefinitionFamilies"):
        return [("*", {})]  # no resource-level permissions (Service Authorization Reference)
    raise KeyError(action)


def _numbered(params: dict[str, Any], prefix: str) -> list[str]:
    """EC2's query protocol lists: InstanceId.1, InstanceId.2, ..."""
    found = [(int(k.rsplit(".", 1)[1]), v) for k, v in params.items() if k.startswith(f"{prefix}.")]
    return [str(v) for _, v in sorted(found)]


def _ec2(request: Request) -> list[Resource]:
    if request.action in ("DescribeInstances", "DescribeInstanceStatus"):
        return [("*", {})]
    if request.action == "RebootInstances":
        from moto.ec2.models import ec2_backends

        backend = ec2_backends[request.account][request.region]
        resources: list[Resource] = []
        for instance_id in _numbered(request.params, "InstanceId"):
            tags = backend.tags.get(instance_id, {}) if hasattr(backend, "tags") else {}
            context = {f"aws:ResourceTag/{k}": [str(v)] for k, v in tags.items()}
            resources.append((request.arn("ec2", f"instance/{instance_id}"), context))
        return resources
    raise KeyError(request.action)


def _logs(request: Request) -> list[Resource]:
    p = request.params
    if request.action in ("GetQueryResults", "StopQuery", "DescribeQueries"):
        return [("*", {})]
    if request.action == "StartQuery":
        names = [p["logGroupName"]] if p.get("logGroupName") else []
        names += p.get("logGroupNames") or []
        names += [
            _ecs_name(i) if not i.startswith("arn:") else i.split(":log-group:", 1)[1].removesuffix(":*")
            for i in p.get("logGroupIdentifiers") or []
        ]
        # Logs authorizes StartQuery on the log group's ARN with its trailing `:*`.
        return [(request.arn("logs", f"log-group:{name}:*"), {}) for name in names]
    if request.action in ("CreateLogStream", "PutLogEvents"):
        stream = p.get("logStreamName", "*")
        return [(request.arn("logs", f"log-group:{p['logGroupName']}:log-stream:{stream}"), {})]
    raise KeyError(request.action)


#: CloudFront's REST paths name the distribution: `/2020-05-31/distribution/<Id>[/invalidation[/<Id>]]`.
_CLOUDFRONT_DISTRIBUTION = re.compile(r"/distribution/([A-Za-z0-9]+)(/|$)")
#: CloudFront actions authorized on the distribution (Service Authorization Reference: resource `distribution`).
_CLOUDFRONT_ON_DISTRIBUTION = frozenset(
    {"CreateInvalidation", "GetInvalidation", "ListInvalidations", "GetDistribution", "GetDistributionConfig"}
)


def _cloudfront(request: Request) -> list[Resource]:
    """CloudFront is global: its ARNs name no region (`arn:aws:cloudfront::<account>:distribution/<Id>`)."""
    if request.action in _CLOUDFRONT_ON_DISTRIBUTION:
        found = _CLOUDFRONT_DISTRIBUTION.search(request.path)
        if found is None:
            raise KeyError(request.action)
        return [(request.arn("cloudfront", f"distribution/{found.group(1)}", region=""), {})]
    if request.action == "ListDistributions":
        return [("*", {})]
    raise KeyError(request.action)


def _sts(request: Request) -> list[Resource]:
    if request.action == "AssumeRole":
        return [(request.params["RoleArn"], {})]
    raise KeyError(request.action)


def _token_machine(request: Request, token: str) -> str | None:
    """The state machine whose running execution waits on task token `token` (moto's interpreter keeps them)."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend = stepfunctions_parser_backends[request.account][request.region]
    for machine in backend.state_machines:
        for execution in getattr(machine, "executions", []):
            env = getattr(getattr(execution, "exec_worker", None), "env", None)
            pool = getattr(env, "callback_pool_manager", None)
            if pool is not None and pool.get(token) is not None:
                return str(machine.arn)
    return None


def _states(request: Request) -> list[Resource]:
    p, action = request.params, request.action
    if action in ("StartExecution", "DescribeStateMachine", "ListExecutions"):
        return [(p["stateMachineArn"], {})]
    if action in ("DescribeExecution", "GetExecutionHistory", "StopExecution"):
        return [(p["executionArn"], {})]
    if action in ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"):
        # Authorized on the state machine the token's execution runs; a token no execution waits on names none,
        # and Step Functions answers it (InvalidToken, TaskTimedOut) as it would.
        machine = _token_machine(request, str(p.get("taskToken", "")))
        return [(machine, {})] if machine else []
    raise KeyError(action)


MAPPINGS: dict[str, Callable[[Request], list[Resource]]] = {
    "dynamodb": _dynamodb,
    "sqs": _sqs,
    "secretsmanager": _secretsmanager,
    "ecs": _ecs,
    "ec2": _ec2,
    "logs": _logs,
    "sts": _sts,
    "states": _states,
    "cloudfront": _cloudfront,
}


def resources_of(request: Request) -> list[Resource]:
    """The resources AWS authorizes `request` on; KeyError when this action has no mapping."""
    return MAPPINGS[request.service](request)


#: API actions AWS authorizes under another action's name (SQS batches: their single action).
IAM_ACTIONS = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


# --- The caller ----------------------------------------------------------------------------------------------


class Caller:
    """An enforced role's session: its role name and policy documents (read from moto's IAM at each call, so a
    policy changed by a test applies at once)."""

    def __init__(self, role_name: str, documents: list[dict[str, Any]]) -> None:
        self.role_name = role_name
        self.documents = documents


def enforced_caller(access_key_id: str, account: str, partition: str = "aws") -> Caller | None:
    """The enforced role whose assumed-role session signed with `access_key_id`, or None (not checked)."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    assumed = sts_backends[account][partition].get_assumed_role_from_access_key(access_key_id)
    if assumed is None:
        return None
    iam = iam_backends[account][partition]
    role_name = assumed.role_arn.split("/")[-1]
    try:
        role = iam.get_role(role_name)
    except Exception:
        return None
    if not any(tag.get("Key") == ENFORCED_TAG for tag in role_tags(role)):
        return None
    documents: list[dict[str, Any]] = []
    for name in iam.list_role_policies(role_name):
        _, document = iam.get_role_policy(role_name, name)
        documents.append(policy_document(document))
    attached, _ = iam.list_attached_role_policies(role_name)
    for policy in attached:
        version = next(v for v in policy.versions if v.is_default)
        documents.append(policy_document(version.document))
    return Caller(role_name, documents)


def role_tags(role: Any) -> list[dict[str, str]]:
    """A moto IAM role's tags as `[{"Key": ..., "Value": ...}]`."""
    tags = getattr(role, "tags", {}) or {}
    if isinstance(tags, dict):
        return [{"Key": str(k), "Value": str(v.get("Value") if isinstance(v, dict) else v)} for k, v in tags.items()]
    return list(tags)


def policy_document(document: Any) -> dict[str, Any]:
    """A policy document as moto's IAM returns it (a dict, JSON, or URL-encoded JSON), as a dict."""
    if isinstance(document, dict):
        return document
    from urllib.parse import unquote

    text = str(document)
    return json.loads(text if text.lstrip().startswith("{") else unquote(text))


# --- The check -----------------------------------------------------------------------------------------------


def _params(response: Any) -> dict[str, Any]:
    body = response.body
    if isinstance(body, dict):
        return body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if body and str(body).lstrip().startswith("{"):
        try:
            loaded = json.loads(body)
            if isinstance(loaded, dict):
                return loaded
        except ValueError:
            pass
    return {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in response.querystring.items()}


def _service(response: Any) -> str:
    authorization = response.headers.get("Authorization", "")
    scope = authorization.partition("Credential=")[2].partition(",")[0].split("/")
    return scope[3] if len(scope) > 3 else ""


def check(response: Any) -> Denial | None:
    """The denial of this moto request, or None when it may proceed (or is not ours to check)."""
    access_key = response.get_access_key()
    account = response.current_account
    caller = enforced_caller(access_key, account, getattr(response, "partition", "aws"))
    response._opsbot_enforced = caller is not None  # the signature is checked only for these
    if caller is None:
        return None
    service = _service(response)
    action = response._get_action()
    full_action = IAM_ACTIONS.get(f"{service}:{action}", f"{service}:{action}")
    if full_action == "sts:GetCallerIdentity":  # allowed whatever the policy says, as on AWS
        return None
    path = str(getattr(response, "path", "") or "")
    request = Request(service, action, _params(response), response.region, response.current_account, path)
    try:
        resources = resources_of(request)
    except KeyError:
        return Denial(
            caller.role_name, full_action, "?", "no resource mapping for this action in the local check", account
        )
    for resource, context in resources:
        try:
            decision = evaluate(caller.documents, full_action, resource, context)
        except UnsupportedPolicy as exc:
            return Denial(caller.role_name, full_action, resource, f"policy not evaluated locally: {exc}", account)
        if decision != "allow":
            reason = "explicit deny" if decision == "deny" else "no identity-based policy allows it"
            return Denial(caller.role_name, full_action, resource, reason, account)
    return None


def _error(response: Any, denial: Denial) -> Exception:
    from moto.core.exceptions import AccessDeniedError, JsonRESTError

    user = f"arn:aws:sts::{denial.account}:assumed-role/{denial.role}"
    what = f"{denial.action} on resource: {denial.resource} because {denial.reason}"
    if response.headers.get("X-Amz-Target"):  # a JSON protocol request gets a JSON error
        kind = "AccessDenied" if _service(response) == "sqs" else "AccessDeniedException"
        error: Exception = JsonRESTError(kind, f"User: {user} is not authorized to perform: {what}")
        error.code = 403  # type: ignore[attr-defined]
        return error
    return AccessDeniedError(user_arn=user, action=what)


def apply() -> bool:
    """Check every request signed by an enforced role; False if moto's layout differs."""
    try:
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.iam.access_control import IAMRequest
    except ImportError:
        return False
    if not hasattr(ActionAuthenticatorMixin, "_authenticate_and_authorize_normal_action"):
        return False
    original = ActionAuthenticatorMixin._authenticate_and_authorize_normal_action

    def authorize(self: Any, resource: str = "*") -> None:
        try:
            denial = check(self)
        except Exception as exc:
            import traceback

            where = traceback.format_exc(limit=-2).replace("\n", " ")
            denial = Denial("?", f"{_service(self)}:{self._get_action()}", "?", f"local check failed: {exc!r} {where}")
            record(denial)
            raise _error(self, denial) from None
        if denial is None:
            if getattr(self, "_opsbot_enforced", False):
                # Authenticated as AWS would: the signature must be the session's (moto's own check).
                IAMRequest(
                    account_id=self.current_account,
                    method=self.method,
                    path=self.raw_path + (f"?{urlsplit(self.uri).query}" if urlsplit(self.uri).query else ""),
                    # A GET carries no body: moto's parsed parameters of a REST GET (CloudFront's) are not one.
                    data=self.data if self.method not in ("GET", "HEAD") else {},
                    body=self.raw_body,
                    headers=self.headers,
                    action=self._get_action(),
                ).check_signature()
            return original(self, resource)
        record(denial)
        raise _error(self, denial)

    ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = authorize  # type: ignore[method-assign]
    return True
