"""Prometheus metrics for a Broadcaster: a custom collector read at each scrape, and the exposition for GET /metrics."""

# Every name starts with spancast_. Per destination the labels are destination (its configured name)
# and type (its destination type); no URL, header or other setting ever becomes a label value, so no
# credential can reach the output. "records" counts generation records.
#
#   spancast_info{version, impl}                                     1 (impl: native | python)
#   spancast_records_received_total{destination, type}               counter
#   spancast_records_delivered_total{destination, type}              counter
#   spancast_records_filtered_total{destination, type}               counter  API-key allowlist, filter rules
#   spancast_records_sampled_out_total{destination, type}            counter
#   spancast_records_dropped_total{destination, type, reason}        counter  every reason in DROP_REASONS, 0 too
#   spancast_delivered_bytes_total{destination, type}                counter  as sent (after compression)
#   spancast_retries_total{destination, type}                        counter  attempts after a batch's first
#   spancast_requests_total{destination, type, outcome}              counter  every outcome in REQUEST_OUTCOMES
#   spancast_batches_total{destination, type, reason}                counter  why each batch closed
#   spancast_queued_records{destination, type}                       gauge    not yet sent: backlog and open batch
#   spancast_queued_bytes{destination, type}                         gauge
#   spancast_in_flight_records{destination, type}                    gauge    being sent or waiting for a retry
#   spancast_in_flight_bytes{destination, type}                      gauge
#   spancast_oldest_queued_age_seconds{destination, type}            gauge
#   spancast_concurrency_limit{destination, type}                    gauge    requests at once (adaptive)
#   spancast_consecutive_failures{destination, type}                 gauge    failed requests since the last success
#   spancast_request_duration_seconds{destination, type}             histogram  one per request, any outcome
#   spancast_batch_records{destination, type}                        histogram  records per batch sent
#   spancast_batch_bytes{destination, type}                          histogram  bytes per batch sent
#   spancast_intake_queued_records, spancast_intake_queued_bytes     gauge    handed to emit(), not yet routed
#   spancast_intake_dropped_records_total                            counter  refused by emit() (intake full, closed)
#   spancast_intake_max_records, spancast_intake_max_bytes           gauge
#   spancast_backlog_records, spancast_backlog_bytes                 gauge    routed, shared by the destinations
#   spancast_memory_bytes, spancast_max_memory_bytes                 gauge    what the pipeline holds, and its cap
#   spancast_intake_invalid_records_total                            counter  emit() refused: not a Generation
# spancast serve:
#   spancast_ingest_records_total{route, outcome}                    counter  /v1/generations: accepted, rejected, refused
#   spancast_ingest_spans_total{outcome}                             counter  /v1/traces: every span, by what became of it
#   spancast_forwarded_spans_total{destination, type, outcome}       counter  spans that are not LLM calls, forwarded:
#                                                                             delivered, or a drop reason
# With a spool:
#   spancast_records_spooled{destination, type}                      gauge    given back to the spool, to re-send
#   spancast_spool_pending_records{destination}                      gauge    older runs' records not re-sent yet
#   spancast_spool_bytes, _max_bytes, _segments, _old_segments       gauge    old: older runs' segments to replay
#   spancast_spool_oldest_age_seconds, spancast_spool_replaying      gauge    replaying: 1 while older runs are read
#   spancast_spool_replay_pending_bytes, spancast_spool_writable     gauge    writable: 0 while a disk error lasts
#   spancast_spool_{written,replayed,redelivered,lost,dropped}_records_total, spancast_spool_corrupt_entries_total,
#   spancast_spool_quarantined_segments_total, spancast_spool_disk_errors_total   counters

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from . import __impl__, __version__
from .pipeline.stats import DROP_REASONS, REQUEST_OUTCOMES, Histogram

__all__ = ["BroadcasterCollector", "ServerCollector", "make_registry", "render"]

PREFIX = "spancast"
LABELS = ("destination", "type")
#: Why a batch closed (Batch.reason); listed so that each appears with 0 before it first happens.
BATCH_REASONS = ("records", "bytes", "interval", "flush", "split")

