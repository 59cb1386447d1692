"""What the worker runs for `/cdn-invalidate`: one CloudFront invalidation, exactly once, followed until it completes.

The invalidation is the command's one side effect, made through opsbot's intent door (`ctx.effect`): the intent is
written first; CreateInvalidation carries the intent's token as its `CallerReference`, CloudFront's own client
token (a repeat with the same reference and paths returns the first invalidation instead of making another); and
a retry that finds the intent reconciles: it lists the distribution's invalidations created since the newest one
seen before the call (CloudFront's own times, kept in the intent) and reads their reference. The steps after the
first follow the invalidation (`InvalidationState`) until CloudFront says `Completed`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from opsbot_cloudfront.spec import Distribution, InvalidateArgs
from shared import blockkit
from shared.jobs import JobEnvelope
from worker_function import job_messages
from worker_function.clients import Clients
from worker_function.errors import PermanentJobError, classify_aws_errors
from worker_function.operations import OperationContext, Preview, StepResult, StepState, Wait
from worker_function.operations.iam import Grant
from worker_function.store.intents import Intent

#: The intent's name (one invalidation per step).
EFFECT = "cloudfront-invalidation"
#: CloudFront answers these when retrying cannot help (no such distribution, a bad batch, too many at once).
PERMANENT_CODES = frozenset({"NoSuchDistribution", "InvalidArgument", "TooManyInvalidationsInProgress"})
#: Pages of ListInvalidations `reconcile` reads at most (100 a page, newest first on CloudFront).
MAX_PAGES = 5


class InvalidationState(StepState):
    """The invalidation a job follows."""

    distribution_id: str
    invalidation_id: str
    paths: int


@contextlib.contextmanager
def _cloudfront_errors(what: str) -> Iterator[None]:
    """CloudFront's permanent answers as `PermanentJobError` (told to the requester, never retried)."""
    with classify_aws_errors(what):
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") in PERMANENT_CODES:
                raise PermanentJobError(f"{what}: {error.get('Message') or error.get('Code')}") from exc
            raise


def distribution_of(ctx: OperationContext, args: InvalidateArgs, job: JobEnvelope) -> tuple[Distribution, Clients]:
    """The target's distribution (its `cloudfront` table) and the clients of its account."""
    target = ctx.inventory.target(args.target, "cloudfront")
    table = target.table("cloudfront")
    assert isinstance(table, Distribution)
    return table, ctx.aws_for(target, job)


@dataclass(frozen=True)
class CreateInvalidation:
    """CreateInvalidation with the intent's token as `CallerReference`; made is an invalidation of the
    distribution carrying that reference."""

    aws: Clients
    distribution_id: str
    paths: tuple[str, ...]
    intent: Intent

    def call(self, intent: Intent) -> dict[str, Any]:
        batch = {"Paths": {"Quantity": len(self.paths), "Items": list(self.paths)}, "CallerReference": intent.token}
        with _cloudfront_errors(f"cannot invalidate distribution `{self.distribution_id}`"):
            made = self.aws.once("cloudfront").create_invalidation(
                DistributionId=self.distribution_id, InvalidationBatch=batch
            )
        return dict(made["Invalidation"])

    def reconcile(self, intent: Intent) -> dict[str, Any] | None:
        """The invalidation carrying this intent's reference, among those CloudFront created since the newest it
        listed before the call (`intent.before["newest"]`, CloudFront's own clock: no skew with the worker's)."""
        cloudfront = self.aws.client("cloudfront")
        since = intent.before.get("newest", "")
        with _cloudfront_errors(f"cannot list the invalidations of distribution `{self.distribution_id}`"):
            for summary in invalidations(cloudfront, self.distribution_id):
                if _iso(summary.get("CreateTime")) < since:
                    continue
                found = cloudfront.get_invalidation(DistributionId=self.distribution_id, Id=summary["Id"])
                invalidation = dict(found["Invalidation"])
                if invalidation["InvalidationBatch"]["CallerReference"] == intent.token:
                    return invalidation
        return None

    def assumed(self, intent: Intent) -> dict[str, Any]:
        raise AssertionError("CloudFront lists its invalidations: never unknowable")


def invalidations(cloudfront: Any, distribution_id: str) -> Iterator[dict[str, Any]]:
    """The distribution's invalidations (summaries: Id, CreateTime, Status), page by page; `PermanentJobError` past
    `MAX_PAGES` pages (opsbot would not find its own among them in time)."""
    marker = ""
    for _ in range(MAX_PAGES):
        more = {"Marker": marker} if marker else {}
        page = cloudfront.list_invalidations(DistributionId=distribution_id, MaxItems="100", **more)
        listing = page["InvalidationList"]
        yield from listing.get("Items") or []
        marker = listing.get("NextMarker") or ""
        if not listing.get("IsTruncated") or not marker:
            return
    raise PermanentJobError(f"distribution `{distribution_id}` has more than {MAX_PAGES * 100} invalidations listed")


