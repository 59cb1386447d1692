"""Who may run what: policy rules declared in the inventory file (`[[policy.rules]]`), and one pure
function deciding a request against them.

    [policy]
    contact = "#sre-oncall"                 # who to ask, when the refusing rule names nobody

    [[policy.rules]]
    name = "sre-restart-prod"
    commands = ["/ops-restart"]             # empty or left out: every command
    environments = ["prod"]                 # empty or left out: every environment
    user_groups = ["S0SRE"]                 # Slack user group ids; members resolved by the worker
    users = ["U0ALICE"]                     # Slack user ids
    channels = ["C0OPS"]                    # empty or left out: any channel
    ask = "<!subteam^S0SRE>"

Semantics. The rules that *apply* to a request are those listing its command (or none) and the
environment of its target (or none). With no rule applying, a request is allowed, except a mutating
command on `prod`, which is denied by the built-in rule `prod-needs-a-policy`. With rules applying, the
request is allowed when at least one of them admits the requester: the channel is one of its channels
(or it lists none) and the user is one of its users or a member of one of its user groups (or it lists
neither). Otherwise the first applying rule is named in the denial, with who to ask.

Locks and freezes (shared/holds.py) have three rules of their own, each naming people and the environments
it covers (none listed: every environment):

    [policy.lock]                           # who may lock, and lift anyone's lock
    user_groups = ["S0SRE"]
    [policy.freeze]                         # who may freeze, and end anyone's freeze
    users = ["U0ALICE"]
    environments = ["prod"]
    [policy.override_freeze]                # who may run mutating commands through a freeze (audited)
    user_groups = ["S0SRE"]

A `lock` or `freeze` rule decides only in the environments it covers; elsewhere the default holds.
Defaults: without `lock` (`freeze`), anyone may lock a target (freeze an environment) and only who did may
lift it before it lapses; with it, only whom it admits may, and they may lift anyone's. Without
`override_freeze`, nobody runs through a freeze. The general rules above apply to `/ops-lock` and the others
as to any command (they are not mutating: the built-in prod rule does not refuse them).

The ack decides from the static lists only (it never calls the Web API): a request that only a user
group could admit is passed on as undecided, and the worker decides it, resolving the group's members.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from shared.commands import find_command

Environment = Literal["prod", "staging", "dev", "test"]
SlackId = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2,32}$")]
RuleName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]

#: The built-in rule: mutating commands on prod are denied unless a rule allows them.
PROD_RULE = "prod-needs-a-policy"

#: Members of a user group, or None when they cannot be known here (the ack: no Web API).
GroupMembers = Callable[[str], frozenset[str] | None]


class _Model(BaseModel):
    # Built when an inventory is loaded (`build_models`), not at import: an ack without a policy never pays
    # for them (pydantic builds a model's validator in ~1 ms; bench/ section 1b).
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Rule(_Model):
    name: RuleName
    commands: list[str] = Field(default_factory=list)
    environments: list[Environment] = Field(default_factory=list)
    users: list[SlackId] = Field(default_factory=list)
    user_groups: list[SlackId] = Field(default_factory=list)
    channels: list[SlackId] = Field(default_factory=list)
    #: Who to ask for access, shown in the denial (free text: `<@U...>`, `<!subteam^S...>`, `#channel`).
    ask: str = Field(default="", max_length=200)
    #: Two-person approval: the request goes to `approval_channel`; one of these (user ids, or user group
    #: ids starting with S), never the requester, approves or rejects it.
    approvers: list[SlackId] = Field(default_factory=list)
    approval_channel: SlackId | None = None

    @model_validator(mode="after")
    def _approval_needs_a_channel(self) -> Rule:
        if bool(self.approvers) != (self.approval_channel is not None):
            raise ValueError("approvers and approval_channel go together")
        return self

    @field_validator("commands")
    @classmethod
    def _known_commands(cls, value: list[str]) -> list[str]:
        for name in value:
            if find_command(name) is None:
                raise ValueError(f"unknown command {name!r}")
        return [name.strip().lower() for name in value]

    def applies(self, command: str, environment: str | None) -> bool:
        if self.commands and command not in self.commands:
            return False
        return not self.environments or environment in self.environments

    def admits(self, user: str, channel: str, members: GroupMembers) -> bool | None:
        """True or False; None when only a user group could admit the user and its members are unknown."""
        if self.channels and channel not in self.channels:
            return False
        if not self.users and not self.user_groups:
            return True
        return _named(user, self.users, self.user_groups, members)

    def describe(self) -> str:
        who = _mentions(self.users, self.user_groups)
        parts = [("only " + ", ".join(who)) if who else "anyone"]
        if self.channels:
            parts.append("in " + ", ".join(f"<#{c}>" for c in self.channels))
        return " ".join(parts)


def _named(user: str, users: list[str], groups: list[str], members: GroupMembers) -> bool | None:
    """Whether the rule's users or user groups name `user`; None when only an unknown group could say."""
    if user in users:
        return True
    unknown = False
    for group in groups:
        found = members(group)
        if found is None:
            unknown = True
        elif user in found:
            return True
    return None if unknown else False


