"""Configuration files: TOML (or OpenRouter's destinations JSON) into checked Broadcaster settings.

A TOML file has three parts, all optional::

    [pipeline]            # Broadcaster keywords: batching, queues, memory, concurrency, shutdown
    [pipeline.retry]      # RetryPolicy
    [server]              # spancast serve: host, port, token, body limit
    [spool]               # a crash-safe disk spool: directory, size cap, fsync policy
    [[destinations]]      # one table per destination, the mapping make_destination takes

A JSON file holding a list (or ``{"data": [...]}``) of destinations as OpenRouter's observability
destinations API writes them (``type``, ``name``, ``config`` with camelCase keys, ``privacyMode``,
``samplingRate``, ``apiKeyHashes``, ``filterRules``) loads as is.

Secrets need never be written inline: any string may hold ``${NAME}`` (or ``${NAME:-fallback}``;
``$${`` is a literal ``${``), replaced from the environment, and any setting ``key`` may instead be
given as ``key_file`` (or ``keyFile``): a path, relative to the configuration file, whose contents
(without the trailing newline) are the value. Checking goes on past the first problem: an
InvalidConfigError lists every one with its key path.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields as dataclass_fields
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from .destinations import REGISTRY, Destination, make_destination
from .destinations.base import Secret, camel_case, snake_case, unknown_key_reason
from .errors import ConfigError, InvalidConfigError, lower_first
from .pipeline import defaults
from .pipeline.retry import RetryPolicy
from .pipeline.spool import SpoolSettings

__all__ = ["Config", "PipelineSettings", "ServerSettings", "SpoolConfig", "load_config", "parse_config", "default_config",
           "DEFAULT_OUTPUT_DIR"]

#: Where the embedded default (no configuration at all) writes: OTLP JSON lines, one request a line.
DEFAULT_OUTPUT_DIR = "spancast-out"
_MAX_PROBLEMS_PER_ENTRY = 20  # a mapping with more than this many bad keys is reported in part


def _d(text: str, **constraints: Any) -> msgspec.Meta:
    return msgspec.Meta(description=text, **constraints)


class PipelineSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``[pipeline]``: the Broadcaster's keywords (a test keeps the two in step)."""

    max_batch_records: Annotated[int, _d("records per request at most", ge=1)] = defaults.MAX_BATCH_RECORDS
    max_batch_bytes: Annotated[int, _d("encoded bytes per request at most (a destination may set less)", ge=1024)] = (
        defaults.MAX_BATCH_BYTES)
    flush_interval_s: Annotated[float, _d("a batch is sent when it is this old, full or not", gt=0)] = (
        defaults.FLUSH_INTERVAL_S)
    intake_max_records: Annotated[int, _d("records emit() may queue before the overflow policy applies", ge=1)] = (
        defaults.INTAKE_MAX_RECORDS)
    intake_max_bytes: Annotated[int, _d("estimated bytes of those records at most", ge=1024)] = (
        defaults.INTAKE_MAX_BYTES)
    overflow: Annotated[str, _d("when the intake is full: drop_newest, drop_oldest or block")] = defaults.OVERFLOW
    block_timeout_s: Annotated[float, _d("how long emit() waits under overflow = block", ge=0)] = (
        defaults.BLOCK_TIMEOUT_S)
    max_queued_records: Annotated[int, _d("records one destination may have queued", ge=1)] = (
        defaults.MAX_QUEUED_RECORDS)
    max_queued_bytes: Annotated[int, _d("bytes one destination may have queued", ge=1024)] = defaults.MAX_QUEUED_BYTES
    max_memory_bytes: Annotated[int, _d("the whole pipeline's memory cap: intake, backlog, bodies, shared spans", ge=1024)] = (
        defaults.MAX_MEMORY_BYTES)
    initial_concurrency: Annotated[int, _d("requests in flight per destination at start (adapts)", ge=1)] = (
        defaults.INITIAL_CONCURRENCY)
    max_concurrency: Annotated[int, _d("requests in flight per destination at most", ge=1)] = defaults.MAX_CONCURRENCY
    shutdown_timeout_s: Annotated[float, _d("one deadline for draining, in-flight requests and retries", gt=0)] = (
        defaults.SHUTDOWN_TIMEOUT_S)
    use_uvloop: Annotated[bool, _d("run the pipeline's loop on uvloop when it is installed")] = defaults.USE_UVLOOP
    retry: Annotated[dict[str, Any], _d("RetryPolicy fields, see [pipeline.retry]")] = {}


class SpoolConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``[spool]``: a crash-safe disk spool (off unless a directory is given)."""

    directory: Annotated[str, _d("where the segment files go (created if missing); one spool per process")]
    max_bytes: Annotated[int, _d("the spool's size cap; when full, the pipeline's overflow policy applies",
                                 ge=64 * 1024)] = 1024 * 1024 * 1024
    segment_bytes: Annotated[int, _d("a segment file rolls over at this size", ge=4096)] = 16 * 1024 * 1024
    fsync: Annotated[Literal["never", "batch", "interval"],
                     _d("never (the OS decides), batch (each chunk, before serve answers 202), interval")] = "batch"
    fsync_interval_s: Annotated[float, _d("how often fsync = interval syncs", gt=0)] = 1.0
    replay_records_per_s: Annotated[float, _d("replay after a restart goes no faster than this, behind live "
                                              "traffic", gt=0)] = 20_000.0


class ServerSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``[server]``: spancast serve."""

    host: Annotated[str, _d("address to listen on; anything but loopback requires a token")] = "127.0.0.1"
    port: Annotated[int, _d("TCP port", ge=0, le=65535)] = 4320
    token: Annotated[Secret | None, _d("bearer token clients must send (or SPANCAST_TOKEN)")] = None
    max_body_bytes: Annotated[int, _d("largest request body accepted (after gzip); larger gets 413", ge=1024)] = (
        32 * 1024 * 1024)
    header_timeout_s: Annotated[float, _d("a connection has this long, from connecting or its last answer, to send "
                                          "a request's headers (also the keep-alive idle limit)", gt=0)] = 10.0
    body_timeout_s: Annotated[float, _d("a request's body must be in this long after its headers (else 408)",
                                        gt=0)] = 30.0
    non_llm_spans: Annotated[Literal["drop", "forward"], _d(
        "POST /v1/traces: spans that are not LLM calls are dropped (counted), or forwarded unchanged to the "
        "OTLP destinations that take every record as it is (no privacy mode, redaction, API-key allowlist, filter "
        "rules or sampling)")] = "drop"
    forward_max_bytes: Annotated[int, _d("encoded bytes of forwarded spans one destination may hold in flight; "
                                         "past it they are dropped (counted). The spans themselves, kept for a 413 "
                                         "split, take about 3x their JSON size more, once for all destinations",
                                         ge=1024)] = 64 * 1024 * 1024
    grpc_port: Annotated[Annotated[int, msgspec.Meta(ge=0, le=65535)] | None, _d(
        "OTLP/gRPC traces are taken on this port too (the standard is 4317), with the grpc extra; none: off")] = None
    workers: Annotated[int, _d("processes serving one port (SO_REUSEPORT), each with its own pipeline and spool "
                               "subdirectory (spancast serve --workers)", ge=1, le=256)] = 1


@dataclass(frozen=True, slots=True)
class Config:
    """A checked configuration: Broadcaster keywords, the retry policy, server settings, destinations."""

    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    server: ServerSettings = field(default_factory=ServerSettings)
    destinations: tuple[Destination, ...] = ()
    source: str = "<embedded default>"
    spool: SpoolSettings | None = None

    def broadcaster_kwargs(self) -> dict[str, Any]:
        kwargs = msgspec.structs.asdict(self.pipeline)
        kwargs.pop("retry")
        return {**kwargs, "retry": self.retry, "spool": self.spool}

    def __repr__(self) -> str:  # destination settings hide their own secrets; names are enough here
        names = ", ".join(f"{d.name}:{d.type}" for d in self.destinations)
        return f"<Config {self.source} destinations=[{names}] server={self.server.host}:{self.server.port}>"


