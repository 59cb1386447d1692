"""What a `key=value` parameter may be (a Jenkins job's, a runbook's): one of `values`, or matching `pattern` (the
whole value), or anything."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

ParameterName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")]


class Parameter(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    values: list[str] = Field(default_factory=list, max_length=100)
    pattern: str | None = Field(default=None, max_length=500)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    def admits(self, value: str) -> bool:
        if self.values and value not in self.values:
            return False
        return self.pattern is None or re.fullmatch(self.pattern, value) is not None


def refusal(specs: Mapping[str, Parameter], given: Mapping[str, str], of: str) -> str | None:
    """Why `given` may not be passed to what `specs` describe (`of`: "this job", "this runbook"), in plain
    words; None when it may."""
    allowed = ", ".join(sorted(specs)) or "none"
    for name, value in given.items():
        spec = specs.get(name)
        if spec is None:
            return f"{name} is not a parameter of {of}; the parameters allowed are: {allowed}"
        if not spec.admits(value):
            if spec.values:
                return f"{name} must be one of {', '.join(spec.values[:20])}"
            return f"that value of {name} is not one {of} accepts"
    return None