# (metric suffix, key in a destination's stats() entry, help)
_COUNTERS = (
    ("records_received", "received", "Records routed to the destination."),
    ("records_delivered", "delivered", "Records the destination accepted."),
    ("records_filtered", "filtered", "Records left out by the API-key allowlist or the filter rules."),
    ("records_sampled_out", "sampled_out", "Records left out by sampling."),
    ("delivered_bytes", "delivered_bytes", "Bytes of accepted batches, as sent (after compression)."),
    ("retries", "retried", "Requests that re-sent a batch after a failed attempt."),
)
_GAUGES = (
    ("queued_records", "queued", "Records not yet sent: in the backlog or the open batch."),
    ("queued_bytes", "queued_bytes", "Bytes of the queued records (estimated in the backlog, exact when encoded)."),
    ("in_flight_records", "in_flight", "Records in batches being sent or waiting for a retry."),
    ("in_flight_bytes", "in_flight_bytes", "Bytes of the batches being sent or waiting for a retry."),
    ("oldest_queued_age_seconds", "oldest_queued_age_s", "Age of the oldest record not yet sent."),
    ("concurrency_limit", "concurrency_limit", "Requests the destination may have in flight at once (adaptive)."),
)
_HISTOGRAMS = (
    ("request_duration_seconds", "request_latency_s", "Time from sending a request to its answer, any outcome."),
    ("batch_records", "batch_records", "Records per batch, observed when the batch is first sent."),
    ("batch_bytes", "batch_bytes", "Bytes per batch as sent, observed when the batch is first sent."),
)
# (metric suffix after spancast_spool_, key in stats()["spool"], help)
_SPOOL_GAUGES = (
    ("bytes", "bytes", "Bytes of segment files the spool holds."),
    ("max_bytes", "max_bytes", "The spool's cap on bytes (replayed copies may pass it by about a segment)."),
    ("segments", "segments", "Segment files, this run's and older runs'."),
    ("old_segments", "old_segments", "Older runs' segments still to replay."),
    ("oldest_age_seconds", "oldest_age_s", "Age of the oldest segment: no record in the spool is older."),
    ("replay_pending_bytes", "replay_pending_bytes", "Bytes of older runs' segments still to replay."),
)
_SPOOL_COUNTERS = (
    ("written_records", "written_records", "Records written to the spool (replayed copies included)."),
    ("replayed_records", "replayed_records", "Older runs' records re-sent."),
    ("redelivered_records", "redelivered_records", "Records of this run a destination gave back, re-sent."),
    ("lost_records", "lost_records", "Records lost to damaged spool entries (some destination had not got them)."),
    ("dropped_records", "dropped_records", "Records dropped with the oldest segment under overflow = drop_oldest."),
    ("corrupt_entries", "corrupt_entries", "Damaged spool entries skipped while reading."),
    ("quarantined_segments", "quarantined_segments", "Damaged segments moved to the quarantine directory."),
    ("disk_errors", "disk_errors", "Failed writes, syncs, opens, reads and deletes of spool files."),
)
# (metric name, section of stats(), key, help)
_GLOBAL_GAUGES = (
    ("intake_queued_records", "intake", "queued", "Records handed to emit() and not yet routed."),
    ("intake_queued_bytes", "intake", "bytes", "Estimated bytes of the records in the intake."),
    ("intake_max_records", "intake", "max_records", "The intake's bound in records."),
    ("intake_max_bytes", "intake", "max_bytes", "The intake's bound in bytes."),
    ("backlog_records", "backlog", "records", "Routed records held for the destinations that have not read them."),
    ("backlog_bytes", "backlog", "bytes", "Estimated bytes of the backlog."),
    ("memory_bytes", "backlog", "memory_bytes", "Estimated bytes the pipeline holds: the backlog and encoded bodies."),
    ("max_memory_bytes", "backlog", "max_memory_bytes", "The cap on memory_bytes."),
)