def _mentions(users: list[str], groups: list[str]) -> list[str]:
    return [f"<@{u}>" for u in users] + [f"<!subteam^{g}>" for g in groups]


class HoldRule(_Model):
    """Who may lock / freeze / run through a freeze (`[policy.lock]`, `[policy.freeze]`, `[policy.override_freeze]`)."""

    users: list[SlackId] = Field(default_factory=list)
    user_groups: list[SlackId] = Field(default_factory=list)
    #: The environments it covers (empty: all of them).
    environments: list[Environment] = Field(default_factory=list)
    ask: str = Field(default="", max_length=200)

    def covers(self, environment: str | None) -> bool:
        return not self.environments or environment in self.environments

    def admits(self, user: str, environment: str | None, members: GroupMembers) -> bool | None:
        """True or False (outside its environments: False); None when only an unknown user group could say."""
        if not self.covers(environment):
            return False
        return _named(user, self.users, self.user_groups, members)

    def describe(self) -> str:
        return ", ".join(_mentions(self.users, self.user_groups)) or "nobody"


class Policy(_Model):
    #: Who to ask when the refusing rule does not say.
    contact: str = Field(default="", max_length=200)
    rules: list[Rule] = Field(default_factory=list)
    #: Who may lock targets and lift anyone's lock (None: anyone locks, only the locker lifts).
    lock: HoldRule | None = None
    #: Who may freeze environments and end anyone's freeze (None: anyone freezes, only who froze ends it early).
    freeze: HoldRule | None = None
    #: Who may run mutating commands through a freeze, audited as an override (None: nobody).
    override_freeze: HoldRule | None = None

    def hold_rule(self, which: Literal["lock", "freeze"], environment: str | None) -> HoldRule | None:
        """The `lock` or `freeze` rule when it covers the environment; None: the default applies there."""
        rule = self.lock if which == "lock" else self.freeze
        return rule if rule is not None and rule.covers(environment) else None

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, value: list[Rule]) -> list[Rule]:
        seen: set[str] = set()
        for rule in value:
            if rule.name in seen or rule.name == PROD_RULE:
                raise ValueError(f"rule name {rule.name!r} is used twice (or is the built-in one)")
            seen.add(rule.name)
        return value


class PolicyRequest(_Model):
    """What a decision needs: the command, its target's environment (None: no target), who and where."""

    command: str
    mutating: bool
    environment: str | None
    user: str
    channel: str


class Approval(_Model):
    approvers: list[str]
    channel: str

    def could_approve(self, user: str, members: GroupMembers) -> bool | None:
        """True/False; None when only a user group could say and its members are unknown (the ack)."""
        if user in self.approvers:
            return True
        unknown = False
        for group in (a for a in self.approvers if a.startswith("S")):
            found = members(group)
            if found is None:
                unknown = True
            elif user in found:
                return True
        return None if unknown else False

    def could_reject(self, user: str, requester: str, members: GroupMembers) -> bool | None:
        """Reject: an approver (as `could_approve` says), or the requester withdrawing their own request."""
        return True if user == requester else self.could_approve(user, members)


class Decision(_Model):
    """allowed: True, False, or None (undecided: only a user group could admit; the worker decides).
    `approval`: the admitting rule asks for a second person's approval first."""

    allowed: bool | None
    rule: str | None = None
    reason: str = ""
    ask: str = ""
    approval: Approval | None = None


def _unknown(group: str) -> frozenset[str] | None:
    return None


def decide(policy: Policy, request: PolicyRequest, members: GroupMembers = _unknown) -> Decision:
    """Decide the request; `members` resolves user groups (the default knows none: the ack's case)."""
    applying = [rule for rule in policy.rules if rule.applies(request.command, request.environment)]
    where = f"`{request.command}` on {request.environment}" if request.environment else f"`{request.command}`"
    if not applying:
        if request.mutating and request.environment == "prod":
            return Decision(
                allowed=False,
                rule=PROD_RULE,
                reason=f"{where}: mutating commands on prod are denied unless a policy rule allows them",
                ask=policy.contact,
            )
        return Decision(allowed=True)
    verdicts = [(rule, rule.admits(request.user, request.channel, members)) for rule in applying]
    for rule, verdict in verdicts:
        if verdict is True:
            approval = (
                Approval(approvers=rule.approvers, channel=rule.approval_channel) if rule.approval_channel else None
            )
            return Decision(allowed=True, rule=rule.name, approval=approval)
    undecided = [rule for rule, verdict in verdicts if verdict is None]
    if undecided:
        rule = undecided[0]
        approval = Approval(approvers=rule.approvers, channel=rule.approval_channel) if rule.approval_channel else None
        return Decision(allowed=None, rule=rule.name, approval=approval)
    first = applying[0]
    return Decision(
        allowed=False,
        rule=first.name,
        reason=f"{where} is allowed to {first.describe()}",
        ask=first.ask or policy.contact,
    )


def build_models() -> None:
    """Build the validators of the models a policy decision creates, so the first decision pays nothing extra."""
    for model in (PolicyRequest, Approval, Decision):  # Rule and Policy are validated inside Inventory only
        model.model_rebuild(force=True)
