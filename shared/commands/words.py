"""The words of commands: flags (as Slack's smart punctuation types them), durations, and the plain-words
explanation of an args model's validation error. Shared by every command's parser; no command's own words."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shared.errors import UsageError

#: Typed anywhere in a mutating command's text: show what it would do, do nothing.
DRY_RUN_FLAG = "--dry-run"
#: `--since` / `--for` values: ASCII digits and a unit (m, h, d); 7d is 10080m, so five digits.
_DURATION = re.compile(r"^([0-9]{1,5})([mhd])$")
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 1440}
#: The dashes a flag may start with: `--`, and what Slack's smart punctuation makes of it (em dash, en dash).
_FLAG_DASHES = "-\u2014\u2013"
#: The flags the commands know, without their dashes.
FLAGS = ("dry-run", "for", "since")
#: ECS runs at most 5,000 tasks per service (its service quota): no `/ops-scale` count and no inventory bound above
#: it parses. Here, not in the command's module, so that loading an inventory imports no command.
MAX_TASKS = 5000


def flag_word(word: str) -> str:
    """A word as a flag: `--dry-run`, `--for` or `--since` typed with an em dash or an en dash (Slack's smart
    punctuation turns a typed `--` into an em dash) read as the flag; any other word as it is."""
    bare = word.lstrip(_FLAG_DASHES)
    if bare == word or not bare:
        return word
    name = bare.replace("\u2014", "-").replace("\u2013", "-").lower()
    return f"--{name}" if name in FLAGS else word


def flag_words(words: list[str]) -> list[str]:
    return [flag_word(w) for w in words]


def duration_minutes(word: str, flag: str, most: int) -> int:
    """A duration in minutes, refused in the units the person typed (never in minutes they did not type)."""
    match = _DURATION.match(word)
    if match is None:
        raise UsageError(f"{flag} must be a duration such as 30m, 2h or 1d, got {quoted(word)}.")
    minutes = int(match.group(1)) * _UNIT_MINUTES[match.group(2)]
    if minutes < 1:
        raise UsageError(f"{flag} must be at least 1m, got {quoted(word)}.")
    if minutes > most:
        raise UsageError(f"{flag} must be at most {_in_units(most)}, got {quoted(word)}.")
    return minutes


def _in_units(minutes: int) -> str:
    """`10080` as `7d (168h, 10080m)`: the limit in each unit a person may type it in."""
    parts = [f"{minutes // n}{unit}" for unit, n in (("d", 1440), ("h", 60)) if minutes % n == 0]
    return f"{parts[0]} ({', '.join([*parts[1:], f'{minutes}m'])})" if parts else f"{minutes}m"


def whole_number(value: Any) -> Any:
    """Typed counts are digits (`3`, `-1` for the bound's message), never `3.0` or `1e3` (a `BeforeValidator`)."""
    if isinstance(value, str) and not re.fullmatch(r"-?[0-9]{1,9}", value.strip()):
        raise ValueError("not a whole number")
    return value


_NAME_RULE = "letters, digits, - and _, starting with a letter or digit (up to 255)"
#: How a reply names the args fields many commands share: the command's own words, never the model's. A
#: command names its own fields in its spec (`CommandSpec.field_words`).
FIELD_WORDS = {
    "target": "the target",
    "service": "the target",
    "reason": "the reason",
    "environment": "the environment",
}
#: What a name must look like, per shared field, in plain words (a command's own: `CommandSpec.pattern_words`).
PATTERN_WORDS = {
    "target": f"target names are {_NAME_RULE}",
    "service": f"target names are {_NAME_RULE}",
    "environment": f"environment names are {_NAME_RULE}",
}


def quoted(value: object, limit: int = 40) -> str:
    """What a person typed, quoted and cut short (an ellipsis when cut) for a reply."""
    text = str(value)
    return "'" + (text if len(text) <= limit else text[: limit - 1] + "…") + "'"


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def plain_problem(
    err: Any,
    field_words: Mapping[str, str] | None = None,
    pattern_words: Mapping[str, str] | None = None,
    invalid_words: Mapping[str, str] | None = None,
) -> str:
    """A pydantic error on a command's args in the command's own words: no field names, types or regexes.
    `invalid_words`: a field's sentence for a value its own validator refuses (`{word}` and `{got}` filled in)."""
    field = str(err["loc"][0]) if err.get("loc") else ""
    word = {**FIELD_WORDS, **(field_words or {})}.get(field, "an argument")
    got = quoted(err.get("input", ""))
    kind = err.get("type", "")
    limits = err.get("ctx") or {}
    invalid = (invalid_words or {}).get(field)
    if invalid is not None and kind in ("int_parsing", "int_from_float", "value_error"):
        return invalid.format(word=word, got=got)
    if kind in ("float_parsing", "int_parsing", "float_type", "int_type", "finite_number"):
        return f"{word} must be a number, got {got}."
    if kind in ("greater_than_equal", "greater_than"):
        return f"{word} must be at least {_number(limits.get('ge', limits.get('gt')))}, got {got}."
    if kind in ("less_than_equal", "less_than"):
        return f"{word} must be at most {_number(limits.get('le', limits.get('lt')))}, got {got}."
    if kind == "string_pattern_mismatch":
        pattern = {**PATTERN_WORDS, **(pattern_words or {})}.get(field, f"{word} is not valid")
        return f"{pattern}, got {got}."
    if kind in ("string_too_long", "too_long"):
        return f"{word} is too long (at most {limits.get('max_length')})."
    if invalid is not None:
        return invalid.format(word=word, got=got)
    return f"{word} is not valid, got {got}."
