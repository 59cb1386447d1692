"""A local CodeBuild and CodePipeline: the API calls opsbot makes that moto does not play.

moto 5.2.5 finishes every CodeBuild build SUCCEEDED on its first BatchGetBuilds, has no test reports and
no GetPipelineState. This server speaks the same JSON 1.1 protocol as AWS (`X-Amz-Target:
CodeBuild_20161006.StartBuild`, ...), so the worker's boto3 client only needs its endpoint pointed here
(`OPSBOT_SERVICE_ENDPOINTS=codebuild=...,codepipeline=...`). Each project is scripted: how long its
builds run, how they end, and the test report they leave. Time comes from `clock` (tests pass a
controllable one), so a 2-hour migration takes no real time.

IAM as AWS enforces it: a request signed with the access key of a session `enforce` was given (the worker's
role) is authorized on its resource against that role's policies (`infra.devstack.stand_in_iam`); requests
signed with any other key are not checked.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infra.devstack._http import BackgroundServer, Request, Response
from infra.devstack.stand_in_iam import EnforcedSession, access_key, check, denied_message

ACCOUNT_ID = "123456789012"
_JSON = "application/x-amz-json-1.1"
#: How long CodeBuild keeps a StartBuild idempotencyToken (CodeBuild API reference: 5 minutes).
TOKEN_TTL_S = 300.0
#: CodeBuild phases in order, with the share of a build's duration each takes.
_PHASES = (
    ("SUBMITTED", 0.0),
    ("QUEUED", 0.02),
    ("PROVISIONING", 0.05),
    ("DOWNLOAD_SOURCE", 0.03),
    ("INSTALL", 0.05),
    ("PRE_BUILD", 0.05),
    ("BUILD", 0.7),
    ("POST_BUILD", 0.05),
    ("UPLOAD_ARTIFACTS", 0.03),
    ("FINALIZING", 0.02),
)


@dataclass
class ProjectScript:
    """How the builds of one project go: run `duration_s`, end with `status`, leave `tests` (statusCounts)."""

    duration_s: float = 5.0
    status: str = "SUCCEEDED"
    tests: dict[str, int] | None = None


@dataclass
class Build:
    id: str
    project: str
    number: int
    started: float
    script: ProjectScript
    variables: dict[str, str] = field(default_factory=dict)
    stopped_at: float | None = None


@dataclass
class PipelineStage:
    name: str
    status: str = "Succeeded"
    summary: str = ""


class AwsError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class CodeBuildServer:
    """The local CodeBuild + CodePipeline (a context manager). `builds` lists every build started."""

    def __init__(self, *, port: int = 0, clock: Callable[[], float] = time.time, region: str = "us-east-1") -> None:
        self.clock = clock
        self.region = region
        self.projects: dict[str, ProjectScript] = {}
        self.pipelines: dict[str, list[PipelineStage]] = {}
        self.builds: dict[str, Build] = {}
        self._tokens: dict[str, tuple[float, str]] = {}
        self._numbers: dict[str, itertools.count[int]] = {}
        self._lock = threading.Lock()
        self._enforced: dict[str, EnforcedSession] = {}
        self._server = BackgroundServer(self.handle, port=port)

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> CodeBuildServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> CodeBuildServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting ---------------------------------------------------------------------------

    def add_project(
        self, name: str, *, duration_s: float = 5.0, status: str = "SUCCEEDED", tests: dict[str, int] | None = None
    ) -> None:
        with self._lock:
            self.projects[name] = ProjectScript(duration_s=duration_s, status=status, tests=tests)
            self._numbers.setdefault(name, itertools.count(1))

    def add_pipeline(self, name: str, stages: list[PipelineStage]) -> None:
        with self._lock:
            self.pipelines[name] = list(stages)

    def enforce(self, access_key_id: str, session: EnforcedSession) -> None:
        """Check every request signed with `access_key_id` against `session`'s role (see the module's doc)."""
        with self._lock:
            self._enforced[access_key_id] = session

    def builds_of(self, project: str) -> list[Build]:
        with self._lock:
            return [b for b in self.builds.values() if b.project == project]

    # -- HTTP --------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        target = request.header("x-amz-target")
        service, _, action = target.partition(".")
        try:
            body = json.loads(request.body or b"{}")
            handler = getattr(self, f"_{service.split('_')[0].lower()}_{action}", None)
            if request.method != "POST" or handler is None:
                raise AwsError("UnknownOperationException", f"{target or 'no X-Amz-Target'} is not played here")
            self._authorize(request, service.split("_")[0].lower(), action, body)
            with self._lock:
                payload = handler(body)
        except AwsError as exc:
            return Response(
                exc.status, json.dumps({"__type": exc.code, "message": exc.message}).encode(), {"Content-Type": _JSON}
            )
        except (ValueError, KeyError, TypeError) as exc:
            error = {"__type": "InvalidInputException", "message": f"bad request: {exc!r}"}
            return Response(400, json.dumps(error).encode(), {"Content-Type": _JSON})
        return Response(200, json.dumps(payload).encode(), {"Content-Type": _JSON})

    # -- IAM ---------------------------------------------------------------------------------

    def _authorize(self, request: Request, service: str, action: str, body: dict[str, Any]) -> None:
        """Raise AccessDeniedException when an enforced session's role does not allow this call."""
        with self._lock:
            session = self._enforced.get(access_key(request.header("authorization")))
        if session is None:
            return
        denial = check(session, service, action, body, region=self.region, account=ACCOUNT_ID)
        if denial is not None:
            raise AwsError("AccessDeniedException", denied_message(denial))

    # -- CodeBuild ---------------------------------------------------------------------------

    def _codebuild_StartBuild(self, body: dict[str, Any]) -> dict[str, Any]:
        project = body["projectName"]
        script = self.projects.get(project)
        if script is None:
            raise AwsError("ResourceNotFoundException", f"Project cannot be found: {project}")
        variables = {v["name"]: v["value"] for v in body.get("environmentVariablesOverride", [])}
        token = body.get("idempotencyToken")
        if token and token in self._tokens:  # CodeBuild keeps a token 5 minutes: the same build again
            first, build_id = self._tokens[token]
            if self.clock() - first < TOKEN_TTL_S:
                return {"build": self._build_json(self.builds[build_id])}
        build = Build(
            id=f"{project}:{uuid.uuid4()}",
            project=project,
            number=next(self._numbers[project]),
            started=self.clock(),
            script=script,
            variables=variables,
        )
        self.builds[build.id] = build
        if token:
            self._tokens[token] = (self.clock(), build.id)
        return {"build": self._build_json(build)}

    def _codebuild_ListBuildsForProject(self, body: dict[str, Any]) -> dict[str, Any]:
        builds = [b for b in self.builds.values() if b.project == body["projectName"]]
        if body["projectName"] not in self.projects:
            raise AwsError("ResourceNotFoundException", f"Project cannot be found: {body['projectName']}")
        newest_first = sorted(
            builds, key=lambda b: b.number, reverse=body.get("sortOrder", "DESCENDING") != "ASCENDING"
        )
        return {"ids": [b.id for b in newest_first[:100]]}

    def _codebuild_BatchGetBuilds(self, body: dict[str, Any]) -> dict[str, Any]:
        found = [self._build_json(self.builds[i]) for i in body["ids"] if i in self.builds]
        return {"builds": found, "buildsNotFound": [i for i in body["ids"] if i not in self.builds]}

    def _codebuild_StopBuild(self, body: dict[str, Any]) -> dict[str, Any]:
        build = self.builds.get(body["id"])
        if build is None:
            raise AwsError("ResourceNotFoundException", f"Build not found: {body['id']}")
        if build.stopped_at is None and not self._ended(build):
            build.stopped_at = self.clock()
        return {"build": self._build_json(build)}

    def _codebuild_BatchGetReports(self, body: dict[str, Any]) -> dict[str, Any]:
        reports, missing = [], []
        for arn in body["reportArns"]:
            build = next((b for b in self.builds.values() if self._report_arn(b) == arn), None)
            if build is None or build.script.tests is None:
                missing.append(arn)
                continue
            counts = dict(build.script.tests)
            reports.append(
                {
                    "arn": arn,
                    "type": "TEST",
                    "name": f"{build.project}-tests",
                    "reportGroupArn": arn.rsplit(":", 1)[0],
                    "executionId": self._arn(build),
                    "status": "FAILED" if counts.get("FAILED") else "SUCCEEDED",
                    "created": self._end_time(build),
                    "testSummary": {
                        "total": sum(counts.values()),
                        "statusCounts": counts,
                        "durationInNanoSeconds": int(build.script.duration_s * 1e9),
                    },
                }
            )
        return {"reports": reports, "reportsNotFound": missing}

    def _ended(self, build: Build) -> bool:
        return build.stopped_at is not None or self.clock() >= build.started + build.script.duration_s

    def _end_time(self, build: Build) -> float:
        return build.stopped_at if build.stopped_at is not None else build.started + build.script.duration_s

    def _arn(self, build: Build) -> str:
        return f"arn:aws:codebuild:{self.region}:{ACCOUNT_ID}:build/{build.id}"

    def _report_arn(self, build: Build) -> str:
        return f"arn:aws:codebuild:{self.region}:{ACCOUNT_ID}:report/{build.project}-tests:{build.id.split(':')[1]}"

    def _build_json(self, build: Build) -> dict[str, Any]:
        now = self.clock()
        ended = self._ended(build)
        elapsed = (self._end_time(build) if ended else now) - build.started
        phases: list[dict[str, Any]] = []
        at = build.started
        current = "COMPLETED"
        for name, share in _PHASES:
            length = build.script.duration_s * share
            if at > build.started + elapsed:
                break
            done = at + length <= build.started + elapsed
            phase: dict[str, Any] = {"phaseType": name, "startTime": at}
            if done:
                phase.update(endTime=at + length, durationInSeconds=int(length), phaseStatus="SUCCEEDED")
            else:
                current = name
            phases.append(phase)
            at += length
        if ended:
            current = "COMPLETED"
            status = "STOPPED" if build.stopped_at is not None else build.script.status
        else:
            status = "IN_PROGRESS"
        group = f"/aws/codebuild/{build.project}"
        stream = build.id.split(":", 1)[1]
        result: dict[str, Any] = {
            "id": build.id,
            "arn": self._arn(build),
            "buildNumber": build.number,
            "projectName": build.project,
            "startTime": build.started,
            "currentPhase": current,
            "buildStatus": status,
            "buildComplete": ended,
            "phases": phases,
            "initiator": "opsbot",
            "environment": {
                "type": "LINUX_CONTAINER",
                "image": "aws/codebuild/standard:7.0",
                "computeType": "BUILD_GENERAL1_SMALL",
                "environmentVariables": [
                    {"name": k, "value": v, "type": "PLAINTEXT"} for k, v in build.variables.items()
                ],
            },
            "logs": {
                "groupName": group,
                "streamName": stream,
                "deepLink": f"https://console.aws.amazon.com/cloudwatch/home?region={self.region}"
                f"#logEvent:group={group};stream={stream}",
            },
        }
        if ended:
            result["endTime"] = self._end_time(build)
            if build.script.tests is not None and build.stopped_at is None:
                result["reportArns"] = [self._report_arn(build)]
        return result

    # -- CodePipeline ------------------------------------------------------------------------

    def _codepipeline_GetPipelineState(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body["name"]
        stages = self.pipelines.get(name)
        if stages is None:
            raise AwsError(
                "PipelineNotFoundException", f"Account '{ACCOUNT_ID}' does not have a pipeline with name '{name}'"
            )
        return {
            "pipelineName": name,
            "pipelineVersion": 1,
            "stageStates": [
                {
                    "stageName": stage.name,
                    "latestExecution": {"pipelineExecutionId": f"exec-{i}", "status": stage.status},
                    "actionStates": [
                        {
                            "actionName": stage.name,
                            "latestExecution": {"status": stage.status, "summary": stage.summary},
                        }
                    ],
                }
                for i, stage in enumerate(stages)
            ],
        }