class BroadcasterCollector(Collector):
    """Reads a Broadcaster at each scrape: one stats() snapshot, and each destination's histograms.

    Registered on ``registry`` when one is given; never on prometheus_client's global registry unless
    that is the one passed."""

    def __init__(self, broadcaster: Any, registry: CollectorRegistry | None = None) -> None:
        self.broadcaster = broadcaster
        if registry is not None:
            registry.register(self)

    def describe(self) -> Iterable[Metric]:
        # Names only: registering must not reach into a Broadcaster that may not have started.
        return list(self._families(None, {}))

    def collect(self) -> Iterable[Metric]:
        snapshot = self.broadcaster.stats()
        live = self.broadcaster.destination_stats()
        return list(self._families(snapshot, live))

    def _families(self, snapshot: dict[str, Any] | None, live: dict[str, Any]) -> Iterator[Metric]:
        p = PREFIX
        info = InfoMetricFamily(p, "The spancast version and which encoder is live (native or python).")
        info.add_metric([], {"version": __version__, "impl": __impl__})
        yield info
        types = {d.name: d.type for d in self.broadcaster.destinations}
        destinations = (snapshot or {}).get("destinations", {})
        rows = [([name, types.get(name, "")], d, live.get(name)) for name, d in sorted(destinations.items())]

        for suffix, key, doc in _COUNTERS:
            family = CounterMetricFamily(f"{p}_{suffix}", doc, labels=LABELS)
            for labels, d, _ in rows:
                family.add_metric(labels, d[key])
            yield family
        dropped = CounterMetricFamily(f"{p}_records_dropped", "Records that did not reach the destination, by reason.",
                                      labels=(*LABELS, "reason"))
        batches = CounterMetricFamily(f"{p}_batches", "Batches closed, by why they closed.", labels=(*LABELS, "reason"))
        for labels, d, _ in rows:
            for reason in _with_known(DROP_REASONS, d["dropped"]):
                dropped.add_metric([*labels, reason], d["dropped"].get(reason, 0))
            for reason in _with_known(BATCH_REASONS, d["batches"]):
                batches.add_metric([*labels, reason], d["batches"].get(reason, 0))
        yield dropped
        yield batches
        requests = CounterMetricFamily(f"{p}_requests", "Requests sent (polls and file appends too), by outcome.",
                                       labels=(*LABELS, "outcome"))
        failures = GaugeMetricFamily(f"{p}_consecutive_failures",
                                     "Requests failed in a row since the last that succeeded (0: healthy).",
                                     labels=LABELS)
        for labels, _, s in rows:
            if s is None:
                continue
            counts = dict(s.requests)  # one C-level copy: the loop may be counting meanwhile
            for outcome in _with_known(REQUEST_OUTCOMES, counts):
                requests.add_metric([*labels, outcome], counts.get(outcome, 0))
            failures.add_metric(labels, s.consecutive_failures)
        yield requests

        for suffix, key, doc in _GAUGES:
            family = GaugeMetricFamily(f"{p}_{suffix}", doc, labels=LABELS)
            for labels, d, _ in rows:
                family.add_metric(labels, d[key])
            yield family
        yield failures
        for suffix, attr, doc in _HISTOGRAMS:
            family = HistogramMetricFamily(f"{p}_{suffix}", doc, labels=LABELS)
            for labels, _, s in rows:
                if s is not None:
                    h = getattr(s, attr).snapshot()
                    family.add_metric(labels, _buckets(h), h.sum)
            yield family

        for name, section, key, doc in _GLOBAL_GAUGES:
            family = GaugeMetricFamily(f"{p}_{name}", doc)
            if snapshot is not None:
                family.add_metric([], snapshot[section][key])
            yield family
        intake_dropped = CounterMetricFamily(f"{p}_intake_dropped_records",
                                             "Records emit() refused: the intake was full, or the broadcaster not running.")
        invalid = CounterMetricFamily(f"{p}_intake_invalid_records", "Objects emit() refused: not a Generation.")
        if snapshot is not None:
            intake_dropped.add_metric([], snapshot["intake"]["dropped"])
            invalid.add_metric([], snapshot["intake"].get("invalid", 0))
        yield intake_dropped
        yield invalid
        if snapshot is not None and "spool" in snapshot:
            yield from _spool_families(snapshot["spool"], rows)


