"""The deployment as the CDK app synthesizes it, read by the local stack: each function's role and policies.

One source of truth: the local stack and the tests run each function under the policies the template gives
its role, not a second list. `template(inventory)` synthesizes the opsbot stack for an inventory (bundling
skipped: same template but the asset hashes) in a subprocess, once: the template is kept on disk under a key
hashing the CDK app's sources, cdk.json, the shared modules it reads and the inventory, so a test session or
`opsbot local` synthesizes only when one of them changed (about 10 s; a cached one is read in milliseconds).

`function_policies(template, role, resources)` gives every policy document attached to the role of the
function (`ack` or `worker`; `role_policies`: of any role, a runbook's state machine's too), inline
(`AWS::IAM::Policy`, the role's own `Policies`) and managed (`AWS::IAM::ManagedPolicy`), with `Ref`,
`Fn::GetAtt`, `Fn::Join`, `Fn::Sub` and `Fn::Select` resolved to the local resources' names and ARNs
(`LocalResources`). A reference to anything else fails loudly.

    python -m infra.devstack.deployed --inventory FILE --out FILE   (what `template` runs)
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.devstack.errors import CommandLineError

try:
    import fcntl
except ImportError:  # Windows: no lock, concurrent callers may synthesize the same template twice
    fcntl = None  # type: ignore[assignment]

ROOT = Path(__file__).resolve().parents[2]
#: What the template depends on besides the inventory (the CDK app and what it imports from shared/).
SOURCES = (
    "infra/aws",
    "cdk.json",
    "shared/settings.py",
    "shared/inventory.py",
    "shared/inventory_entries.py",
    "shared/holds.py",
    "shared/deployment.py",
    "shared/runbooks.py",
    "shared/parameters.py",
    "runbooks",
)
#: The account moto uses by default: the opsbot stack's account locally.
LOCAL_ACCOUNT = "123456789012"
#: Synth needs a Jenkins URL when the inventory names Jenkins jobs; it only becomes the worker's JENKINS_URL.
SYNTH_JENKINS_URL = "https://jenkins.example.com"
#: The functions, by their handler in the template.
HANDLERS = {"ack": "ack_function.handler.lambda_handler", "worker": "worker_function.handler.lambda_handler"}


class SynthUnavailable(CommandLineError):
    """The CDK app cannot be synthesized here (aws-cdk-lib not installed, or synth failed)."""


#: Where the templates are kept, when set (else `$XDG_CACHE_HOME/opsbot/synth`).
SYNTH_CACHE_ENV = "OPSBOT_SYNTH_CACHE"


def cache_dir() -> Path:
    base = os.environ.get(SYNTH_CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "opsbot", "synth"
    )
    return Path(base)


def _source_files() -> list[Path]:
    found: list[Path] = []
    for source in SOURCES:
        path = ROOT / source
        files = sorted(path.rglob("*.py")) + sorted(path.rglob("*.json")) if path.is_dir() else [path]
        found += [f for f in files if f.is_file() and "__pycache__" not in f.parts]
    return found


_digests: dict[tuple[tuple[str, int, int], ...], str] = {}


def _sources_digest() -> str:
    """The hash of the sources' contents, read again only when a file's size or mtime changed."""
    files = _source_files()
    stamp = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    if stamp not in _digests:
        digest = hashlib.sha256()
        for file in files:
            digest.update(str(file.relative_to(ROOT)).encode() + b"\0" + file.read_bytes() + b"\0")
        _digests[stamp] = digest.hexdigest()
    return _digests[stamp]


def template_key(inventory: str) -> str:
    return hashlib.sha256(f"{_sources_digest()}\0{inventory}".encode()).hexdigest()[:32]


_templates: dict[Path, dict[str, Any]] = {}


def template(inventory: str) -> dict[str, Any]:
    """The opsbot stack's CloudFormation template for this inventory (TOML text), from the cache or synthesized.
    The caller must not change it (it is shared within the process). Concurrent callers (pytest-xdist workers,
    several `opsbot local`) wanting the same template synthesize it once: the others wait on its lock file and
    read it."""
    path = cache_dir() / f"{template_key(inventory)}.json"
    if path in _templates:
        return _templates[path]
    loaded = _read_cached(path)
    if loaded is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _synth_lock(path):
            loaded = _read_cached(path)  # another process may have written it while this one waited
            if loaded is None:
                _synthesize_to(inventory, path)
                loaded = json.loads(path.read_text())
    _templates[path] = loaded
    return loaded


def _read_cached(path: Path) -> dict[str, Any] | None:
    try:
        loaded: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return loaded


@contextlib.contextmanager
def _synth_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on `path`'s lock file (none where `fcntl` is missing: then both synthesize)."""
    if fcntl is None:
        yield
        return
    with open(path.with_suffix(".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _synthesize_to(inventory: str, path: Path) -> None:
    """Synthesize in a subprocess (jsii and the CDK stay out of this process) and write the template to `path`."""
    with tempfile.TemporaryDirectory(prefix="opsbot-synth-") as work:
        inventory_file = Path(work) / "inventory.toml"
        inventory_file.write_text(inventory)
        out = Path(work) / "template.json"
        env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "18,20"}
        result = subprocess.run(
            [sys.executable, "-m", __name__, "--inventory", str(inventory_file), "--out", str(out)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            raise SynthUnavailable(f"cannot synthesize the CDK app: {(result.stderr or result.stdout)[-2000:]}")
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            handle.write(out.read_text())
        os.replace(tmp, path)  # atomic: a reader never sees half a template


#: The inventory's tables the CDK app never reads: who may run what, and who may trigger at all. The roles'
#: policies do not depend on them (tests/infra/test_iam.py proves it on a synth with and without them).
NOT_IN_IAM = ("policy", "intake")
_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def iam_inventory(inventory: str) -> str:
    """`inventory` without its [policy] and [intake] tables (`NOT_IN_IAM`), for the roles' template: inventories
    that differ only there (most tests' do) share one synth, also when those tables came last (the blank lines left
    at the end are dropped). When the text cannot be cut that way (a table written inline, TOML the loader refuses),
    `inventory` as it is."""
    kept: list[str] = []
    skipping = False
    for line in inventory.splitlines(keepends=True):
        header = _HEADER.match(line)
        if header is not None:
            first = header.group(1).split(".", 1)[0].strip().strip("\"'")
            skipping = first in NOT_IN_IAM
        if not skipping:
            kept.append(line)
    stripped = "".join(kept)
    try:
        whole, cut = tomllib.loads(inventory), tomllib.loads(stripped)
    except tomllib.TOMLDecodeError:
        return inventory
    if {k: v for k, v in whole.items() if k not in NOT_IN_IAM} != cut:
        return inventory
    return stripped.rstrip() + "\n"


def _synthesize(inventory_file: str) -> dict[str, Any]:
    try:
        from infra.aws.app import build_app
    except ImportError as exc:
        raise SynthUnavailable(f"the CDK app needs opsbot[cdk] installed ({exc})") from None
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    app, stack = build_app(
        {
            **context,
            "aws:cdk:bundling-stacks": [],
            "inventory": inventory_file,
            "jenkinsUrl": SYNTH_JENKINS_URL,
            "workerAccount": LOCAL_ACCOUNT,
        }
    )
    assembly = app.synth()
    result: dict[str, Any] = assembly.get_stack_by_name(stack.stack_name).template
    return result


# --- Reading the template ------------------------------------------------------------------------------------


@dataclass
class LocalResources:
    """The local stand-ins of the template's resources: what a `Ref` or `Fn::GetAtt` resolves to.

    `tables` maps the template's table names (shared/settings.py) to the local ones (tests use fresh names)."""

    region: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    tables: Mapping[str, str]
    account: str = LOCAL_ACCOUNT
    secret_arn: str | None = None
    extra: dict[str, dict[str, str]] = field(default_factory=dict)

    def table_arn(self, name: str) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}"


class UnresolvedReference(ValueError):
    """A reference the local stack has no stand-in for."""


class Resolver:
    """Resolves CloudFormation intrinsics of one template against the local resources."""

    def __init__(self, template: Mapping[str, Any], local: LocalResources) -> None:
        self.resources: Mapping[str, Any] = template["Resources"]
        self.local = local
        self._refs: dict[str, dict[str, str]] = {
            "AWS::Partition": {"Ref": "aws"},
            "AWS::Region": {"Ref": local.region},
            "AWS::AccountId": {"Ref": local.account},
            "AWS::URLSuffix": {"Ref": "amazonaws.com"},
            **self._resource_values(),
            **local.extra,
        }

    def _resource_values(self) -> dict[str, dict[str, str]]:
        values: dict[str, dict[str, str]] = {}
        local = self.local
        queues = {k: v for k, v in self.resources.items() if v["Type"] == "AWS::SQS::Queue"}
        jobs = [k for k, v in queues.items() if "RedrivePolicy" in v.get("Properties", {})]
        for logical_id in jobs:
            values[logical_id] = {
                "Ref": local.queue_url,
                "Arn": local.queue_arn,
                "QueueName": local.queue_arn.split(":")[-1],
            }
            target = queues[logical_id]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]
            dlq = target["Fn::GetAtt"][0] if isinstance(target, dict) and "Fn::GetAtt" in target else None
            if dlq:
                values[dlq] = {"Ref": local.dlq_url, "Arn": local.dlq_arn, "QueueName": local.dlq_arn.split(":")[-1]}
        for logical_id, resource in self.resources.items():
            kind, props = resource["Type"], resource.get("Properties", {})
            if kind == "AWS::DynamoDB::Table":
                name = local.tables.get(props.get("TableName", ""), props.get("TableName", logical_id))
                values[logical_id] = {"Ref": name, "Arn": local.table_arn(name)}
            elif kind == "AWS::SecretsManager::Secret":
                arn = (
                    local.secret_arn
                    or f"arn:aws:secretsmanager:{local.region}:{local.account}:secret:{logical_id}-local"
                )
                values[logical_id] = {"Ref": arn}
            elif kind == "AWS::Logs::LogGroup":
                name = props.get("LogGroupName") or f"/aws/lambda/{logical_id}"
                values[logical_id] = {
                    "Ref": name,
                    "Arn": f"arn:aws:logs:{local.region}:{local.account}:log-group:{name}:*",
                }
            elif kind == "AWS::SNS::Topic":
                name = props.get("TopicName") or logical_id
                values[logical_id] = {"Ref": f"arn:aws:sns:{local.region}:{local.account}:{name}", "TopicName": name}
            elif kind == "AWS::StepFunctions::StateMachine":
                name = props.get("StateMachineName") or logical_id
                arn = f"arn:aws:states:{local.region}:{local.account}:stateMachine:{name}"
                values[logical_id] = {"Ref": arn, "Arn": arn, "Name": name}
            elif kind == "AWS::IAM::Role":
                name = props.get("RoleName") or logical_id
                values[logical_id] = {"Ref": name, "Arn": f"arn:aws:iam::{local.account}:role/{name}"}
        return values

    def _value(self, logical_id: str, attribute: str) -> str:
        found = self._refs.get(logical_id, {}).get(attribute)
        if found is None:
            kind = self.resources.get(logical_id, {}).get("Type", "a parameter")
            raise UnresolvedReference(f"no local value for {logical_id}.{attribute} ({kind})")
        return found

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._value(arg, "Ref")
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self._value(logical_id, attribute)
            if key == "Fn::Join":
                separator, parts = arg
                return separator.join(str(self.resolve(p)) for p in self.resolve(parts))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                separator, text = arg
                return str(self.resolve(text)).split(separator)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

                def substitute(match: re.Match[str]) -> str:
                    name = match.group(1)
                    if name in variables:
                        return str(variables[name])
                    logical_id, _, attribute = name.partition(".")
                    return self._value(logical_id, attribute or "Ref")

                return re.sub(r"\$\{([^}!][^}]*)\}", substitute, text)
            if key.startswith("Fn::"):
                raise UnresolvedReference(f"{key} is not resolved locally")
        return {k: self.resolve(v) for k, v in value.items()}


def function_role(template: Mapping[str, Any], function: str) -> str:
    """The logical id of the role of the function `ack` or `worker`."""
    handler = HANDLERS[function]
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Lambda::Function" and props.get("Handler") == handler:
            role = props["Role"]
            return str(role["Fn::GetAtt"][0])
    raise UnresolvedReference(f"no function with handler {handler} in the template")


def _names_role(roles: Iterable[Any], role_id: str) -> bool:
    return any(isinstance(r, dict) and r.get("Ref") == role_id for r in roles)


@dataclass(frozen=True)
class RolePolicies:
    """A function's role as the template has it: its policy documents, resolved, by kind."""

    #: (name, document) of inline policies: the role's own `Policies` and `AWS::IAM::Policy` resources naming it.
    inline: list[tuple[str, dict[str, Any]]]
    #: (name, document) of `AWS::IAM::ManagedPolicy` resources attached to it (own or by `Roles`).
    managed: list[tuple[str, dict[str, Any]]]

    @property
    def documents(self) -> list[dict[str, Any]]:
        return [d for _, d in self.inline + self.managed]


def function_policies(template: Mapping[str, Any], function: str, local: LocalResources) -> RolePolicies:
    """Every policy document of the function's role, resolved against `local` (`role_policies`)."""
    return role_policies(template, function_role(template, function), local)


def state_machine_roles(template: Mapping[str, Any]) -> dict[str, str]:
    """The logical id of the role of each state machine the template deploys, by the state machine's name."""
    found: dict[str, str] = {}
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] != "AWS::StepFunctions::StateMachine":
            continue
        role = props.get("RoleArn")
        if not (isinstance(role, dict) and "Fn::GetAtt" in role):
            raise UnresolvedReference(f"the state machine {logical_id} has a role not in the template: {role}")
        found[str(props.get("StateMachineName") or logical_id)] = str(role["Fn::GetAtt"][0])
    return found


