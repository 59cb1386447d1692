"""/ops-build <job> [key=value ...]: a Jenkins job over its REST API (python-jenkins: user API token, CSRF
crumb fetched and sent by the client), followed from the queue item to the build to its result."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from shared import blockkit
from shared.commands.builtin.build import BuildArgs
from shared.jobs import JobEnvelope
from worker_function import job_messages
from worker_function.errors import PermanentJobError
from worker_function.operations import JOB_MARKER, OperationContext, Preview, StepResult, StepState, Wait
from worker_function.operations.iam import Grant
from worker_function.operations.protocols import Resumable
from worker_function.store.intents import Intent
from worker_function.tracking import Stopped

#: Build results: SUCCESS is success, UNSTABLE is a warning, the others failed.
_RESULTS = {"SUCCESS": True, "UNSTABLE": None, "NOT_BUILT": None}


class State(StepState):
    """The Jenkins job a build follows: its queue item, then (once Jenkins started it) its build."""

    job: str
    queue_item: int = 0
    build: int | None = None
    url: str | None = None


#: How many of the job's newest builds a retry looks through for the one this job started.
RECONCILE_BUILDS = 10


@dataclass(frozen=True)
class QueueBuild:
    """build_job takes no client token: the build carries the intent's token as parameter `OPSBOT_JOB_ID`
    (the Jenkins job must declare it), and a retry looks for it in the queue, then in the newest builds."""

    ctx: OperationContext
    name: str
    parameters: dict[str, str]
    intent: Intent

    def call(self, intent: Intent) -> dict[str, int]:
        with _jenkins_errors(f"cannot start Jenkins job `{self.name}`"):
            item = self.ctx.jenkins.build_job(self.name, {**self.parameters, JOB_MARKER: intent.token})
        return {"queue_item": int(item)}

    def reconcile(self, intent: Intent) -> dict[str, int] | None:
        jenkins = self.ctx.jenkins
        with _jenkins_errors(f"cannot read the queue and builds of Jenkins job `{self.name}`"):
            for item in jenkins.get_queue_info():
                if (item.get("task") or {}).get("name") in (self.name, self.name.rsplit("/", 1)[-1]) and _marked(
                    item, intent
                ):
                    return {"queue_item": int(item["id"])}
            for build in (jenkins.get_job_info(self.name).get("builds") or [])[:RECONCILE_BUILDS]:
                if _marked(jenkins.get_build_info(self.name, int(build["number"])), intent):
                    return {"build": int(build["number"])}
        return None

    def assumed(self, intent: Intent) -> dict[str, int]:
        raise AssertionError("Jenkins shows its queue and builds: never unknowable")


def _marked(item: dict[str, Any], intent: Intent) -> bool:
    """The queue item or build carries the intent's token as its OPSBOT_JOB_ID parameter."""
    for action in item.get("actions") or []:
        for parameter in (action or {}).get("parameters") or []:
            if parameter.get("name") == JOB_MARKER and parameter.get("value") == intent.token:
                return True
    return False


@contextmanager
def _jenkins_errors(what: str) -> Iterator[None]:
    """Jenkins errors no retry can fix (no such job, refused credentials) become `PermanentJobError`;
    the others (connection refused, 5xx) propagate, and SQS retries the step."""
    import jenkins

    try:
        yield
    except jenkins.NotFoundException as exc:
        raise PermanentJobError(f"{what}: Jenkins has no such job") from exc
    except jenkins.JenkinsException as exc:
        text = str(exc)
        if "[401]" in text or "[403]" in text:
            raise PermanentJobError(f"{what}: Jenkins refused the credentials") from exc
        if "does not exist" in text:
            raise PermanentJobError(f"{what}: {text}") from exc
        raise


