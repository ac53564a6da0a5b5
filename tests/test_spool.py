"""The disk spool: what a run leaves undelivered reaches the destinations on the next start, and nothing else."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

from spancast import Broadcaster
from spancast.metrics import make_registry, render
from spancast.pipeline.retry import RetryPolicy
from spancast.pipeline.spool import SpoolSettings
from spancast.pipeline.spool_format import RECORDS, Records, entries
from spancast.testing.sink import OtlpSink, Reply

from conftest import full_record

FAST_GIVE_UP = RetryPolicy(max_attempts=2, initial_backoff_s=0.001, max_backoff_s=0.001)


def broadcaster(spool_dir: Path, *sinks: OtlpSink, **kwargs) -> Broadcaster:
    spool = {"directory": str(spool_dir), "fsync": "batch", **kwargs.pop("spool", {})}
    return Broadcaster([{"type": "otel-collector", "name": f"d{i}", "endpoint": s.url} for i, s in enumerate(sinks)],
                       max_batch_records=20, flush_interval_s=0.01, retry=FAST_GIVE_UP, spool=spool,
                       shutdown_timeout_s=2, **kwargs)


def ids(n: int, offset: int = 0) -> list[str]:
    return [full_record(i).id for i in range(offset, offset + n)]


async def until(condition, timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


def test_records_a_destination_did_not_settle_are_replayed_there_and_only_there(tmp_path):
    async def main():
        async with OtlpSink() as up, OtlpSink(default=Reply.error(503)) as down:
            first = broadcaster(tmp_path, up, down)
            async with first:
                for i in range(100):
                    first.emit(full_record(i))
                await first.aflush(5)
            assert sorted(up.generation_ids()) == sorted(ids(100))  # d0 got everything the first time
            d1 = first.stats()["destinations"]["d1"]
            # given back to the spool, not dropped: it re-sends them (here: on the next start)
            assert (d1["dropped"], d1["spooled"], list(d1["given_back"])) == ({}, 100, ["retries_exhausted"])
            assert list(tmp_path.glob("*.seg"))  # d1's records are still spooled
            down.default = Reply.ok()
            second = broadcaster(tmp_path, up, down)
            async with second:
                await until(lambda: len(down.generation_ids()) >= 100 and not second.spool.replaying)
                await second.aflush(5)
                stats = second.stats()
            assert sorted(down.generation_ids()) == sorted(ids(100))
            assert sorted(up.generation_ids()) == sorted(ids(100))  # no duplicate for d0
            assert stats["spool"]["replayed_records"] == 100
            assert stats["destinations"]["d1"]["delivered"] == 100 and "d0" not in _received(stats, 1)
        assert list(tmp_path.glob("*.seg")) == []  # all settled: a clean close leaves nothing

    asyncio.run(main())


def _received(stats, minimum):
    return {name for name, d in stats["destinations"].items() if d["received"] >= minimum}


def test_what_the_shutdown_deadline_leaves_stays_spooled(tmp_path):
    async def main():
        async with OtlpSink(default=Reply.stall()) as stalled:
            first = broadcaster(tmp_path, stalled, spool={"fsync": "never"})
            first.shutdown_timeout_s = 0.2
            async with first:
                for i in range(30):
                    first.emit(full_record(i))
            d0 = first.stats()["destinations"]["d0"]
            assert (d0["dropped"], d0["spooled"]) == ({}, 30) and first.summary["d0"]["left_in_spool"] == 30
        async with OtlpSink() as sink:
            second = broadcaster(tmp_path, sink)
            async with second:
                await until(lambda: len(sink.generation_ids()) >= 30)
            assert sorted(sink.generation_ids()) == sorted(ids(30))

    asyncio.run(main())


def records_entries(path: Path) -> list[tuple[int, list[str]]]:
    """(offset, record ids) of each RECORDS entry of a segment."""
    return [(offset, [r.id for r in msgspec.json.decode(payload, type=Records).records])
            for offset, kind, payload in entries(path.read_bytes()) if kind == RECORDS]


def test_corruption_costs_the_damaged_entry_only_counted_and_quarantined(tmp_path):
    """A flipped byte inside one entry loses that entry's records, no more: the reader resynchronises on
    the next entry marker, counts the entry and the records it held, and keeps the segment aside. A
    torn last entry (a crash mid-write: never acknowledged) is skipped, not counted as damage."""
    async def main():
        async with OtlpSink(default=Reply.error(503)) as down:
            first = broadcaster(tmp_path, down, spool={"segment_bytes": 4096})
            async with first:
                for i in range(60):  # a drain chunk, an entry, each: several segments
                    first.emit(full_record(i))
                    await until(lambda: first.spool.written == i + 1)
                await first.aflush(5)
        segments = sorted(tmp_path.glob("*.seg"))
        assert len(segments) > 3
        middle = segments[1]
        (offset, damaged), *rest = records_entries(middle)
        assert rest  # the damaged entry has intact ones after it in its segment
        data = bytearray(middle.read_bytes())
        data[offset + 30] ^= 0x01  # one flipped bit inside the entry's payload
        middle.write_bytes(bytes(data))
        last = segments[-1]
        torn = records_entries(last)[-1]
        last.write_bytes(last.read_bytes()[:-7])  # the last entry torn in the middle
        async with OtlpSink() as sink:
            second = broadcaster(tmp_path, sink, spool={"segment_bytes": 4096})
            async with second:
                await until(lambda: not second.spool.old)
                await second.aflush(5)
                counts = second.stats()["spool"]
                text = render(make_registry(second, process=False))[0].decode()
            got = sink.generation_ids()
        assert sorted(got) == sorted(set(ids(60)) - set(damaged) - set(torn[1]))
        assert (counts["corrupt_entries"], counts["lost_records"], counts["quarantined_segments"]) == (1, len(damaged), 1)
        assert [p.name for p in (tmp_path / "quarantine").iterdir()] == [middle.name]
        for line in ("spancast_spool_corrupt_entries_total 1.0", f"spancast_spool_lost_records_total {len(damaged)}.0",
                     "spancast_spool_quarantined_segments_total 1.0", "spancast_spool_replaying 0.0"):
            assert line in text.splitlines(), line  # /metrics shows it
        assert list(tmp_path.glob("*.seg")) == []

    asyncio.run(main())


@pytest.mark.parametrize("fsync", ["never", "batch", "interval"])
def test_records_become_durable_under_each_fsync_policy(tmp_path, fsync):
    async def main():
        async with OtlpSink(default=Reply.stall()) as stalled:
            b = broadcaster(tmp_path, stalled, spool={"fsync": fsync, "fsync_interval_s": 0.05})
            async with b:
                b.emit(full_record(1))
                await until(lambda: b.spool.durable >= 1)
                (segment,) = tmp_path.glob("*.seg")
                kinds = [kind for _, kind, _ in entries(segment.read_bytes())]
                b.shutdown_timeout_s = 0.1
        assert kinds == [1, 2]  # RUN, then the record

    asyncio.run(main())


def test_a_full_spool_applies_the_overflow_policy(tmp_path):
    async def main():
        async with OtlpSink(default=Reply.stall()) as stalled:
            b = broadcaster(tmp_path, stalled, spool={"max_bytes": 64 * 1024, "segment_bytes": 16 * 1024},
                            intake_max_records=50)
            b.shutdown_timeout_s = 0.1
            async with b:
                accepted = 0
                for i in range(400):
                    accepted += b.emit(full_record(i))
                    await asyncio.sleep(0)  # let the drain run between emits
                stats = b.stats()
            assert stats["spool"]["bytes"] <= 64 * 1024 + 16 * 1024
            assert stats["intake"]["dropped"] == 400 - accepted > 0  # drop_newest: refused at emit, counted

        async with OtlpSink(default=Reply.stall()) as stalled:
            b = broadcaster(tmp_path / "b", stalled, spool={"max_bytes": 64 * 1024, "segment_bytes": 16 * 1024},
                            overflow="drop_oldest")
            b.shutdown_timeout_s = 0.1
            async with b:
                for i in range(400):
                    b.emit(full_record(i))
                    await asyncio.sleep(0)
                await until(lambda: b.spool.written == 400)
                stats = b.stats()
            assert stats["spool"]["dropped_records"] > 0 and stats["intake"]["dropped"] == 0
            # What the full spool dropped is counted where the destination's figures show it, and they add up.
            d = b.stats()["destinations"]["d0"]
            assert d["dropped"].get("spool_full", 0) > 0 and d["spooled"] + sum(d["dropped"].values()) == 400
            assert d["received"] == d["delivered"] + sum(d["dropped"].values()) + d["queued"] + d["in_flight"] + d["spooled"]
            assert b.summary["d0"]["left_in_spool"] == d["spooled"] == b.spooling.left("d0")

    asyncio.run(main())


def test_settings_are_checked():
    with pytest.raises(ValueError, match="spool.fsync"):
        SpoolSettings("x", fsync="sometimes")
    with pytest.raises(ValueError, match="spool.segment_bytes"):
        SpoolSettings("x", max_bytes=10, segment_bytes=20)


def test_replay_waits_behind_live_records(tmp_path):
    """inject (the replay's way in) refuses while live records wait in the intake and a replayed chunk
    went last, and then takes its records for the destinations named only."""
    async def main():
        async with OtlpSink() as a, OtlpSink() as b_sink:
            b = broadcaster(tmp_path, a, b_sink)
            async with b:
                b.emit(full_record(1))  # the drain has not run yet: it waits in the intake
                b._replay_turn = False  # a replayed chunk went last: the live records' turn
                assert len(b.intake) == 1 and b.spooling.inject([full_record(2)], frozenset({"d1"}), ("r", 0), False) is False
                await until(lambda: len(b.intake) == 0)
                assert b.spooling.inject([full_record(3)], frozenset({"d1"}), ("r", 0), False) is True
                await b.aflush(5)
                stats = b.stats()["destinations"]
            assert sorted(a.generation_ids()) == [full_record(1).id]
            assert sorted(b_sink.generation_ids()) == sorted([full_record(1).id, full_record(3).id])
            assert stats["d0"]["received"] == 1 and stats["d1"]["received"] == 2  # and both balance
            assert all(d["queued"] == 0 and d["in_flight"] == 0 for d in stats.values())

    asyncio.run(main())