def _spool_families(spool: dict[str, Any], rows: list[tuple[list[str], dict[str, Any], Any]]) -> Iterator[Metric]:
    p = f"{PREFIX}_spool"
    spooled = GaugeMetricFamily(f"{PREFIX}_records_spooled", "Records a destination gave back to the spool, to re-send.",
                                labels=LABELS)
    for labels, d, _ in rows:
        spooled.add_metric(labels, d.get("spooled", 0))
    yield spooled
    pending = GaugeMetricFamily(f"{p}_pending_records", "Older runs' records a destination has still to get.",
                                labels=("destination",))
    for name, n in sorted(spool.get("pending_records", {}).items()):
        pending.add_metric([name], n)
    yield pending
    for suffix, key, doc in _SPOOL_GAUGES:
        yield GaugeMetricFamily(f"{p}_{suffix}", doc, value=spool[key])
    yield GaugeMetricFamily(f"{p}_replaying", "1 while older runs are being read back.", value=int(spool["replaying"]))
    yield GaugeMetricFamily(f"{p}_writable", "1 while the spool can write; 0 while a disk error lasts.",
                            value=int(spool["error"] is None))
    for suffix, key, doc in _SPOOL_COUNTERS:
        yield CounterMetricFamily(f"{p}_{suffix}", doc, value=spool[key])


def _with_known(known: tuple[str, ...], seen: Iterable[str]) -> list[str]:
    return [*known, *sorted(k for k in seen if k not in known)]


def _buckets(h: Histogram) -> list[tuple[str, float]]:
    """Cumulative counts under Prometheus' ``le`` labels, ending with +Inf (which equals the count)."""
    cumulative = h.cumulative()
    # le spelled as prometheus_client's own histograms spell it ("0.005", "512.0", "4.194304e+06"):
    # a different spelling of the same bound would be a different series.
    return [(floatToGoString(bound), n) for bound, n in zip(h.bounds, cumulative)] + [("+Inf", cumulative[-1])]


class ServerCollector(Collector):
    """spancast serve's own counters: records and spans by route and outcome, forwarded spans."""

    def __init__(self, server: Any, registry: CollectorRegistry | None = None) -> None:
        self.server = server
        if registry is not None:
            registry.register(self)

    def describe(self) -> Iterable[Metric]:
        return list(self.collect())

    def collect(self) -> Iterable[Metric]:
        s = self.server
        records = CounterMetricFamily(f"{PREFIX}_ingest_records", "Records posted to /v1/generations, by outcome.",
                                      labels=("route", "outcome"))
        for outcome, n in (("accepted", s.accepted), ("rejected", s.rejected), ("refused", s.refused)):
            records.add_metric(["/v1/generations", outcome], n)
        yield records
        spans = CounterMetricFamily(f"{PREFIX}_ingest_spans", "Spans posted to /v1/traces, by what became of them.",
                                    labels=("outcome",))
        for outcome, n in s.traces.spans.items():
            spans.add_metric([outcome], n)
        yield spans
        forwarded = CounterMetricFamily(f"{PREFIX}_forwarded_spans", "Spans that are not LLM calls, forwarded: "
                                        "delivered, or why not.", labels=(*LABELS, "outcome"))
        if s.forwarder is not None:
            for target in s.forwarder.targets:
                stats = s.forwarder.stats[target.name]
                labels = [target.name, target.destination.type]
                forwarded.add_metric([*labels, "delivered"], stats.delivered)
                for reason in _with_known(DROP_REASONS, stats.dropped):
                    forwarded.add_metric([*labels, reason], stats.dropped.get(reason, 0))
        yield forwarded


def make_registry(broadcaster: Any, *, process: bool = True, server: Any = None) -> CollectorRegistry:
    """A new registry holding a BroadcasterCollector (and a ServerCollector for spancast serve) and, when
    process is true, prometheus_client's process, platform and garbage-collector collectors (process_*, python_*)."""
    from prometheus_client import GCCollector, PlatformCollector, ProcessCollector

    registry = CollectorRegistry()
    BroadcasterCollector(broadcaster, registry)
    if server is not None:
        ServerCollector(server, registry)
    if process:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The body and Content-Type of a GET /metrics answer: the Prometheus text format, as prometheus_client writes it."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