def role_policies(template: Mapping[str, Any], role_id: str, local: LocalResources) -> RolePolicies:
    """Every policy document of the template's role `role_id`, resolved against `local`. A managed policy of AWS's
    own (an ARN in ManagedPolicyArns that is not in the template) cannot be reproduced: it raises."""
    resolver = Resolver(template, local)
    resources = template["Resources"]
    role = resources[role_id]["Properties"]
    inline = [(p["PolicyName"], resolver.resolve(p["PolicyDocument"])) for p in role.get("Policies", [])]
    managed: list[tuple[str, dict[str, Any]]] = []
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Policy" and _names_role(props.get("Roles", []), role_id):
            inline.append((str(props.get("PolicyName", logical_id)), resolver.resolve(props["PolicyDocument"])))
        elif resource["Type"] == "AWS::IAM::ManagedPolicy" and _names_role(props.get("Roles", []), role_id):
            managed.append((logical_id, resolver.resolve(props["PolicyDocument"])))
    for arn in role.get("ManagedPolicyArns", []):
        ref = arn.get("Ref") if isinstance(arn, dict) else None
        if ref is None or resources.get(ref, {}).get("Type") != "AWS::IAM::ManagedPolicy":
            raise UnresolvedReference(f"the role {role_id} has a managed policy not in the template: {arn}")
        if all(name != ref for name, _ in managed):
            managed.append((ref, resolver.resolve(resources[ref]["Properties"]["PolicyDocument"])))
    return RolePolicies(inline=inline, managed=managed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.devstack.deployed")
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        result = _synthesize(args.inventory)
    except SynthUnavailable as exc:
        print(f"opsbot: {exc}", file=sys.stderr)
        return 1
    Path(args.out).write_text(json.dumps(result, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
