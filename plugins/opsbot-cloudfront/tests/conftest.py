"""The plugin's tests run only where the plugin is installed beside opsbot
(`pip install -e ./plugins/opsbot-cloudfront`).

opsbot's test kit gives the fixtures: `opsbot_harness` (the worker on moto and the local Slack, under the IAM the CDK
app derives, with the demo distribution in its inventory)."""

import pytest

pytest.importorskip("opsbot_cloudfront", reason="the opsbot-cloudfront plugin is not installed")

from opsbot_testkit.fixtures import opsbot_harness, opsbot_inventory_toml, opsbot_moto

__all__ = ["opsbot_harness", "opsbot_inventory_toml", "opsbot_moto"]