class BuildOperation:
    """The operation of `build` (see the module's docstring)."""

    state = State
    effects = (QueueBuild,)
    permissions: tuple[Grant, ...] = ()

    def run(self, args: BuildArgs, job: JobEnvelope, ctx: OperationContext) -> StepResult:
        name = ctx.inventory.jenkins_job(args.job).job
        intent = ctx.intent(job, "jenkins-build", f"build {name}", jenkins_job=name)
        found = ctx.effect(QueueBuild(ctx, name, dict(args.parameters), intent))
        state = State(job=name, queue_item=found.get("queue_item", 0), build=found.get("build"), summary="queued")
        params = blockkit.escape(blockkit.shorten(", ".join(f"{k}={v}" for k, v in args.parameters.items()), 300))
        where = f"item {state.queue_item}" if state.build is None else f"#{state.build}"
        headline = f"Jenkins `{name}` queued ({where})" + (f" with {params}" if params else "") + "."
        return Wait(progress=job_messages.progress(headline), state=state, delay_s=ctx.poll_delay())

    def preview(self, args: BuildArgs, job: JobEnvelope, ctx: OperationContext) -> Preview:
        """The Jenkins job's last build and queue (read-only), and the build that would be queued."""
        name = ctx.inventory.jenkins_job(args.job).job
        with _jenkins_errors(f"cannot read Jenkins job `{name}`"):
            info = ctx.jenkins.get_job_info(name)
        last = next(iter(info.get("builds") or []), None)  # newest first
        now = [f"Jenkins `{blockkit.escape(name)}`: " + (f"last build #{last['number']}" if last else "no builds yet")]
        if last:
            with _jenkins_errors(f"cannot read Jenkins build {name} #{last['number']}"):
                built = ctx.jenkins.get_build_info(name, int(last["number"]))
            result = "building" if built.get("building") else str(built.get("result") or "?")
            now[0] += f" {blockkit.escape(result)}"
        if info.get("inQueue"):
            now.append("A build of it waits in the Jenkins queue")
        params = blockkit.escape(blockkit.shorten(", ".join(f"{k}={v}" for k, v in args.parameters.items()), 300))
        change = f"queue a build of Jenkins `{blockkit.escape(name)}`" + (f" with {params}" if params else "")
        return Preview(now=now, change=change + ", then follow it to its result")

    def resume(self, args: BuildArgs, job: JobEnvelope, ctx: OperationContext, state: State) -> StepResult:
        name = state.job
        if state.build is None:
            with _jenkins_errors(f"cannot read Jenkins queue item {state.queue_item}"):
                item = ctx.jenkins.get_queue_item(state.queue_item)
            if item.get("cancelled"):
                return job_messages.outcome(False, f"Jenkins `{name}` was cancelled in the queue.", in_channel=True)
            executable = item.get("executable")
            if not executable:
                why = blockkit.escape(blockkit.shorten(item.get("why") or "waiting", 300))
                return Wait(
                    progress=job_messages.progress(f"Jenkins `{name}` waits in the queue: {why}"),
                    state=state.changed(summary=f"queued: {why}"),
                    delay_s=ctx.poll_delay(),
                )
            state = state.changed(build=int(executable["number"]), url=executable.get("url"))
        number = state.build
        with _jenkins_errors(f"cannot read Jenkins build {name} #{number}"):
            info = ctx.jenkins.get_build_info(name, number)
        url = info.get("url") or state.url
        if info.get("building") or info.get("result") is None:
            return Wait(
                progress=job_messages.progress(f"Jenkins `{name}` #{number} is building.", link=url, label="build"),
                state=state.changed(summary=f"#{number} running"),
                delay_s=ctx.poll_delay(),
            )
        result = str(info["result"])
        took = blockkit.humanize_seconds(int(info.get("duration", 0)) / 1000)
        return job_messages.outcome(
            _RESULTS.get(result, False),
            f"Jenkins `{name}` #{number} {result} in {took}.",
            link=url,
            label=f"{name} #{number}",
            in_channel=True,
        )

    def stop(self, args: BuildArgs, job: JobEnvelope, ctx: OperationContext, state: State) -> Stopped:
        """/ops-cancel: the queue item cancelled while it waits, else the build stopped; one that ended is said so."""
        name, number = state.job, state.build
        with _jenkins_errors(f"cannot stop Jenkins job `{name}`"):
            if number is None:
                item = ctx.jenkins.get_queue_item(state.queue_item)
                if item.get("cancelled"):
                    return Stopped(lines=[f"Jenkins queue item {state.queue_item} of `{name}` was cancelled already"])
                if not item.get("executable"):
                    ctx.jenkins.cancel_queue(state.queue_item)
                    return Stopped(
                        lines=[f"Jenkins queue item {state.queue_item} of `{name}` cancelled", "no build ran"]
                    )
                number = int(item["executable"]["number"])
            info = ctx.jenkins.get_build_info(name, number)
            if not info.get("building") and info.get("result") is not None:
                result = str(info["result"])
                return Stopped(lines=[f"Jenkins `{name}` #{number} had already ended: {result}"], completed=result)
            ctx.jenkins.stop_build(name, number)
        return Stopped(lines=[f"Jenkins `{name}` #{number} stopped (it ends ABORTED)", "no later step runs"])


OPERATION: Resumable[BuildArgs, Any] = BuildOperation()
