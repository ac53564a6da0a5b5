"""The one exception tree of spancast.

::

    SpancastError                 base of everything spancast raises on purpose
    ├── ConfigError (ValueError)  a setting is missing, unknown or out of range: .path, .reason
    │   └── InvalidConfigError    a configuration file with problems: .problems, every one a ConfigError
    ├── RecordError (ValueError)  a generation record failed validation: .index, .field, .reason
    ├── EncodeError (ValueError)  a record holds a value no wire format can carry: .field, .reason
    ├── NativeUnavailableError (ImportError)
    │                             the Cython extension was asked for but cannot be loaded
    ├── SpoolError (OSError)      the spool cannot be used: its directory (a file in the way, no rights) or,
    │                             while running, the disk (no space, I/O error, read-only): .reason, .path
    └── ListenError (OSError)     spancast serve cannot listen on its address (in use, not local)

Errors never carry secrets: messages name fields and reasons, not values of
credentials. Record values may appear only where they help (a bad enum).
"""

from __future__ import annotations


def lower_first(message: str) -> str:
    """A library's message made to continue ours ("field: expected ..."): its first letter lowered,
    unless its first word is an acronym ("JSON is malformed" stays as it is)."""
    if message[:1].isupper() and not message[1:2].isupper():
        return message[:1].lower() + message[1:]
    return message


class SpancastError(Exception):
    """Base class of every error spancast raises on purpose."""


class ConfigError(SpancastError, ValueError):
    """A setting is missing, unknown or out of range; the path names it (``retry.max_attempts``)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")

    def __repr__(self) -> str:
        return f"<ConfigError path={self.path!r} reason={self.reason!r}>"


class InvalidConfigError(ConfigError):
    """A configuration with one or more problems; ``problems`` lists them all, in file order."""

    def __init__(self, source: str, problems: list[ConfigError]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {p.path}: {p.reason}" for p in self.problems)
        super().__init__(source, f"{count} problem{'s' if count != 1 else ''}\n{lines}")

    def __repr__(self) -> str:
        return f"<InvalidConfigError source={self.path!r} problems={len(self.problems)}>"


class RecordError(SpancastError, ValueError):
    """A record failed validation; the other records of the same input are unaffected."""

    def __init__(self, field: str, reason: str, index: int | None = None) -> None:
        self.field = field
        self.reason = reason
        self.index = index
        where = f"record {index}: " if index is not None else ""
        super().__init__(f"{where}{field}: {reason}")

    def __repr__(self) -> str:
        return f"<RecordError index={self.index} field={self.field!r} reason={self.reason!r}>"


class EncodeError(SpancastError, ValueError):
    """A record holds a value that cannot be written (an unsupported type, an integer out of range)."""

    #: How the pipeline counts the record it drops (a key of DestinationStats.dropped); subclasses
    #: name their own reason (a destination that refuses records older than it accepts: "too_old").
    drop_reason = "invalid_record"

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")

    def __repr__(self) -> str:
        return f"<EncodeError field={self.field!r} reason={self.reason!r}>"


class NativeUnavailableError(SpancastError, ImportError):
    """The native extension was required (SPANCAST_IMPL=native) but cannot be imported."""


class SpoolError(SpancastError, OSError):
    """The spool cannot take records: ``reason`` says why, naming the file or, with ``path``, the directory
    it cannot use at start-up. A disk error while running is retried by spancast itself; records wait in
    memory meanwhile."""

    def __init__(self, reason: str, path: str | None = None) -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"spool directory {path}: {reason}" if path is not None else reason)

    def __repr__(self) -> str:
        return f"<SpoolError reason={self.reason!r}{f' path={self.path!r}' if self.path is not None else ''}>"


class ListenError(SpancastError, OSError):
    """spancast serve cannot listen on ``host:port``; ``reason`` says why (the OS's words)."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        self.host = host
        self.port = port
        self.reason = reason
        super().__init__(f"cannot listen on {host}:{port}: {reason}")

    def __repr__(self) -> str:
        return f"<ListenError {self.host}:{self.port} reason={self.reason!r}>"
