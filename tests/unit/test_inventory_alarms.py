"""The inventory's [alarms] table: exact names and prefixes, runbook commands validated at load (errors name
the key)."""

from __future__ import annotations

import pytest

from shared.inventory import Inventory, InventoryError

BASE = """
[targets.payment]
environment = "prod"
ecs = { cluster = "demo", service = "payment" }
log_groups = ["/demo/payment"]

[targets.search]
ecs = { cluster = "demo", service = "search" }
"""


def _load(alarms: str) -> Inventory:
    return Inventory.from_toml(BASE + alarms, source="inv.toml")


def test_exact_name_first_then_the_longest_prefix() -> None:
    # Given an exact alarm, a broad prefix and a narrower prefix
    inventory = _load(
        """
[alarms.payment-5xx]
target = "payment"
channel = "C0OPS"
runbook = ["/ops-status payment", "/ops-logs payment --since 30m ERROR", "/ops-restart payment"]

[alarms."pay"]
prefix = true
target = "payment"
channel = "C0BROAD"

[alarms."payment-"]
prefix = true
target = "payment"
channel = "C0NARROW"
"""
    )
    # Then lookups pick the exact entry, else the longest prefix, else nothing
    key, route = inventory.alarm("payment-5xx") or ("", None)
    assert key == "payment-5xx" and route is not None and route.channel == "C0OPS"
    assert len(route.runbook) == 3
    assert inventory.alarm("payment-latency") == ("payment-", inventory.alarms["payment-"])
    assert inventory.alarm("payroll-down") == ("pay", inventory.alarms["pay"])
    assert inventory.alarm("search-5xx") is None


def test_an_exact_key_does_not_match_longer_names() -> None:
    inventory = _load('[alarms.payment]\ntarget = "payment"\nchannel = "C0OPS"\n')
    assert inventory.alarm("payment") is not None
    assert inventory.alarm("payment-5xx") is None


@pytest.mark.parametrize(
    ("alarms", "says"),
    [
        ('[alarms.a]\ntarget = "payment"\nchannel = "C0OPS"\nrunbook = ["/ops-nope payment"]', "alarms.a.runbook"),
        ('[alarms.a]\ntarget = "payment"\nchannel = "C0OPS"\nrunbook = ["/ops-nope payment"]', "not a command"),
        ('[alarms.a]\ntarget = "payment"\nchannel = "C0OPS"\nrunbook = ["/ops-logs payment --since 99x"]', "since"),
        ('[alarms.a]\ntarget = "payment"\nchannel = "C0OPS"\nrunbook = ["/ops-restart"]', "alarms.a.runbook"),
        ('[alarms.a]\ntarget = "payment"\nchannel = "C0OPS"\nrunbook = ["/ops-logs search"]', "search"),
        ('[alarms.a]\ntarget = "nowhere"\nchannel = "C0OPS"', "alarms.a.target"),
        ('[alarms.a]\ntarget = "payment"\nchannel = "#ops"', "alarms.a.channel"),
        ('[alarms.a]\ntarget = "payment"\nchannel = "C0OPS"\ncolour = "red"', "alarms.a.colour"),
        (
            '[alarms.a]\ntarget = "payment"\nchannel = "C0OPS"\nrunbook = ' + str(["/ops-status payment"] * 6),
            "alarms.a.runbook",
        ),
    ],
)
def test_bad_entries_are_refused_at_load_naming_the_key(alarms: str, says: str) -> None:
    with pytest.raises(InventoryError, match=says) as caught:
        _load(alarms)
    assert "inv.toml" in str(caught.value)


def test_the_documented_example_loads() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "docs" / "operating.md").read_text()
    section = readme[readme.index("## Alarms in the channel") :]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    inventory = Inventory.from_toml(BASE.replace("[targets.search]", "[targets.checkout]") + example)
    assert inventory.alarm("checkout-latency") is not None
    assert inventory.alarm("payment-5xx") is not None
