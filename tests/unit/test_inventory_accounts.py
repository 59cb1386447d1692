"""Other AWS accounts and regions in the inventory: a target names an `[accounts.NAME]` table or its own role
and region; bad values are refused at load with the key named."""

from __future__ import annotations

import pytest

from shared.inventory import Inventory, InventoryError

ROLE = "arn:aws:iam::222222222222:role/opsbot-target"
ACCOUNTS = f"""
[accounts.prod-eu]
role_arn = "{ROLE}"
region = "eu-west-1"

[accounts.us-west]
region = "us-west-2"
"""


def load(text: str) -> Inventory:
    return Inventory.from_toml(ACCOUNTS + text)


def test_a_target_takes_its_accounts_role_and_region_unless_it_names_its_own():
    inventory = load(
        """
[targets.a]
account = "prod-eu"
ecs = { cluster = "c", service = "a" }

[targets.b]
account = "prod-eu"
region = "eu-central-1"
ecs = { cluster = "c", service = "b" }

[targets.c]
account = "us-west"
role_arn = "arn:aws-cn:iam::333333333333:role/ops/opsbot"
ec2 = { value = "bastion" }

[targets.d]
ecs = { cluster = "c", service = "d" }
"""
    )

    placed = {name: (t.role_arn, t.region) for name, t in inventory.targets.items()}
    assert placed == {
        "a": (ROLE, "eu-west-1"),
        "b": (ROLE, "eu-central-1"),
        "c": ("arn:aws-cn:iam::333333333333:role/ops/opsbot", "us-west-2"),
        "d": (None, None),
    }
    assert inventory.role_arns() == ["arn:aws-cn:iam::333333333333:role/ops/opsbot", ROLE]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        pytest.param('[targets.a]\naccount = "nope"\n', "targets.a.account: there is no [accounts.nope]", id="unknown"),
        pytest.param('[targets.a]\nrole_arn = "arn:aws:iam::1234:role/x"\n', "targets.a.role_arn", id="short-account"),
        pytest.param('[targets.a]\nrole_arn = "arn:aws:iam::222222222222:user/x"\n', "targets.a.role_arn", id="user"),
        pytest.param('[targets.a]\nregion = "EU-West-1"\n', "targets.a.region", id="bad-region"),
        pytest.param(
            '[accounts.x]\ndescription = "nothing"\n', "accounts.x: Value error, an account names", id="empty"
        ),
        pytest.param('[accounts.x]\nrole = "r"\n', "accounts.x.role", id="unknown-key"),
    ],
)
def test_bad_accounts_are_refused_naming_the_key(text, names):
    with pytest.raises(InventoryError) as raised:
        load(text)

    assert names in str(raised.value)
