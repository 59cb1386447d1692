"""Deployment choices read from CDK context (`cdk.json`, or `cdk deploy -c key=value`).

- `inventory` (required): path to the inventory TOML file (shared/inventory.py; start from
  inventory.example.toml). It is validated here, at synth, with the worker's own loader, shipped
  inside the worker's asset, and the worker's IAM statements are derived from the resources it names.
- `jenkinsUrl` (needed when the inventory has `[jenkins_jobs]`): the worker's JENKINS_URL. The
  Jenkins user and API token are not context: they go in the stack's secret (`jenkins_user`,
  `jenkins_api_token`), next to the Slack credentials.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from constructs import Node

from infra.aws.worker_permissions import check_resource_names
from shared.inventory import Inventory, InventoryError

INVENTORY_CONTEXT = "inventory"
JENKINS_URL_CONTEXT = "jenkinsUrl"

#: Context of earlier versions: the one ECS cluster the worker could act on. The inventory names each service.
LEGACY_ECS_CLUSTER_CONTEXT = "ecsCluster"

MISSING_INVENTORY = (
    "opsbot needs an inventory to deploy: the targets, suites and Jenkins jobs its commands act on, from which "
    "the worker's IAM permissions are derived. Copy inventory.example.toml to inventory.toml, put your own "
    "ECS services, EC2 tags, log groups, CodeBuild projects and pipelines in it, then run "
    '`cdk deploy -c inventory=inventory.toml` (or set "inventory" in the context of cdk.json). '
    "An empty file is a valid inventory: a bot that knows no targets and may touch nothing."
)


#: The account the opsbot stack (its worker) is deployed in: needed when the inventory names roles in other
#: accounts, whose trust policies name the worker's role.
WORKER_ACCOUNT_CONTEXT = "workerAccount"


class ConfigError(ValueError):
    """A context value is missing or malformed."""


@dataclass(frozen=True)
class DeployConfig:
    """What differs between deployments of the same stack."""

    inventory: Inventory
    #: The inventory file exactly as read and validated: what the worker's asset ships.
    inventory_file: bytes
    #: Where it was read from (for messages).
    inventory_source: str
    jenkins_url: str | None = None
    #: The opsbot stack's account id (context workerAccount), when the inventory names other accounts' roles.
    worker_account: str | None = None

    @classmethod
    def from_context(cls, node: Node) -> DeployConfig:
        """Read and check the context; `ConfigError` (or the loader's `InventoryError`) stops the synth."""
        if node.try_get_context(LEGACY_ECS_CLUSTER_CONTEXT) is not None:
            raise ConfigError(
                f"context {LEGACY_ECS_CLUSTER_CONTEXT} is no longer read: the worker may act on exactly the ECS "
                "services the inventory names (targets.<name>.ecs). Remove it and pass -c inventory=<file>."
            )
        raw = node.try_get_context(INVENTORY_CONTEXT)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            raise ConfigError(MISSING_INVENTORY)
        if not isinstance(raw, str):
            raise ConfigError(f"context {INVENTORY_CONTEXT} must be the path of a TOML file, got {raw!r}")
        inventory, content = read_inventory(Path(raw).expanduser())
        jenkins_url = _jenkins_url(node.try_get_context(JENKINS_URL_CONTEXT))
        if inventory.jenkins_jobs and jenkins_url is None:
            raise ConfigError(
                f"the inventory {raw} names Jenkins jobs ({', '.join(sorted(inventory.jenkins_jobs))}) for /ops-build, "
                "so the worker needs to know where Jenkins is: deploy with "
                f"-c {JENKINS_URL_CONTEXT}=https://jenkins.example.com (your Jenkins's URL; its user and API token go "
                "in the stack's secret as jenkins_user and jenkins_api_token), or remove the [jenkins_jobs] tables "
                "from the inventory if you do not use /ops-build"
            )
        worker_account = node.try_get_context(WORKER_ACCOUNT_CONTEXT)
        if inventory.role_arns():
            if not (isinstance(worker_account, str) and re.fullmatch(r"[0-9]{12}", worker_account)):
                raise ConfigError(
                    f"the inventory {raw} names roles in other accounts ({', '.join(inventory.role_arns())}): pass "
                    f"-c {WORKER_ACCOUNT_CONTEXT}=<the 12-digit account id opsbot is deployed in>, whose worker role "
                    "their trust policies name"
                )
        else:
            worker_account = None
        return cls(
            inventory=inventory,
            inventory_file=content,
            inventory_source=raw,
            jenkins_url=jenkins_url,
            worker_account=worker_account,
        )


def read_inventory(path: Path) -> tuple[Inventory, bytes]:
    """The validated inventory and the bytes it was read from, or `InventoryError` naming the file (and the key)."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise InventoryError(
            f"cannot read the inventory {path} (context {INVENTORY_CONTEXT}): {exc.strerror or exc}"
        ) from None
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InventoryError(f"{path} is not valid TOML: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    inventory = Inventory.from_toml(text, source=str(path))
    check_resource_names(inventory, source=str(path))
    return inventory, content


def _jenkins_url(value: object) -> str | None:
    """An https URL without credentials in it (those live in the secret), or None when not given."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"context {JENKINS_URL_CONTEXT} must be a URL, got {value!r}")
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(
            f"context {JENKINS_URL_CONTEXT} must be an https:// URL (the worker sends the Jenkins API token "
            f"to it), got {value!r}"
        )
    if parts.username or parts.password:
        # Not echoed: it holds a credential.
        raise ConfigError(
            f"context {JENKINS_URL_CONTEXT} must not carry a user or password: they go in the stack's secret "
            "(jenkins_user, jenkins_api_token)"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"context {JENKINS_URL_CONTEXT} must be the bare Jenkins URL, got {value!r}")
    return value
