"""/ops-scale <target> <count>: an ECS service's desired count."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BeforeValidator, Field

from shared.commands.spec import HOUR, CommandSpec, TargetArgs
from shared.commands.words import MAX_TASKS, whole_number

if TYPE_CHECKING:
    from shared.inventory import Inventory


class ScaleArgs(TargetArgs):
    kind: Literal["scale"] = "scale"
    #: The desired count of tasks; the inventory bounds it (`min` / `max` of the target's `ecs`).
    count: Annotated[int, BeforeValidator(whole_number)] = Field(ge=0, le=MAX_TASKS)


def bounds_problem(args: ScaleArgs, inventory: Inventory | None) -> str | None:
    """A count outside the target's bounds (the inventory's `min` / `max`, else the defaults)."""
    target = inventory.targets.get(args.target) if inventory is not None else None
    return target.ecs.count_refusal(args.target, args.count) if target is not None and target.ecs else None


SPEC = CommandSpec(
    name="/ops-scale",
    args_model=ScaleArgs,
    description="Set an ECS service's desired count, within the inventory's bounds, and follow it until the "
    "running count matches.",
    positional=("target", "count"),
    usage_hint="<target> <count>",
    target="target",
    subject="target",
    accepts="ecs",
    max_age_s=HOUR // 2,
    confirm=True,
    check=bounds_problem,
    field_words={"count": "the count"},
    invalid_words={"count": "{word} must be a whole number of tasks, got {got}."},
    rank=60,
)
