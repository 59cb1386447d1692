"""The policy applied to a job: its command, its target's environment (from the inventory), who and where."""

from __future__ import annotations

from shared.commands import find_command, spec_for_kind
from shared.inventory import Inventory
from shared.jobs import JobEnvelope
from shared.policy import Decision, GroupMembers, PolicyRequest, decide


def policy_request(job: JobEnvelope, inventory: Inventory) -> PolicyRequest:
    spec = spec_for_kind(job.kind)
    environment = None
    if spec is not None and spec.subject is not None and spec.accepts is not None:
        environment = inventory.environment_of(spec.accepts, str(getattr(job.args, spec.subject)))
    elif spec is not None and spec.reads_about is not None:  # /ops-audit payment: a read of prod
        about = getattr(job.args, spec.reads_about, None)
        environment = inventory.environment_named(str(about)) if about else None
    return PolicyRequest(
        command=job.command,
        mutating=bool(spec and spec.mutating),
        environment=environment,
        user=job.requester.user_id,
        channel=job.requester.channel_id,
    )


def check(job: JobEnvelope, inventory: Inventory, members: GroupMembers | None = None) -> Decision:
    """The inventory's policy decision on the job (`members` None: user groups are unknown, as in the ack)."""
    spec = spec_for_kind(job.kind)
    if spec is not None and not spec.guarded:  # anyone may ask; the operation decides (/ops-cancel)
        return Decision(allowed=True)
    request = policy_request(job, inventory)
    return decide(inventory.policy, request) if members is None else decide(inventory.policy, request, members)


def may_read(
    inventory: Inventory,
    command: str,
    environment: str | None,
    user: str,
    channel: str,
    members: GroupMembers | None = None,
) -> bool:
    """Whether the policy admits `user` (in `channel`) to `command` in `environment`: what a listing of several
    environments (`/ops-jobs`, App Home) shows them, and which audit details (an error with a role ARN) they
    read. Undecided (a user group nobody could list) is no."""
    spec = find_command(command)
    request = PolicyRequest(
        command=command,
        mutating=bool(spec and spec.mutating),
        environment=environment,
        user=user,
        channel=channel,
    )
    decision = decide(inventory.policy, request) if members is None else decide(inventory.policy, request, members)
    return decision.allowed is True
