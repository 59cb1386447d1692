"""`/cdn-invalidate <target> [path ...]`: its args, its spec, and the inventory's `cloudfront` target kind.

Loaded by both functions (the ack parses and checks with it): nothing here imports boto3 or the worker.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.commands.spec import HOUR, CommandSpec, TargetArgs
from shared.errors import UsageError
from shared.plugins import TargetKind

#: CloudFront accepts up to 3,000 paths per invalidation (15 with a wildcard); a chat command keeps to a few.
MAX_PATHS = 15
#: What a path may be: it starts with "/", no spaces or control characters, up to 4,000 characters (CloudFront's
#: limit is on the URL; `*` only at the end, as CloudFront's wildcard).
_PATH = re.compile(r"^/[!-~]{0,3999}$")
#: CloudFront distribution ids: upper-case letters and digits.
DISTRIBUTION_ID = r"^[A-Z0-9]{10,20}$"


#: One path as the args model keeps it.
Path = Annotated[str, Field(pattern=r"^/[!-~]{0,3999}$")]


class InvalidateArgs(TargetArgs):
    kind: Literal["cdn_invalidate"] = "cdn_invalidate"
    #: The paths to invalidate (`/*` when none are given).
    paths: tuple[Path, ...] = Field(default=("/*",), min_length=1, max_length=MAX_PATHS)


def parse_invalidate_words(words: list[str]) -> dict[str, Any]:
    """`<target> [path ...]`: each path starts with `/`; none given is everything (`/*`)."""
    if not words:
        raise UsageError("/cdn-invalidate needs a target (a CloudFront distribution of the inventory).")
    values: dict[str, Any] = {"target": words[0]}
    paths = words[1:]
    if len(paths) > MAX_PATHS:
        raise UsageError(f"/cdn-invalidate takes at most {MAX_PATHS} paths, got {len(paths)}.")
    for path in paths:
        if not _PATH.match(path) or "*" in path[:-1]:
            shown = path if len(path) <= 40 else path[:39] + "…"
            raise UsageError(f"a path starts with / and has no spaces (`*` only at its end), got '{shown}'.")
    if paths:
        values["paths"] = tuple(dict.fromkeys(paths))  # each path once
    return values


class Distribution(BaseModel):
    """A target's CloudFront distribution (`cloudfront = { distribution_id = "E2QWRUHEXAMPLE" }`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    distribution_id: str = Field(pattern=DISTRIBUTION_ID)


def distribution_arn(table: Distribution, partition: str, account: str) -> str:
    """CloudFront is global: its ARNs name no region."""
    return f"arn:{partition}:cloudfront::{account}:distribution/{table.distribution_id}"


#: The kind of target this plugin adds: a `cloudfront` table on an inventory target.
TARGET_KINDS = (TargetKind("cloudfront", Distribution, "CloudFront distributions", arn=distribution_arn),)

SPEC = CommandSpec(
    name="/cdn-invalidate",
    args_model=InvalidateArgs,
    description="Invalidate paths of a CloudFront distribution's cache (everything when no path is given) and "
    "follow the invalidation until it completes.",
    usage_hint="<target> [path ...]",
    parse_words=parse_invalidate_words,
    target="target",
    subject="target",
    accepts="cloudfront",  # type: ignore[arg-type]  (a plugin's target kind)
    max_age_s=HOUR,
    confirm=True,
    operation="opsbot_cloudfront.operation:OPERATION",
    rank=900,
)

#: The local stack's demo of this plugin: a module with `provision(client) -> TOML` and `COMMANDS` (the local stack
#: alone imports it).
DEMO = "opsbot_cloudfront.demo"
