"""Credentials in presets: settings reprs that hide header values, auth headers that win over the user's.

Settings fields typed :class:`~spancast.destinations.base.Secret` already show as ``'***'``. The
``headers`` mapping is plain ``dict[str, str]`` and often carries credentials too (a webhook's only
authentication is its static headers), so :func:`settings_repr` shows its names and hides its values.
CommonSettings uses it, so every destination's settings repr hides header values.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import ConfigError

__all__ = ["settings_repr", "settings_rich_repr", "merge_headers", "check_header_value"]


def settings_repr(self: Any) -> str:
    """A msgspec settings Struct's repr with every header value shown as '***' (Secret fields hide themselves)."""
    fields = ", ".join(f"{name}={value!r}" for name, value in settings_rich_repr(self))
    return f"{type(self).__name__}({fields})"


def settings_rich_repr(self: Any):
    """The same for rich's pretty printer (msgspec's own ``__rich_repr__`` would show header values)."""
    for name in self.__struct_fields__:
        value = getattr(self, name)
        yield name, ({key: "***" for key in value} if name == "headers" else value)


def merge_headers(user: Mapping[str, str], fixed: Mapping[str, str]) -> dict[str, str]:
    """The user's static headers plus the destination's own; a user header named like one of the
    destination's (in any case) is dropped, so auth and Content-Type cannot be sent twice or overridden."""
    taken = {name.lower() for name in fixed}
    return {**{k: v for k, v in user.items() if k.lower() not in taken}, **fixed}


def check_header_value(value: str, path: str) -> None:
    """A setting that goes into a header must be non-empty and free of control characters (CR/LF would
    split the header). The message never repeats the value: it may be a credential."""
    if not value.strip():
        raise ConfigError(path, "must not be empty")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ConfigError(path, "must not contain control characters (CR, LF, ...)")