def default_config() -> Config:
    """The embedded default: one local ``file`` destination writing OTLP JSON lines under ./spancast-out/."""
    return Config(destinations=(make_destination({"type": "file", "directory": DEFAULT_OUTPUT_DIR}),))


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read and check a TOML or JSON file; InvalidConfigError lists every problem."""
    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidConfigError(source, [ConfigError(source, f"cannot read: {_os_reason(exc)}")]) from None
    if source.endswith(".json") or text.lstrip()[:1] in ("[", "{") and not source.endswith(".toml"):
        try:
            data: Any = json.loads(text)
        except ValueError as exc:
            raise InvalidConfigError(source, [ConfigError(source, f"invalid JSON: {exc}")]) from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidConfigError(source, [ConfigError(source, f"invalid TOML: {exc}")]) from None
    return parse_config(data, source, env=env, base_dir=Path(source).parent)


def parse_config(data: Any, source: str = "<config>", env: Mapping[str, str] | None = None,
                 base_dir: Path | None = None) -> Config:
    """Check a parsed configuration (a TOML-shaped mapping, or OpenRouter's list of destinations)."""
    checker = _Checker(os.environ if env is None else env, base_dir or Path.cwd())
    if isinstance(data, Mapping) and "data" in data and set(data) <= {"data", "total_count", "totalCount"}:
        data = data["data"]  # a GET /observability/destinations response, saved as is
    if isinstance(data, list):
        entries = [checker.openrouter_entry(item, f"[{i}]") for i, item in enumerate(data)]
        return checker.finish(source, PipelineSettings(), RetryPolicy(), ServerSettings(), entries)
    if not isinstance(data, Mapping):
        raise InvalidConfigError(source, [ConfigError(source, f"expected a table or a list, got {type(data).__name__}")])
    for key in data:
        if key not in ("pipeline", "server", "spool", "destinations"):
            checker.problem(str(key), "unknown section; expected pipeline, server, spool or destinations")
    pipeline = checker.struct(data.get("pipeline", {}), PipelineSettings, "pipeline")
    retry = checker.retry(pipeline.retry, "pipeline.retry")
    server = checker.struct(data.get("server", {}), ServerSettings, "server")
    spool = checker.spool(data["spool"], base_dir) if "spool" in data else None
    raw = data.get("destinations", [])
    if not isinstance(raw, list):
        checker.problem("destinations", f"expected an array of tables ([[destinations]]), got {type(raw).__name__}")
        raw = []
    entries = [checker.toml_entry(item, f"destinations[{i}]") for i, item in enumerate(raw)]
    return checker.finish(source, pipeline, retry, server, entries, spool)


# ---------------------------------------------------------------- checking

_REFERENCE = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_OPENROUTER_TOP = {"type", "name", "config", "enabled", "privacy_mode", "sampling_rate", "api_key_hashes",
                   "filter_rules", "broadcast_generation_cost", "broadcast_generation_identity",
                   "broadcast_generation_request_context"}
_OPENROUTER_IGNORED = {"id", "workspace_id", "created_at", "updated_at", "regions"}  # API bookkeeping


@dataclass(slots=True)
class _Entry:
    where: str
    mapping: dict[str, Any]
    renamed: dict[str, str]  # top-level key -> its path in the file (config.apiKey)
    openrouter: bool = False  # settings other than the top-level ones live under "config"


class _Checker:
    """Collects problems instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str], base_dir: Path) -> None:
        self.env, self.base_dir = env, base_dir
        self.problems: list[ConfigError] = []

    def problem(self, path: str, reason: str) -> None:
        self.problems.append(ConfigError(path, reason))

    # -- values

    def resolve(self, value: Any, path: str) -> Any:
        """${NAME} references replaced, recursively."""
        if isinstance(value, str):
            return self._interpolate(value, path)
        if isinstance(value, Mapping):
            return {k: self.resolve(v, f"{path}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return value

    def _interpolate(self, text: str, path: str) -> str:
        if "${" not in text:
            return text

        def replace(match: re.Match[str]) -> str:
            escaped, name, fallback = match.groups()
            if escaped:
                return match.group(0)[1:]
            if name in self.env:
                return self.env[name]
            if fallback is not None:
                return fallback
            self.problem(path, f"environment variable {name} is not set")
            return ""

        return _REFERENCE.sub(replace, text)

    def files(self, mapping: Mapping[str, Any], where: str, known: set[str]) -> dict[str, Any]:
        """key_file / keyFile entries read into key, for every key the settings know."""
        out: dict[str, Any] = {}
        for key, value in mapping.items():
            name = snake_case(key) if isinstance(key, str) else key
            if isinstance(name, str) and name.endswith("_file") and name[:-5] in known and name not in known:
                target = name[:-5]
                written = key[:-5] if key.endswith("_file") else key[:-4]  # keep the user's spelling
                if any(snake_case(k) == target for k in mapping if isinstance(k, str)):
                    self.problem(f"{where}.{key}", f"give {written} or {key}, not both")
                    continue
                if not isinstance(value, str):
                    self.problem(f"{where}.{key}", f"expected a path, got {type(value).__name__}")
                    continue
                file = Path(os.path.expanduser(value))
                file = file if file.is_absolute() else self.base_dir / file
                try:
                    out[written] = file.read_text(encoding="utf-8").rstrip("\r\n")
                except (OSError, UnicodeDecodeError) as exc:
                    self.problem(f"{where}.{key}", f"cannot read {file}: {_os_reason(exc)}")
                    out[written] = "https://stand-in.invalid"  # so that it is not also reported missing
                continue
            out[key] = value
        return out

    # -- sections

    def struct(self, raw: Any, cls: type[Any], where: str, required: bool = False) -> Any:
        """raw checked as cls; cls() (None when required keys make that impossible) after problems."""
        fallback = None if required else cls
        if not isinstance(raw, Mapping):
            self.problem(where, f"expected a table, got {type(raw).__name__}")
            return fallback() if fallback else None
        known = set(cls.__struct_fields__)
        data = self.files(self.resolve(dict(raw), where), where, known)
        reported: set[str] = set()
        for _ in range(_MAX_PROBLEMS_PER_ENTRY):
            try:
                return msgspec.convert(data, cls, dec_hook=_secret_hook)
            except msgspec.ValidationError as exc:
                key, reason = _msgspec_problem(str(exc))
                if reason == "unknown key":
                    reason = unknown_key_reason(key, known)
                if key in reported or key not in data:
                    self.problem(f"{where}.{key}" if key else where, reason)
                    break
                self.problem(f"{where}.{key}", reason)
                reported.add(key)
                del data[key]
        return fallback() if fallback else None

    def spool(self, raw: Any, base_dir: Path | None) -> SpoolSettings | None:
        checked = self.struct(raw, SpoolConfig, "spool", required=True)
        if checked is None:
            return None
        directory = Path(os.path.expanduser(checked.directory))
        if not directory.is_absolute():  # like *_file paths: relative to the configuration file
            directory = (base_dir or Path.cwd()) / directory
        try:
            return SpoolSettings(**{**msgspec.structs.asdict(checked), "directory": str(directory)})
        except ConfigError as exc:
            self.problem(exc.path, exc.reason)
            return None

    def retry(self, raw: Mapping[str, Any], where: str) -> RetryPolicy:
        known = {f.name for f in dataclass_fields(RetryPolicy)}
        good: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in known:
                self.problem(f"{where}.{key}", unknown_key_reason(key, known))
            elif isinstance(value, bool) or not isinstance(value, int | float):
                self.problem(f"{where}.{key}", f"expected a number, got {type(value).__name__}")
            else:
                good[key] = value
        try:
            return RetryPolicy(**good)
        except ConfigError as exc:
            self.problem(f"pipeline.{exc.path}", exc.reason)
            return RetryPolicy()

    # -- destinations

    def toml_entry(self, raw: Any, where: str) -> _Entry | None:
        if not isinstance(raw, Mapping):
            self.problem(where, f"expected a table, got {type(raw).__name__}")
            return None
        return _Entry(where, dict(raw), {})

    def openrouter_entry(self, raw: Any, where: str) -> _Entry | None:
        """OpenRouter's shape flattened into the one make_destination takes; paths keep the file's shape."""
        if not isinstance(raw, Mapping):
            self.problem(where, f"expected an object, got {type(raw).__name__}")
            return None
        flat: dict[str, Any] = {}
        renamed: dict[str, str] = {}
        for key, value in raw.items():
            name = snake_case(key) if isinstance(key, str) else key
            if name in _OPENROUTER_IGNORED:
                continue
            if name not in _OPENROUTER_TOP:
                self.problem(f"{where}.{key}", unknown_key_reason(key, _OPENROUTER_TOP))
            elif name == "config":
                if not isinstance(value, Mapping):
                    self.problem(f"{where}.{key}", f"expected an object, got {type(value).__name__}")
                    continue
                for inner, setting in value.items():
                    if snake_case(inner) in _OPENROUTER_TOP:
                        self.problem(f"{where}.{key}.{inner}", "belongs beside config, not inside it")
                        continue
                    flat[inner] = setting
                    renamed[inner] = f"{key}.{inner}"
            else:
                flat[key] = value
        return _Entry(where, flat, renamed, openrouter=True)

    def destination(self, entry: _Entry) -> Destination | None:
        where, mapping = entry.where, entry.mapping
        kind = mapping.get("type")
        if kind not in REGISTRY:
            self.problem(f"{where}.type", f"unknown destination type {kind!r}; known: {', '.join(sorted(REGISTRY))}"
                         if kind is not None else "missing; every destination needs a type")
            return None
        settings = REGISTRY[kind].settings_class
        before = len(self.problems)
        data = self.files(self.resolve(mapping, where), where, set(settings.__struct_fields__))
        # A key whose value already failed (an unset variable, an unreadable file) is not blamed twice.
        reported = {snake_case(_top_key(p.path, where)).removesuffix("_file") for p in self.problems[before:]}
        stand_ins: set[str] = set()
        for _ in range(_MAX_PROBLEMS_PER_ENTRY):
            try:
                return make_destination(data, where)
            except ConfigError as exc:
                key = _top_key(exc.path, where)
                snake = snake_case(key)
                if snake not in reported:
                    self.problems.append(ConfigError(self._file_path(entry, key, exc.path), exc.reason))
                    reported.add(snake)
                # Look for the next problem without this one: drop the key, or stand in for a missing one.
                if not key or key == "type" or key in stand_ins:
                    return None
                if key in data:
                    value = data.pop(key)
                    meant = _MEANT.search(exc.reason)
                    if meant and meant.group(1) not in data:  # a typo: the key it meant is not missing too
                        data[meant.group(1)] = value
                    continue
                stand_in = _stand_in(settings, snake)
                if stand_in is None:
                    return None
                data[key] = stand_in
                stand_ins.add(key)
        return None

    @staticmethod
    def _file_path(entry: _Entry, key: str, path: str) -> str:
        """The path as the file spells it: OpenRouter's settings sit under config."""
        where = entry.where
        if key in entry.renamed:
            return f"{where}.{entry.renamed[key]}{path[len(where) + 1 + len(key):]}"
        if key and entry.openrouter and snake_case(key) not in _OPENROUTER_TOP:
            return f"{where}.config{path[len(where):]}"  # a missing setting: it belongs in config
        return path

    def finish(self, source: str, pipeline: PipelineSettings, retry: RetryPolicy, server: ServerSettings,
               entries: list[_Entry | None], spool: SpoolSettings | None = None) -> Config:
        destinations: list[Destination] = []
        names: dict[str, str] = {}
        for entry in entries:
            if entry is None:
                continue
            destination = self.destination(entry)
            if destination is None:
                continue
            if destination.name in names:
                self.problem(f"{entry.where}.name", f"{destination.name!r} is also the name of {names[destination.name]};"
                             " give each destination its own name")
                continue
            names[destination.name] = entry.where
            destinations.append(destination)
        if pipeline.overflow not in ("drop_newest", "drop_oldest", "block"):
            self.problem("pipeline.overflow", f"expected drop_newest, drop_oldest or block, got {pipeline.overflow!r}")
        if pipeline.initial_concurrency > pipeline.max_concurrency:
            self.problem("pipeline.initial_concurrency", "must not exceed max_concurrency")
        if self.problems:
            raise InvalidConfigError(source, self.problems)
        return Config(pipeline, retry, server, tuple(destinations), source, spool)


def _stand_in(settings: type[Any], name: str) -> Any:
    """A value of the right type for a missing required setting, so checking can go on past it."""
    for f in msgspec.inspect.type_info(settings).fields:
        if f.name == name:
            kind = f.type.type if isinstance(f.type, msgspec.inspect.Metadata) else f.type
            if isinstance(kind, (msgspec.inspect.StrType, msgspec.inspect.CustomType)):
                return "https://stand-in.invalid"
            for cls, value in ((msgspec.inspect.IntType, 1), (msgspec.inspect.FloatType, 1.0),
                               (msgspec.inspect.BoolType, False), (msgspec.inspect.ListType, []),
                               (msgspec.inspect.DictType, {})):
                if isinstance(kind, cls):
                    return value
    return None


def _secret_hook(kind: type, value: Any) -> Any:
    if kind is Secret:
        if isinstance(value, str):
            return Secret(value)
        # msgspec reports a TypeError as a problem of the key; the value (a secret) is never shown
        raise TypeError(f"expected a string, got {type(value).__name__}")
    raise NotImplementedError(kind)


_AT = re.compile(r"\s+-\s+at\s+`\$\.?([^`]*)`$")
_MEANT = re.compile(r"did you mean `([^`]+)`")
_FIELD = re.compile(r"(?:unknown|missing required) field `([^`]+)`")


def _msgspec_problem(message: str) -> tuple[str, str]:
    """(top-level key, reason) of a msgspec ValidationError message."""
    key = ""
    match = _AT.search(message)
    if match:
        message, key = message[: match.start()], re.split(r"[.\[]", match.group(1))[0]
    found = _FIELD.search(message)
    if found and not key:
        key = found.group(1)
        message = "missing" if message.startswith("Object missing") else "unknown key"
    return key, lower_first(message)


def _top_key(path: str, where: str) -> str:
    rest = path[len(where) + 1:] if path.startswith(where + ".") else ""
    return re.split(r"[.\[]", rest)[0] if rest else ""


def _os_reason(exc: BaseException) -> str:
    return exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)


def openrouter_keys(kind: str) -> list[str]:
    """A destination type's settings in OpenRouter's spelling (for messages and the reference)."""
    return [camel_case(name) for name in REGISTRY[kind].settings_class.__struct_fields__]
