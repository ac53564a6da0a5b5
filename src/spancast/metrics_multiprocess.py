"""spancast serve --workers: one /metrics for every worker, through prometheus-client's multiprocess mode.

spancast's metrics are read from the pipeline at each scrape (metrics.py's collectors), which
multiprocess mode cannot merge. So each worker mirrors them into prometheus-client metric objects
whose values live in the shared PROMETHEUS_MULTIPROC_DIR (the supervisor makes it and removes it):
counters by the increase since the last mirror, gauges as they are, histograms bucket by bucket.
A worker mirrors itself every SYNC_INTERVAL_S and whenever it answers a scrape, and /metrics is
rendered by prometheus-client's MultiProcessCollector: counters and histograms are summed over the
workers (a worker that exited keeps counting), gauges summed over the live ones, except those below,
which take the largest (ages, failures) or the smallest (the spool's writable flag). The other workers'
values are at most SYNC_INTERVAL_S old. process_* and python_* are not exported in this mode
(prometheus-client's process collector is per process).
"""

from __future__ import annotations

from typing import Any, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["SYNC_INTERVAL_S", "Mirror", "merged_registry"]

SYNC_INTERVAL_S = 1.0
GAUGE_MODES = {
    "spancast_oldest_queued_age_seconds": "livemax",
    "spancast_consecutive_failures": "livemax",
    "spancast_spool_oldest_age_seconds": "livemax",
    "spancast_spool_replaying": "livemax",
    "spancast_spool_writable": "livemin",
    "spancast_info": "livemax",
}


def merged_registry(directory: str | None = None) -> CollectorRegistry:
    """A registry that reads every worker's files (the directory, or $PROMETHEUS_MULTIPROC_DIR)."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    return registry


class Mirror:
    """Copies what collectors report into multiprocess-mode metric objects; sync() whenever values should show."""

    def __init__(self, collectors: Iterable[Any]) -> None:
        self.collectors = list(collectors)
        self._metrics: dict[str, Any] = {}
        self._last: dict[tuple[str, tuple[str, ...]], Any] = {}
        self.syncs = 0

    def sync(self) -> None:
        for collector in self.collectors:
            for family in collector.collect():
                if family.type == "counter":
                    self._counter(family)
                elif family.type == "histogram":
                    self._histogram(family)
                else:  # gauge, info
                    self._gauge(family)
        self.syncs += 1

    def _metric(self, name: str, labelnames: tuple[str, ...], make: Any) -> Any:
        metric = self._metrics.get(name)
        if metric is None:
            metric = self._metrics[name] = make(labelnames)
        return metric

    def _counter(self, family: Any) -> None:
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            names, values = tuple(sample.labels), tuple(sample.labels.values())
            metric = self._metric(family.name, names, lambda n: Counter(family.name, family.documentation, n,
                                                                         registry=None))
            key = (family.name, values)
            delta = sample.value - self._last.get(key, 0.0)
            child = metric.labels(*values) if names else metric  # made now, so that a 0 shows too
            if delta > 0:
                child.inc(delta)
            self._last[key] = sample.value

    def _gauge(self, family: Any) -> None:
        for sample in family.samples:  # an info family's one sample is named <family>_info
            names, values = tuple(sample.labels), tuple(sample.labels.values())
            mode = GAUGE_MODES.get(sample.name, "livesum")
            metric = self._metric(sample.name, names, lambda n: Gauge(sample.name, family.documentation, n,
                                                                       registry=None, multiprocess_mode=mode))
            (metric.labels(*values) if names else metric).set(sample.value)

    def _histogram(self, family: Any) -> None:
        series: dict[tuple[str, ...], dict[str, Any]] = {}
        names: tuple[str, ...] = ()
        for sample in family.samples:
            labels = dict(sample.labels)
            le = labels.pop("le", None)
            names = tuple(labels)
            entry = series.setdefault(tuple(labels.values()), {"buckets": [], "sum": 0.0})
            if sample.name.endswith("_bucket"):
                entry["buckets"].append((float(le), sample.value))  # type: ignore[arg-type]
            elif sample.name.endswith("_sum"):
                entry["sum"] = sample.value
        for values, entry in series.items():
            bounds = [b for b, _ in entry["buckets"]]
            metric = self._metric(family.name, names, lambda n: Histogram(family.name, family.documentation, n,
                                                                           registry=None, buckets=bounds))
            child = metric.labels(*values) if names else metric
            # cumulative counts -> per bucket, as prometheus-client stores them; then the increase since last time
            counts = [n for _, n in entry["buckets"]]
            per_bucket = [counts[0]] + [b - a for a, b in zip(counts, counts[1:])]
            key = (family.name, values)
            last = self._last.get(key) or ([0.0] * len(per_bucket), 0.0)
            for i, (now, before) in enumerate(zip(per_bucket, last[0])):
                if now > before:
                    child._buckets[i].inc(now - before)  # prometheus-client's own per-bucket values
            if entry["sum"] != last[1]:
                child._sum.inc(entry["sum"] - last[1])
            self._last[key] = (per_bucket, entry["sum"])

    def __repr__(self) -> str:
        return f"<Mirror metrics={len(self._metrics)} syncs={self.syncs}>"
