"""The one exception tree of spancast.

::

    SpancastError                 base of everything spancast raises on purpose
    ├── ConfigError (ValueError)  a setting is missing, unknown or out of range: .path, .reason
    │   └── InvalidConfigError    a configuration file with problems: .problems, every one a ConfigError
    ├── RecordError (ValueError)  a generation record failed validation: .index, .field, .reason
    ├── EncodeError (ValueError)  a record holds a value no wire format can carry: .field, .reason
    ├── SpoolError (OSError)      the disk spool cannot write now (no space, I/O error, read-only): .reason
    └── NativeUnavailableError (ImportError)
                                  the Cython extension was asked for but cannot be loaded

Errors never carry secrets: messages name fields and reasons, not values of
credentials. Record values may appear only where they help (a bad enum).
"""

from __future__ import annotations


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
    """The disk spool cannot take records now (a disk error: no space, I/O error, read-only); ``.reason`` says
    which, naming the file. spancast retries by itself; records wait in memory meanwhile."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)

    def __repr__(self) -> str:
        return f"<SpoolError reason={self.reason!r}>"
