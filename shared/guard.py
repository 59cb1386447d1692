"""The policy applied to a job: its command, its target's environment (from the inventory), who and where."""

from __future__ import annotations

from shared.commands import spec_for_kind
from shared.inventory import Inventory
from shared.jobs import JobEnvelope
from shared.policy import Decision, GroupMembers, PolicyRequest, decide


def policy_request(job: JobEnvelope, inventory: Inventory) -> PolicyRequest:
    spec = spec_for_kind(job.kind)
    environment = None
    if spec is not None and spec.subject is not None and spec.accepts is not None:
        environment = inventory.environment_of(spec.accepts, str(getattr(job.args, spec.subject)))
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
