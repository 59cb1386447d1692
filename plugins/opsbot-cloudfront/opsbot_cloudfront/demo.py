"""The local stack's demo distribution for `/cdn-invalidate` (imported by the local stack alone, never by opsbot's
functions): created once on the local AWS, named in the demo inventory as the target `web`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: The demo distribution's comment: how a second start finds the one it created.
COMMENT = "opsbot demo: web"
TARGET = "web"
#: What `opsbot local --demo` sends for this plugin, after its own commands.
COMMANDS = (f"/cdn-invalidate {TARGET} /index.html --dry-run",)


def provision(client: Callable[[str], Any]) -> str:
    """The demo distribution (created once, found by its comment after), as the inventory's TOML for it;
    `client(service)` is a boto3 client of the local AWS."""
    cloudfront = client("cloudfront")
    existing = cloudfront.list_distributions()["DistributionList"].get("Items") or []
    found = next((d for d in existing if d.get("Comment") == COMMENT), None)
    if found is None:
        found = cloudfront.create_distribution(DistributionConfig=_config())["Distribution"]
    return (
        f'\n[targets.{TARGET}]\nenvironment = "staging"\ndescription = "Web front end (CloudFront)"\n'
        f'cloudfront = {{ distribution_id = "{found["Id"]}" }}\n'
    )


def _config() -> dict[str, Any]:
    return {
        "CallerReference": "opsbot-demo-web",
        "Comment": COMMENT,
        "Enabled": True,
        "Origins": {
            "Quantity": 1,
            "Items": [{"Id": "web", "DomainName": "web.example.com", "CustomOriginConfig": _origin()}],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "web",
            "ViewerProtocolPolicy": "redirect-to-https",
            "MinTTL": 0,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
        },
    }


def _origin() -> dict[str, Any]:
    return {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"}
