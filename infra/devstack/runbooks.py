"""The runbooks the inventory defines in this repository, created in the local stack's moto as the CDK app deploys
them: the same definition file, the same state machine name (`shared.runbooks.state_machine_name`). moto runs
them (`infra.devstack.moto_sfn`); their own role is named but not enforced locally (its statements are checked in
tests/infra against the synthesized template)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.inventory import Inventory
from shared.runbooks import deployed_definition, state_machine_name

ROOT = Path(__file__).resolve().parents[2]


def provision_runbooks(sfn: Any, inventory: Inventory, *, account: str, root: Path = ROOT) -> dict[str, str]:
    """Each runbook with a definition file as a state machine (created once, its definition updated when it is
    there already): runbook name -> state machine ARN, what the worker's OPSBOT_RUNBOOK_ARNS says."""
    arns: dict[str, str] = {}
    existing = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines().get("stateMachines", [])}
    for name, book in sorted(inventory.runbooks.items()):
        if book.definition is None:
            continue
        definition = json.dumps(deployed_definition(book, root))
        machine = state_machine_name(name)
        if machine in existing:
            sfn.update_state_machine(stateMachineArn=existing[machine], definition=definition)
            arns[name] = existing[machine]
            continue
        role = f"arn:aws:iam::{account}:role/{machine}-role"
        arns[name] = sfn.create_state_machine(name=machine, definition=definition, roleArn=role)["stateMachineArn"]
    return arns