def newest(cloudfront: Any, distribution_id: str) -> str:
    """When CloudFront created the distribution's newest invalidation (ISO 8601, its clock), "" when it has none."""
    return max((_iso(i.get("CreateTime")) for i in invalidations(cloudfront, distribution_id)), default="")


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        moment = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # one width: compared as text
    return ""


def _paths_text(paths: tuple[str, ...] | list[str]) -> str:
    shown = ", ".join(blockkit.echo(p, 80) for p in list(paths)[:5])
    return shown + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")


class InvalidateOperation:
    """`/cdn-invalidate`: run (the invalidation), resume (follow it), preview (the distribution and the paths)."""

    state = InvalidationState
    effects = (CreateInvalidation,)
    #: What the worker's role is granted, on the distributions of the inventory's `cloudfront` targets only.
    permissions = (
        Grant(
            (
                "cloudfront:CreateInvalidation",
                "cloudfront:GetDistribution",
                "cloudfront:GetInvalidation",
                "cloudfront:ListInvalidations",
            ),
            on="cloudfront",
        ),
    )

    def run(self, args: InvalidateArgs, job: JobEnvelope, ctx: OperationContext) -> StepResult:
        distribution, aws = distribution_of(ctx, args, job)
        what = f"invalidate {len(args.paths)} path(s) of {distribution.distribution_id}"
        with _cloudfront_errors(f"cannot list the invalidations of distribution `{distribution.distribution_id}`"):
            seen = newest(aws.client("cloudfront"), distribution.distribution_id)
        intent = ctx.intent(job, EFFECT, what, newest=seen)
        made = ctx.effect(CreateInvalidation(aws, distribution.distribution_id, tuple(args.paths), intent))
        state = InvalidationState(
            distribution_id=distribution.distribution_id,
            invalidation_id=str(made["Id"]),
            paths=len(args.paths),
            summary=str(made.get("Status", "InProgress")),
        )
        return self._told(args, state, str(made.get("Status", "InProgress")), ctx)

    def resume(
        self, args: InvalidateArgs, job: JobEnvelope, ctx: OperationContext, state: InvalidationState
    ) -> StepResult:
        _, aws = distribution_of(ctx, args, job)
        with _cloudfront_errors(f"cannot follow invalidation `{state.invalidation_id}`"):
            found = aws.client("cloudfront").get_invalidation(
                DistributionId=state.distribution_id, Id=state.invalidation_id
            )
        return self._told(args, state, str(found["Invalidation"].get("Status", "")), ctx)

    def preview(self, args: InvalidateArgs, job: JobEnvelope, ctx: OperationContext) -> Preview:
        """The distribution's state and the invalidations it has in progress, from read-only calls."""
        distribution, aws = distribution_of(ctx, args, job)
        cloudfront = aws.client("cloudfront")
        with _cloudfront_errors(f"cannot read distribution `{distribution.distribution_id}`"):
            found = cloudfront.get_distribution(Id=distribution.distribution_id)["Distribution"]
            listing = cloudfront.list_invalidations(DistributionId=distribution.distribution_id, MaxItems="100")
        running = [i for i in listing["InvalidationList"].get("Items") or [] if i.get("Status") != "Completed"]
        now = [
            f"Distribution `{blockkit.escape(distribution.distribution_id)}` "
            f"({blockkit.escape(found.get('DomainName', '?'))}) {blockkit.escape(found.get('Status', '?'))}; "
            f"{len(running)} invalidation(s) in progress"
        ]
        change = (
            f"invalidate {_paths_text(args.paths)} in the cache of `{blockkit.escape(distribution.distribution_id)}`, "
            "then follow the invalidation until CloudFront says it completed"
        )
        return Preview(now=now, change=change)

    def _told(self, args: InvalidateArgs, state: InvalidationState, status: str, ctx: OperationContext) -> StepResult:
        what = f"Invalidation `{blockkit.escape(state.invalidation_id)}` of `{blockkit.escape(args.target)}`"
        if status == "Completed":
            headline = f"{what} completed: {_paths_text(args.paths)} cleared from CloudFront's edge caches."
            return job_messages.outcome(True, headline, in_channel=True)
        headline = f"{what} {blockkit.escape(status or 'InProgress')}: {_paths_text(args.paths)}."
        return Wait(
            progress=job_messages.progress(headline), state=state.changed(summary=status), delay_s=ctx.poll_delay()
        )


#: What opsbot's worker loads (`CommandSpec.operation`).
OPERATION = InvalidateOperation()
