"""The `spancast` command: serve, worker, send, test, preview, check, demo, bench.

Exit codes (the same for every command)::

    0  done: everything checked passed, every record was delivered (or left out by routing)
    1  done, but something failed: a connection test, a dropped or invalid record, a configuration problem (check)
    2  could not run: bad arguments, a configuration with problems, an address or spool directory it cannot
       use, an input with no records (send)
    130 interrupted

worker runs until SIGTERM or SIGINT, then drains: 0 after that (entries it could not deliver stay
pending, for another worker to claim); 1 when Redis refused it for good while it ran (WRONGTYPE,
NOPERM, ...: it drains all the same); 2 when it cannot start (arguments, configuration, Redis
unreachable or refusing the credentials, the redis package missing).

The configuration comes from --config, else $SPANCAST_CONFIG, else ./spancast.toml when it exists,
else the embedded default (a local file destination under ./spancast-out/), which is announced.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import orjson
from rich.console import Console
from rich.table import Table

from ._version import __version__
from .config import Config, default_config, load_config
from .errors import ConfigError, InvalidConfigError, RecordError

__all__ = ["main"]

OK, FAILED, UNUSABLE, INTERRUPTED = 0, 1, 2, 130
DEFAULT_CONFIG_FILE = "spancast.toml"

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Unusable(Exception):
    """The command cannot run (exit 2); the message says why, problems lists a configuration's."""

    def __init__(self, message: str, problems: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


# ------------------------------------------------------------------ configuration


def find_config(path: str | None) -> tuple[Config, bool]:
    """(the configuration, whether it is the embedded default)."""
    chosen = path or os.environ.get("SPANCAST_CONFIG") or (DEFAULT_CONFIG_FILE if Path(DEFAULT_CONFIG_FILE).exists() else None)
    if chosen is None:
        return default_config(), True
    try:
        return load_config(chosen), False
    except InvalidConfigError as exc:
        raise Unusable(str(exc), exc.problems) from None


def announce_default(quiet: bool) -> None:
    if not quiet:
        err.print("[yellow]no configuration given[/]: using the embedded default, one [bold]file[/] destination "
                  "writing OTLP JSON lines to ./spancast-out/traces.jsonl (pass --config FILE for real backends)")


# ------------------------------------------------------------------ commands


def cmd_serve(args: argparse.Namespace) -> int:
    from ._loop import loop_name

    config, embedded = find_config(args.config)
    if args.worker is not None:
        return _serve_worker(args, config)
    workers = args.workers or config.server.workers
    if workers > 1:
        return _supervise(args, config, embedded, workers)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def announce(s: Any, loop: Any) -> None:
        names = ", ".join(f"{d.name} ({d.type})" for d in config.destinations) or "none"
        grpc = f"; OTLP/gRPC on port {s.grpc.port}" if s.grpc is not None else ""
        err.print(f"spancast {__version__} serving on [bold]{s.url}[/] (POST /v1/generations, /v1/traces, GET /metrics, "
                  f"/healthz, /readyz){grpc} on {loop_name(loop)}; auth {'on' if s._expected else 'off (loopback only)'}; "
                  f"destinations: {names}")
        if embedded:
            announce_default(False)
        warn_no_destinations(config)

    return _run_server(config, announce, host=args.host, port=args.port)


def _serve_worker(args: argparse.Namespace, config: Config) -> int:
    """One worker of spancast serve --workers (server_workers.py): SO_REUSEPORT, its own spool subdirectory,
    metrics mirrored for the merged /metrics; says it listens with one line on stdout."""
    import dataclasses

    from .server_workers import READY, worker_spool

    logging.basicConfig(level=logging.INFO,
                        format=f"%(asctime)s %(levelname)s %(name)s[worker {args.worker}]: %(message)s")
    if config.spool is not None:
        spool = dataclasses.replace(config.spool, directory=worker_spool(config.spool.directory, args.worker))
        config = dataclasses.replace(config, spool=spool)
    for destination in config.destinations:
        if destination.type == "file":  # two processes must not append to (and rotate) one file
            destination.worker = args.worker

    def ready(s: Any, loop: Any) -> None:
        sys.stdout.write(READY + "\n")
        sys.stdout.flush()

    return _run_server(config, ready, host=args.host, port=args.port, reuse_port=True, merged_metrics=True)


def _run_server(config: Config, on_ready: Callable[[Any, Any], None], **server_options: Any) -> int:
    """Serve on a new loop until a signal; on_ready(server, loop) once it listens. A configuration, listening or
    spool problem is Unusable (one line, exit 2), for a lone server and for a worker alike."""
    from ._loop import new_loop
    from .errors import ListenError, SpoolError
    from .server import Server, serve

    loop = new_loop(config.pipeline.use_uvloop)
    try:
        server = Server(config, **server_options)
    except (PermissionError, ConfigError) as exc:
        loop.close()
        raise Unusable(str(exc)) from None
    try:
        return loop.run_until_complete(serve(server, lambda s: on_ready(s, loop)))
    except (ListenError, SpoolError) as exc:
        raise Unusable(str(exc)) from None
    finally:
        loop.close()


def _supervise(args: argparse.Namespace, config: Config, embedded: bool, workers: int) -> int:
    import signal

    from .server import is_loopback
    from .server_workers import Supervisor, WorkerFailed

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host = args.host or config.server.host
    port = config.server.port if args.port is None else args.port
    token = config.server.token or os.environ.get("SPANCAST_TOKEN")
    if not token and not is_loopback(host):
        raise Unusable(f"refusing to listen on {host} without a token: set server.token in the configuration "
                       "(or server.token_file, or SPANCAST_TOKEN)")
    supervisor = Supervisor(workers, host, port, ["--config", args.config] if args.config else [])
    try:
        supervisor.bind()
    except OSError as exc:
        raise Unusable(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, supervisor.forward)
    try:
        try:
            supervisor.start()
        except WorkerFailed as exc:
            err.print(f"spancast serve: {exc}", markup=False)
            return exc.status
        names = ", ".join(f"{d.name} ({d.type})" for d in config.destinations) or "none"
        url = f"http://{f'[{host}]' if ':' in host else host}:{supervisor.port}"
        err.print(f"spancast {__version__} serving on [bold]{url}[/] with {workers} workers (POST /v1/generations, "
                  f"/v1/traces, GET /metrics merged, /healthz, /readyz); auth {'on' if token else 'off (loopback only)'}; "
                  f"destinations: {names}")
        if embedded:
            announce_default(False)
        warn_no_destinations(config)

        def on_exit(index: int, status: int) -> None:
            if not supervisor.signals:
                logging.getLogger("spancast.server").error("worker %d exited with status %d while serving; the "
                                                           "others go on", index, status)

        statuses = supervisor.wait_all(on_exit)
    finally:
        supervisor.close()
    if len(supervisor.signals) > 1:
        return 128 + supervisor.signals[-1]
    return max(statuses)


def warn_no_destinations(config: Config) -> bool:
    """Say so when records would go nowhere; True when that is the case."""
    if any(d.settings.enabled for d in config.destinations):
        return False
    what = "every destination is disabled" if config.destinations else "no destination is configured"
    err.print(f"[yellow]warning[/]: {what}: records are accepted and go nowhere ([[destinations]] in the "
              "configuration; /readyz answers 503 meanwhile)")
    return True


def cmd_worker(args: argparse.Namespace) -> int:
    from ._loop import new_loop
    from .broadcaster import Broadcaster
    from .destinations.redis import SCHEMES, masked_url
    from .sources.redis_stream import WorkerSettings, default_consumer

    url = args.redis or os.environ.get("SPANCAST_REDIS_URL")
    if not url:
        raise Unusable("--redis URL is required (or SPANCAST_REDIS_URL, which keeps a password off the command line)")
    if url.partition("://")[0] not in SCHEMES:
        raise Unusable(f"--redis: expected redis://host:6379/0, rediss:// or unix:///path, got {masked_url(url)}")
    try:
        import redis  # noqa: F401 - an optional extra
    except ImportError:
        raise Unusable("needs the redis package: pip install 'spancast[redis]'") from None
    try:
        settings = WorkerSettings(args.stream, args.group, args.consumer or default_consumer(),
                                  min_idle_s=args.min_idle_s, batch=args.batch, max_unacked=args.max_unacked,
                                  field=args.field)
    except ValueError as exc:
        raise Unusable(str(exc)) from None
    config, embedded = find_config(args.config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Room is checked before every read, so nothing overflows; emit() must never block the loop.
    broadcaster = Broadcaster.from_config(config, overflow="drop_newest")
    names = ", ".join(f"{d.name} ({d.type})" for d in config.destinations) or "none"
    err.print(f"spancast {__version__} worker {settings.consumer} in group {settings.group} on {settings.stream} at "
              f"{masked_url(url)}; destinations: {names}", markup=False)
    if embedded:
        announce_default(False)
    warn_no_destinations(config)
    loop = new_loop(config.pipeline.use_uvloop)
    try:
        return loop.run_until_complete(_work(url, broadcaster, settings))
    finally:
        loop.close()


async def _work(url: str, broadcaster: Any, settings: Any) -> int:
    """Run a StreamWorker until SIGTERM or SIGINT; a second signal exits at once."""
    import redis.exceptions as rx

    from ._signals import stop_event

    from .destinations.redis import masked_url
    from .pipeline.redis_transport import make_client
    from .sources.redis_stream import StreamWorker

    client = make_client(url, timeout_s=10.0 + settings.block_ms / 1000)
    try:
        try:
            await client.ping()
            worker = StreamWorker(client, broadcaster, settings)
        except rx.RedisError as exc:
            raise Unusable(f"redis at {masked_url(url)}: {exc}") from None
        stop = stop_event(asyncio.get_running_loop(), logging.getLogger("spancast.worker"))
        try:
            return await worker.run(stop)
        except rx.RedisError as exc:  # joining the group: WRONGTYPE (the key is no stream), NOPERM
            raise Unusable(f"redis at {masked_url(url)}: {exc}") from None
    finally:
        await client.aclose()


def cmd_send(args: argparse.Namespace) -> int:
    from .broadcaster import Broadcaster
    from .sources import read_records

    config, embedded = find_config(args.config)
    if embedded:
        announce_default(args.json)
    stream = sys.stdin.buffer if args.file == "-" else _open(args.file)
    size = None if args.file == "-" else os.fstat(stream.fileno()).st_size
    # A replay should wait for room rather than drop: block, with a deadline long enough to ride out a slow backend.
    broadcaster = Broadcaster.from_config(config, overflow="block", block_timeout_s=args.timeout_s)
    invalid: list[RecordError] = []
    sent = 0
    with broadcaster, _progress(not args.json and size is not None, size, "sending") as advance:
        for records, errors, nbytes in read_records(stream):
            invalid.extend(errors)
            for record in records:
                sent += broadcaster.emit(record)
            advance(nbytes)
        broadcaster.flush(args.timeout_s)
    if not sent and not invalid:
        raise Unusable(f"{'standard input' if args.file == '-' else args.file} holds no records "
                       "(NDJSON: one JSON object per line, or a JSON array)")
    return _report_delivery(broadcaster, sent, invalid, args.json)


def cmd_demo(args: argparse.Namespace) -> int:
    from .broadcaster import Broadcaster
    from .demo import demo_records

    config, embedded = find_config(args.config)
    broadcaster = Broadcaster.from_config(config, overflow="block", block_timeout_s=args.timeout_s)
    sent = 0
    with broadcaster, _progress(not args.json, args.records, "demo records") as advance:
        for record in demo_records(args.records, seed=args.seed):
            sent += broadcaster.emit(record)
            advance(1)
        broadcaster.flush(args.timeout_s)
    code = _report_delivery(broadcaster, sent, [], args.json)
    if not args.json:
        for d in config.destinations:
            if d.type == "file":
                out.print(f"[green]→[/] {d.path} holds them: one OTLP JSON export request per line")
        if embedded:
            announce_default(False)
    return code


def cmd_test(args: argparse.Namespace) -> int:
    from .connection import check_connection

    config, embedded = find_config(args.config)
    if embedded:
        announce_default(args.json)
    destinations = [d for d in config.destinations if args.name is None or d.name == args.name]
    if not destinations:
        raise Unusable(f"no destination named {args.name!r}; configured: {', '.join(d.name for d in config.destinations)}")

    async def run() -> list[Any]:
        return await asyncio.gather(*(check_connection(d, args.timeout_s) for d in destinations))

    results = asyncio.run(run())
    if args.json:
        _print_json([{"destination": r.destination, "type": d.type, "ok": r.ok, "status": r.status,
                      "latency_ms": round(r.latency_s * 1000, 1), "error": r.error, "hint": r.hint,
                      "response_excerpt": r.excerpt} for r, d in zip(results, destinations)])
    else:
        table = _table("test connection", "destination", "type", "result", "status", "latency")
        for r, d in zip(results, destinations):
            verdict = "[green]ok[/]" if r.ok else "[red]failed[/]"
            table.add_row(r.destination, d.type, verdict, str(r.status or "-"), f"{r.latency_s * 1000:.0f} ms")
        out.print(table)
        # Details go below the table, whole: a cell 80 columns allow would cut them.
        for r in results:
            detail = "; ".join(part for part in (r.error, r.excerpt if not r.ok else "", r.hint) if part)
            if detail:
                out.print(f"{'ok' if r.ok else 'failed'} {r.destination}: {detail}", markup=False)
    return OK if all(r.ok for r in results) else FAILED


def cmd_preview(args: argparse.Namespace) -> int:
    from .connection import preview
    from .record import decode_records

    config, _ = find_config(args.config)
    result = decode_records(_open(args.record).read())
    if result.errors:
        raise Unusable(f"{args.record}: {result.errors[0]}")
    if not result.records:
        raise Unusable(f"{args.record}: no record in it")
    try:
        destination = next(d for d in config.destinations if d.name == args.dest)
    except StopIteration:
        raise Unusable(f"no destination named {args.dest!r}; configured: "
                       f"{', '.join(d.name for d in config.destinations)}") from None
    shown = preview(destination, result.records[0])
    if args.json or not out.is_terminal:
        _print_json(shown)
    else:
        from rich.syntax import Syntax

        out.print(Syntax(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode(), "json", word_wrap=True))
    return OK


def cmd_bench(args: argparse.Namespace) -> int:
    """The suites live in the repository's benchmarks/ (not installed with the package): find it from here
    up and run `python -m benchmarks` there with this interpreter, so the same spancast is measured."""
    import subprocess

    here = Path.cwd().resolve()
    root = next((d for d in (here, *here.parents) if (d / "benchmarks" / "__main__.py").is_file()), None)
    if root is None:
        raise Unusable("the benchmarks are not installed with the package: run this from a clone of the spancast "
                       "repository (or a directory inside one), where benchmarks/ is; see benchmarks/README.md there")
    return subprocess.run([sys.executable, "-m", "benchmarks", args.suite, *args.args], cwd=root, check=False).returncode


def cmd_check(args: argparse.Namespace) -> int:
    if args.file and args.config and args.file != args.config:
        raise Unusable(f"two configurations given ({args.file} and --config {args.config}): check one at a time")
    path = args.file or args.config
    try:
        config, _ = find_config(path)
        if config.spool is not None:
            _check_spool(config.spool.directory)
    except Unusable as exc:
        problems = exc.problems or [ConfigError(path or "<config>", str(exc))]
        if args.json:
            _print_json({"ok": False, "problems": [{"path": p.path, "reason": p.reason} for p in problems]})
        else:
            err.print(f"✗ {exc}", markup=False)
        return FAILED
    rows = [{"name": d.name, "type": d.type, "enabled": d.settings.enabled, "routing": _routing(d)}
            for d in config.destinations]
    nowhere = not any(row["enabled"] for row in rows)
    if args.json:
        _print_json({"ok": True, "source": config.source, "destinations": rows,
                     "warnings": ["records would go nowhere: no destination is configured and enabled"] if nowhere else []})
        return OK
    table = _table(f"{config.source}: ok", "name", "type", "enabled", "routing")
    for row in rows:
        table.add_row(row["name"], row["type"], "yes" if row["enabled"] else "no", row["routing"])
    if rows:
        out.print(table)
    else:
        out.print(f"{config.source}: ok")
    warn_no_destinations(config)
    return OK


def _check_spool(directory: str) -> None:
    from .errors import SpoolError
    from .pipeline.spool import check_directory

    try:
        check_directory(directory, create=False)
    except SpoolError as exc:
        raise Unusable(str(exc), [ConfigError("spool.directory", f"{exc.path}: {exc.reason}")]) from None


# ------------------------------------------------------------------ helpers


def _routing(destination: Any) -> str:
    s = destination.settings
    parts = []
    if s.api_key_hashes:
        parts.append(f"{len(s.api_key_hashes)} key hash(es)")
    if s.filter_rules:
        parts.append("filter rules")
    if s.sampling_rate < 1:
        parts.append(f"sampling {s.sampling_rate:g}")
    if s.privacy_mode:
        parts.append("privacy mode")
    return ", ".join(parts) or "everything"


def _open(path: str) -> Any:
    try:
        return open(path, "rb")  # noqa: SIM115 - closed at exit; the commands are one-shot
    except OSError as exc:
        raise Unusable(f"cannot read {path}: {exc.strerror or exc}") from None


class _progress:
    """A rich progress bar on stderr when shown, else nothing; yields advance(n)."""

    def __init__(self, shown: bool, total: int | None, label: str) -> None:
        self.shown, self.total, self.label = shown and err.is_terminal, total, label
        self.bar: Any = None

    def __enter__(self) -> Any:
        if not self.shown:
            return lambda n: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self.bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), console=err, transient=True)
        self.bar.start()
        task = self.bar.add_task(self.label, total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _report_delivery(broadcaster: Any, sent: int, invalid: list[RecordError], as_json: bool) -> int:
    stats = broadcaster.stats()
    rows = []
    for name, s in stats["destinations"].items():
        rows.append({"destination": name, "received": s["received"], "delivered": s["delivered"],
                     "filtered": s["filtered"], "sampled_out": s["sampled_out"],
                     "undelivered": s["queued"] + s["in_flight"], "dropped": s["dropped"],
                     "last_error": s["last_error"]})
    failed = bool(invalid) or stats["intake"]["dropped"] > 0 or any(r["dropped"] or r["undelivered"] for r in rows)
    if as_json:
        _print_json({"records": sent, "invalid": [{"index": e.index, "field": e.field, "error": e.reason}
                                                  for e in invalid],
                     "intake_dropped": stats["intake"]["dropped"], "destinations": rows, "ok": not failed})
        return FAILED if failed else OK
    # "pending": still queued or in flight when the command gave up waiting (undelivered in --json)
    table = _table(f"{sent} records", "destination", "delivered", "filtered", "sampled out", "dropped", "pending")
    for r in rows:
        table.add_row(r["destination"], str(r["delivered"]), str(r["filtered"]), str(r["sampled_out"]),
                      str(sum(r["dropped"].values())), str(r["undelivered"]))
    out.print(table)
    # Why, below the table and whole: reasons and error texts are too long for a cell at 80 columns.
    for r in rows:
        why = ", ".join(f"{reason} {n}" for reason, n in sorted(r["dropped"].items()))
        parts = [f"dropped: {why}" if why else "", f"last error: {r['last_error']}" if r["last_error"] else ""]
        if any(parts):
            out.print(f"{r['destination']}: {'; '.join(p for p in parts if p)}", markup=False)
    for e in invalid[:20]:
        err.print(f"invalid record at line {e.index + 1 if e.index is not None else '?'}: {e.field}: {e.reason}",
                  markup=False)
    if len(invalid) > 20:
        err.print(f"... and {len(invalid) - 20} more invalid records")
    return FAILED if failed else OK


def _table(title: str, *headers: str) -> Table:
    """A result table that fits 80 columns by wrapping its cells, never by cutting a name short: the
    first column (the names) is never wrapped, the others give way."""
    from rich.table import Column

    from rich import box

    first, *rest = headers
    # Ruled lines only under the header: vertical rules would cost 3 columns a column.
    return Table(Column(first, no_wrap=True), *(Column(h, overflow="fold", min_width=min(len(h), 9)) for h in rest),
                 title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False, show_edge=False)


def _print_json(value: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()


# ------------------------------------------------------------------ arguments


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535 (0: any free port), got {port}")
    return port


def _count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {count}")
    return count


def parser() -> argparse.ArgumentParser:
    epilog = __doc__.split("\n\n", 1)[1].replace("::\n", ":\n")  # the docstring's reST literal marker
    p = argparse.ArgumentParser(prog="spancast", description="Broadcast LLM generation records to observability "
                                "and finance backends.", epilog=epilog,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"spancast {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help, description=help)
        c.add_argument("--config", metavar="FILE", help="TOML, or OpenRouter's destinations JSON")
        return c

    c = command("serve", "take records over HTTP and deliver them until SIGTERM")
    c.add_argument("--host", help="address to listen on (default: server.host, 127.0.0.1)")
    c.add_argument("--port", type=_port, help="port (default: server.port, 4320; 0: any free port)")
    c.add_argument("--workers", type=_count, metavar="N",
                   help="processes serving the port, each with its own pipeline (default: server.workers, 1)")
    c.add_argument("--worker", type=int, help=argparse.SUPPRESS)  # set by the supervisor for each worker
    c.set_defaults(run=cmd_serve)
    c = command("worker", "deliver the records of a Redis stream as one consumer of a consumer group, until SIGTERM")
    c.add_argument("--redis", metavar="URL", help="redis://[user:password@]host:6379/0 (or SPANCAST_REDIS_URL)")
    c.add_argument("--stream", required=True, metavar="KEY", help="the stream key (the redis destination's stream)")
    c.add_argument("--group", required=True, metavar="NAME", help="the consumer group: every worker of a pool the same")
    c.add_argument("--consumer", metavar="NAME", help="this worker's name in the group (default: host-pid)")
    c.add_argument("--min-idle-s", type=float, default=120.0, metavar="S",
                   help="claim entries another worker left pending this long (default 120; longer than retries take)")
    c.add_argument("--batch", type=_count, default=500, metavar="N", help="entries per read at most (default 500)")
    c.add_argument("--max-unacked", type=_count, default=20_000, metavar="N",
                   help="entries read but not yet acknowledged at most: reading pauses there (default 20000)")
    c.add_argument("--field", default="record", help="the entry field holding the record (default record)")
    c.set_defaults(run=cmd_worker)
    c = command("send", "deliver the records of an NDJSON file (or - for stdin) and report per destination")
    c.add_argument("file", metavar="FILE|-")
    _common(c)
    c.set_defaults(run=cmd_send)
    c = command("test", "send the connection test to one destination or all of them")
    c.add_argument("name", nargs="?", metavar="NAME")
    _common(c)
    c.set_defaults(run=cmd_test)
    c = command("preview", "show the exact request a destination would get for a record (secrets masked)")
    c.add_argument("record", metavar="RECORD.json")
    c.add_argument("--dest", required=True, metavar="NAME")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c.set_defaults(run=cmd_preview)
    c = command("check", "validate a configuration file and list every problem")
    c.add_argument("file", nargs="?", metavar="CONFIG")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c.set_defaults(run=cmd_check)
    c = command("demo", "generate realistic records and deliver them, to see spancast work")
    c.add_argument("--records", type=_count, default=200, help="how many (default 200)")
    c.add_argument("--seed", type=int, default=7, help="same seed, same records")
    _common(c)
    c.set_defaults(run=cmd_demo)
    c = sub.add_parser("bench", help="run a benchmark suite (from a clone of the repository)",
                       description="run a benchmark suite of the repository's benchmarks/ (python -m benchmarks)")
    c.add_argument("suite", metavar="SUITE", help="encode, pipeline, fanout, sweep, compare, serve or soak")
    c.add_argument("args", nargs=argparse.REMAINDER, help="the suite's options: --quick, --out DIR, ... (see --help)")
    c.set_defaults(run=cmd_bench)
    return p


def _common(c: argparse.ArgumentParser) -> None:
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c.add_argument("--timeout-s", type=float, default=30.0, help="how long to wait for delivery (default 30)")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except Unusable as exc:
        err.print(f"spancast {args.command}: {exc}", markup=False)
        return UNUSABLE
    except KeyboardInterrupt:
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
