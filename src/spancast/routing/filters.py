"""Filter rules: OpenRouter's groups of {field, operator, value}, checked once and compiled into one predicate.

Shape (OpenRouter's ``ObservabilityFilterRulesConfig``, plus ``combine``)::

    {"enabled": true,                 # default true; false turns the rules off (they are still checked)
     "combine": "or",                 # spancast's addition: how groups combine, "or" (default) or "and"
     "groups": [{"logic": "and",      # how the rules of a group combine, default "and"
                 "rules": [{"field": "model", "operator": "equals", "value": "openai/gpt-4o"}]}]}

A record passes when the groups say so (any group with "or", every group with "and"). OpenRouter does
not document how groups combine; "or" is the likely reading, hence the default. A null ``enabled``,
``combine`` or ``logic`` means its default. There are no multiword keys here, so no camelCase either.

Fields, and what they read from the record (absent means the record's value is None):

- text: ``model``, ``provider``, ``session_id``, ``user_id`` (``record.user``), ``api_key_name``,
  ``finish_reason``; ``input`` is ``record.prompt`` followed by the text of every message (a string
  ``content``, or the ``text`` of each part of a list ``content``; images and other parts are skipped),
  joined with newlines; absent only when the record has neither prompt nor messages. ``output`` is
  ``record.completion`` (not the reasoning, not tool calls).
- numbers: ``total_cost``, ``total_tokens``, ``prompt_tokens``, ``completion_tokens``.

Operators:

- text fields: ``equals``, ``contains``, ``starts_with``, ``ends_with``, ``regex`` (``re.search``: a
  match anywhere), and ``not_equals``, ``not_contains``. All case-sensitive; write ``(?i)`` in a regex
  for the other kind. A number given as the value of a text rule is compared as its text (123 → "123").
- number fields: ``equals``, ``not_equals``, ``gt``, ``lt``, ``gte``, ``lte``; the value is a number or
  a string holding one, read as a float. Text operators on number fields and comparisons on text
  fields are configuration errors: they cannot mean anything.
- any field: ``exists``, ``not_exists`` (a ``value`` is ignored). An empty string exists.

Absent fields: every positive operator is false on an absent field, and every ``not_*`` operator is
exactly the negation of its twin, so ``not_equals``/``not_contains``/``not_exists`` are true there
("the record's user is not u-1" holds for a record with no user).

Regex cost: Python's ``re`` cannot bound backtracking, so the input is bounded instead: a pattern is
at most MAX_PATTERN_CHARS long, compiled once when the destination is configured, and scans only the
first MAX_SCAN_CHARS characters of the text (as if the text ended there). Other operators see the
whole text; they run in linear time.

A bad rule raises ConfigError naming it: ``destinations[0].filterRules.groups[1].rules[0].operator``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from operator import attrgetter
from typing import Any

from ..errors import ConfigError

__all__ = ["FIELDS", "OPERATORS", "MAX_PATTERN_CHARS", "MAX_SCAN_CHARS", "FilterRules", "input_text"]

MAX_PATTERN_CHARS = 1000
MAX_SCAN_CHARS = 64 * 1024

Predicate = Callable[[Any], bool]


def input_text(record: Any) -> str | None:
    """The text of a record's input: the prompt, then every message's text, joined with newlines."""
    prompt, messages = record.prompt, record.messages
    if messages is None:
        return prompt
    parts = [] if prompt is None else [prompt]
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return "\n".join(parts)


_TEXT_FIELDS: dict[str, Callable[[Any], Any]] = {
    "model": attrgetter("model"),
    "provider": attrgetter("provider"),
    "session_id": attrgetter("session_id"),
    "user_id": attrgetter("user"),
    "api_key_name": attrgetter("api_key_name"),
    "finish_reason": attrgetter("finish_reason"),
    "input": input_text,
    "output": attrgetter("completion"),
}
_NUMBER_FIELDS: dict[str, Callable[[Any], Any]] = {
    name: attrgetter(name) for name in ("total_cost", "total_tokens", "prompt_tokens", "completion_tokens")
}
FIELDS = (*_TEXT_FIELDS, *_NUMBER_FIELDS)

# Each positive test takes the rule's value and returns a test of a present record value.
_BOTH: dict[str, Callable[[Any], Predicate]] = {"equals": lambda x: lambda v: v == x}
_TEXT: dict[str, Callable[[Any], Predicate]] = {
    "contains": lambda x: lambda v: x in v,
    "starts_with": lambda x: lambda v: v.startswith(x),
    "ends_with": lambda x: lambda v: v.endswith(x),
    "regex": lambda p: lambda v: p.search(v, 0, MAX_SCAN_CHARS) is not None,
}
_NUMBER: dict[str, Callable[[Any], Predicate]] = {
    "gt": lambda x: lambda v: v > x,
    "lt": lambda x: lambda v: v < x,
    "gte": lambda x: lambda v: v >= x,
    "lte": lambda x: lambda v: v <= x,
}
_NEGATED = {"not_equals": "equals", "not_contains": "contains", "not_exists": "exists"}
OPERATORS = (*_BOTH, "not_equals", *_TEXT, "not_contains", *_NUMBER, "exists", "not_exists")
_LOGIC = ("and", "or")


def _every(predicates: Sequence[Predicate]) -> Predicate:
    if len(predicates) == 1:
        return predicates[0]

    def every(record: Any) -> bool:
        for predicate in predicates:
            if not predicate(record):
                return False
        return True

    return every


def _some(predicates: Sequence[Predicate]) -> Predicate:
    if len(predicates) == 1:
        return predicates[0]

    def some(record: Any) -> bool:
        for predicate in predicates:
            if predicate(record):
                return True
        return False

    return some


def _present(get: Callable[[Any], Any], test: Predicate) -> Predicate:
    def predicate(record: Any) -> bool:
        value = get(record)
        return value is not None and test(value)

    return predicate


def _mapping(value: Any, path: str, keys: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(path, f"expected a mapping, got {type(value).__name__}")
    for key in value:
        if key not in keys:
            raise ConfigError(f"{path}.{key}", f"unknown key; expected one of {', '.join(keys)}")
    return value


def _list(mapping: Mapping[str, Any], key: str, path: str) -> list[Any]:
    if key not in mapping:
        raise ConfigError(f"{path}.{key}", "missing required key")
    value = mapping[key]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{path}.{key}", "expected a non-empty list")
    return value


def _choice(mapping: Mapping[str, Any], key: str, path: str, choices: tuple[str, ...], default: str | None) -> str:
    """mapping[key], one of choices; absent or null means default (None: the key is required)."""
    value = mapping.get(key)
    if value is None:
        value = default
    if value not in choices:
        expected = " or ".join(repr(c) for c in choices) if len(choices) < 3 else "one of " + ", ".join(choices)
        problem = "missing required key" if value is None else f"unknown {key} {value!r}"
        raise ConfigError(f"{path}.{key}", f"{problem}; expected {expected}")
    return value


class FilterRules:
    """Validated filter rules and the one predicate they compile to (``rules(record) -> bool``)."""

    __slots__ = ("enabled", "combine", "group_sizes", "patterns", "_predicate")

    def __init__(self, config: Mapping[str, Any], where: str) -> None:
        """Check config (the ``filter_rules`` mapping) and compile it; where is its path for errors."""
        config = _mapping(config, where, ("enabled", "combine", "groups"))
        enabled = config.get("enabled")
        enabled = True if enabled is None else enabled
        if not isinstance(enabled, bool):
            raise ConfigError(f"{where}.enabled", f"expected true or false, got {enabled!r}")
        self.enabled = enabled
        self.combine = _choice(config, "combine", where, _LOGIC, "or")
        self.patterns: list[re.Pattern[str]] = []  # every regex, compiled here and only here
        groups = []
        self.group_sizes: list[int] = []
        for g, group in enumerate(_list(config, "groups", where)):
            path = f"{where}.groups[{g}]"
            group = _mapping(group, path, ("logic", "rules"))
            logic = _choice(group, "logic", path, _LOGIC, "and")
            rules = [self._rule(rule, f"{path}.rules[{r}]") for r, rule in enumerate(_list(group, "rules", path))]
            groups.append((_every if logic == "and" else _some)(rules))
            self.group_sizes.append(len(rules))
        self._predicate = (_every if self.combine == "and" else _some)(groups)

    def __call__(self, record: Any) -> bool:
        return self._predicate(record)

    def _rule(self, rule: Any, path: str) -> Predicate:
        rule = _mapping(rule, path, ("field", "operator", "value"))
        field = _choice(rule, "field", path, FIELDS, None)
        operator = _choice(rule, "operator", path, OPERATORS, None)
        is_text = field in _TEXT_FIELDS
        get = _TEXT_FIELDS[field] if is_text else _NUMBER_FIELDS[field]
        positive = _NEGATED.get(operator, operator)
        if positive == "exists":
            if operator == "not_exists":
                return lambda record: get(record) is None
            return lambda record: get(record) is not None
        if positive in (_NUMBER if is_text else _TEXT):
            kind = "text" if is_text else "a number"
            raise ConfigError(f"{path}.operator", f"{operator} does not apply to {field}, which is {kind}")
        if "value" not in rule or rule["value"] is None:
            raise ConfigError(f"{path}.value", f"missing; operator {operator} needs a value")
        value = rule["value"]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(f"{path}.value", f"expected a string or a number, got {type(value).__name__}")
        if is_text:
            value = value if isinstance(value, str) else str(value)
            if positive == "regex":
                value = self._compile(value, f"{path}.value")
            test = (_BOTH.get(positive) or _TEXT[positive])(value)
        else:
            test = (_BOTH.get(positive) or _NUMBER[positive])(_number(value, f"{path}.value", operator))
        present = _present(get, test)
        return (lambda record: not present(record)) if operator in _NEGATED else present

    def _compile(self, pattern: str, path: str) -> re.Pattern[str]:
        if len(pattern) > MAX_PATTERN_CHARS:
            raise ConfigError(path, f"regex of {len(pattern)} characters; at most {MAX_PATTERN_CHARS}")
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ConfigError(path, f"invalid regex: {exc}") from None
        self.patterns.append(compiled)
        return compiled

    def __repr__(self) -> str:  # counts only: values may be user ids or prompt text
        state = "" if self.enabled else " disabled"
        return f"<FilterRules{state} rules={sum(self.group_sizes)} groups={len(self.group_sizes)} combine={self.combine}>"


def _number(value: str | float, path: str, operator: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(path, f"operator {operator} compares numbers; got {value!r}") from None
    if not math.isfinite(number):
        raise ConfigError(path, f"expected a finite number, got {value!r}")
    return number
