"""The runbooks the inventory defines in this repository, created in the local stack's moto as the CDK app deploys
them: the same definition (`shared.runbooks.deployed_definition`), the same state machine name
(`shared.runbooks.state_machine_name`), the same role (`infra.devstack.roles.provision_runbook_roles`). moto runs
them (`infra.devstack.moto_sfn`), each task as the machine's role: a call the role does not allow is refused
locally as on AWS."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.inventory import Inventory
from shared.runbooks import deployed_definition, state_machine_name

ROOT = Path(__file__).resolve().parents[2]


def provision_runbooks(
    sfn: Any, inventory: Inventory, *, account: str, root: Path = ROOT, roles: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Each runbook with a definition file as a state machine (created once, its definition and role updated when
    it is there already): runbook name -> state machine ARN, what the worker's OPSBOT_RUNBOOK_ARNS says. `roles`:
    each runbook's role as the stack deploys it (`infra.devstack.roles.provision_runbook_roles`), its tasks then
    run as that role; a runbook without one gets a role moto does not know, and its tasks run unchecked."""
    arns: dict[str, str] = {}
    existing = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines().get("stateMachines", [])}
    for name, book in sorted(inventory.runbooks.items()):
        if book.definition is None:
            continue
        definition = json.dumps(deployed_definition(book, root))
        machine = state_machine_name(name)
        role = (roles or {}).get(name) or f"arn:aws:iam::{account}:role/{machine}-role"
        if machine in existing:
            sfn.update_state_machine(stateMachineArn=existing[machine], definition=definition, roleArn=role)
            arns[name] = existing[machine]
            continue
        arns[name] = sfn.create_state_machine(name=machine, definition=definition, roleArn=role)["stateMachineArn"]
    return arns
