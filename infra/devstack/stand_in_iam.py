"""IAM for the local stand-ins of the services moto does not play (CodeBuild, CodePipeline: `infra.devstack.codebuild`).

A request signed with the access key of an enforced session (the worker's role, provisioned from the synthesized
template by `infra.devstack.roles`) is authorized on the ARN AWS authorizes it on (the project, report group or
pipeline), against that role's policies read afresh at each call, with the same evaluation as the moto server's
check (`infra.devstack.iam_policy`, `infra.devstack.moto_iam`). A refusal is recorded where the moto server
records its refusals and answered as AWS answers it (400 AccessDeniedException naming the role, the action and
the resource). An action with no resource mapping here, or a policy that cannot be read or judged, is refused:
the check fails closed, never open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.devstack.iam_policy import Denial, UnsupportedPolicy, evaluate
from infra.devstack.moto_iam import record


@dataclass(frozen=True)
class EnforcedSession:
    """A role session whose calls are checked: its role and how to read the role's policy documents now."""

    role_name: str
    documents: Callable[[], list[dict[str, Any]]]
    #: Where its refusals are appended (None: the file `OPSBOT_IAM_DENIALS` names, as the moto server does).
    denials_path: str | None = None


def access_key(authorization: str) -> str:
    """The access key id of a SigV4 `Authorization` header (`AWS4-HMAC-SHA256 Credential=AKID/date/...`)."""
    return authorization.partition("Credential=")[2].partition("/")[0].strip()


def resources_of(service: str, action: str, body: dict[str, Any], *, region: str, account: str) -> list[str]:
    """The ARNs AWS authorizes this call on (Service Authorization Reference); KeyError when not mapped."""

    def arn(service: str, resource: str) -> str:
        return f"arn:aws:{service}:{region}:{account}:{resource}"

    def project(name: str) -> str:
        return name if name.startswith("arn:") else arn("codebuild", f"project/{name}")

    def project_of_build(build_id: str) -> str:  # "<project>:<uuid>" or its ARN ".../build/<project>:<uuid>"
        return project(build_id.rsplit("build/", 1)[-1].split(":", 1)[0])

    if service == "codebuild":
        if action in ("StartBuild", "ListBuildsForProject"):
            return [project(body["projectName"])]
        if action == "BatchGetBuilds":
            return sorted({project_of_build(i) for i in body["ids"]})
        if action == "StopBuild":
            return [project_of_build(body["id"])]
        if action == "BatchGetReports":  # on the report group: ...:report/<group>:<id>
            groups = {r.rsplit("report/", 1)[-1].rsplit(":", 1)[0] for r in body["reportArns"]}
            return [arn("codebuild", f"report-group/{group}") for group in sorted(groups)]
    if service == "codepipeline" and action == "GetPipelineState":
        return [arn("codepipeline", body["name"])]
    raise KeyError(f"{service}:{action}")


def _decide(session: EnforcedSession, action: str, resources: list[str]) -> Denial | None:
    try:
        documents = session.documents()
    except Exception as exc:
        return Denial(session.role_name, action, resources[0], f"local check failed: {exc!r}")
    for resource in resources:
        try:
            decision = evaluate(documents, action, resource)
        except UnsupportedPolicy as exc:
            return Denial(session.role_name, action, resource, f"policy not evaluated locally: {exc}")
        if decision != "allow":
            reason = "explicit deny" if decision == "deny" else "no identity-based policy allows it"
            return Denial(session.role_name, action, resource, reason)
    return None


def check(
    session: EnforcedSession, service: str, action: str, body: dict[str, Any], *, region: str, account: str
) -> Denial | None:
    """The refusal of this call by `session`'s role (recorded), or None when the role allows it."""
    full_action = f"{service}:{action}"
    try:
        resources = resources_of(service, action, body, region=region, account=account)
    except KeyError:
        denial: Denial | None = Denial(
            session.role_name, full_action, "?", "no resource mapping for this action in the local check"
        )
    else:
        denial = _decide(session, full_action, resources) if resources else None
    if denial is None:
        return None
    denial = Denial(denial.role, denial.action, denial.resource, denial.reason, account)
    record(denial, session.denials_path)
    return denial


def denied_message(denial: Denial) -> str:
    """AWS's AccessDenied message for `denial`."""
    return (
        f"User: arn:aws:sts::{denial.account}:assumed-role/{denial.role} is not authorized to perform: "
        f"{denial.action} on resource: {denial.resource} because {denial.reason}"
    )
