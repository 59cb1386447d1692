"""/cdn-invalidate's words, and the `cloudfront` target kind in the inventory (no AWS, no Slack)."""

import pytest
from opsbot_cloudfront.spec import SPEC, Distribution

from shared.commands import find_command
from shared.errors import UsageError
from shared.inventory import Inventory, InventoryError

INVENTORY = """
[targets.web]
environment = "staging"
cloudfront = { distribution_id = "E2QWRUHEXAMPLE" }

[targets.payment]
ecs = { cluster = "c", service = "payment" }
"""


def test_the_command_is_registered_from_the_plugin():
    found = find_command("/cdn-invalidate")
    assert found is not None and found.plugin == "cloudfront" and found.args_model is SPEC.args_model
    assert SPEC.mutating and SPEC.confirm and SPEC.operation == "opsbot_cloudfront.operation:OPERATION"


def test_given_no_path_when_parsed_then_everything_is_invalidated():
    assert SPEC.parse("web").paths == ("/*",)
    assert SPEC.parse("web /index.html /css/* /index.html").paths == ("/index.html", "/css/*")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "needs a target"),
        ("web index.html", "starts with /"),
        ("web /a*b", "`*` only at its end"),
        ("web " + " ".join(f"/{i}" for i in range(16)), "at most 15 paths"),
        ("web/x", "target names are"),
    ],
)
def test_given_bad_words_when_parsed_then_the_person_is_told_in_plain_words(text, said):
    with pytest.raises(UsageError, match=None) as refused:
        SPEC.parse(text)
    assert said in str(refused.value)


def test_a_target_with_a_distribution_is_one_the_command_accepts():
    inventory = Inventory.from_toml(INVENTORY)
    assert inventory.names_for("cloudfront") == ["web"]
    assert inventory.target("web", "cloudfront").table("cloudfront") == Distribution(distribution_id="E2QWRUHEXAMPLE")
    assert inventory.target("payment", "ecs").table("cloudfront") is None


def test_a_bad_distribution_id_is_refused_naming_its_key():
    with pytest.raises(InventoryError, match=r"targets\.web.*cloudfront.*distribution_id"):
        Inventory.from_toml(INVENTORY.replace("E2QWRUHEXAMPLE", "e2-lower"))


def test_the_slack_manifest_lists_the_command():
    from infra.cli.manifest import build_manifest

    commands = build_manifest("https://example.com/slack/events")["features"]["slash_commands"]
    [mine] = [c for c in commands if c["command"] == "/cdn-invalidate"]
    assert mine["usage_hint"] == "<target> [path ...]" and "CloudFront" in mine["description"]
