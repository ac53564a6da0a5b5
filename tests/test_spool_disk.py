"""Disk errors never wedge the spool: a full disk, EIO and a read-only directory are reported as what they are, and delivery resumes by itself."""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
from pathlib import Path

import aiohttp
import msgspec
import pytest

from spancast import Broadcaster
from spancast.config import parse_config
from spancast.pipeline.spool_disk import Disk
from spancast.server import Server
from spancast.testing.sink import OtlpSink, Reply

from conftest import full_record

DISK_BYTES = 1024 * 1024
NDJSON = {"Content-Type": "application/x-ndjson"}


class FaultyDisk(Disk):
    """The spool's file layer with faults on demand (faults[operation] = errno), and optionally a size
    quota that behaves as a small file system does: a write that does not fit writes what fits, then
    fails with ENOSPC."""

    def __init__(self, quota_bytes: int | None = None) -> None:
        self.faults: dict[str, int] = {}
        self.quota_bytes = quota_bytes
        self.used = 0

    def _fault(self, operation: str) -> None:
        code = self.faults.get(operation)
        if code is not None:
            raise OSError(code, os.strerror(code))

    def open_append(self, path):
        self._fault("open")
        return super().open_append(path)

    def write(self, fd, data):
        self._fault("write")
        if self.quota_bytes is not None and self.used + len(data) > self.quota_bytes:
            fits = max(0, self.quota_bytes - self.used)
            super().write(fd, data[:fits])
            self.used += fits
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        super().write(fd, data)
        self.used += len(data)

    def truncate(self, fd, size):
        before = os.fstat(fd).st_size
        super().truncate(fd, size)
        self.used -= before - size

    def fsync(self, fd):
        self._fault("fsync")
        super().fsync(fd)

    def unlink(self, path):
        size = os.path.getsize(path) if os.path.exists(path) else 0
        super().unlink(path)
        self.used -= size


@pytest.fixture(params=["tmpfs", "emulated"])
def small_disk(request, tmp_path):
    """(directory, disk layer): a real 1 MiB tmpfs where this machine lets the test mount one (root),
    else, and in the "emulated" case always, the fault layer emulating a 1 MiB file system. The test
    asserts the same either way."""
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = request.param == "tmpfs" and os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount)], capture_output=True).returncode == 0
    try:
        yield mount / "spool", None if mounted else FaultyDisk(DISK_BYTES)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def server_for(sink: OtlpSink, spool_dir: Path, disk: Disk | None) -> Server:
    config = parse_config({
        "pipeline": {"flush_interval_s": 0.02, "max_batch_records": 20, "shutdown_timeout_s": 2,
                     "retry": {"max_attempts": 1000, "max_retry_elapsed_s": 600, "initial_backoff_s": 0.02,
                               "max_backoff_s": 0.1}},
        "spool": {"directory": str(spool_dir)},
        "destinations": [{"type": "otel-collector", "name": "sink", "endpoint": sink.url}]})
    broadcaster = Broadcaster.from_config(config)
    broadcaster.spool_disk = disk
    return Server(config, port=0, broadcaster=broadcaster)


async def post(session, first: int, n: int = 20, text: int = 2000) -> tuple[int, dict]:
    body = b"\n".join(msgspec.json.encode(full_record(i, completion="x" * text)) for i in range(first, first + n))
    async with session.post("/v1/generations", data=body, headers=NDJSON) as r:
        return r.status, await r.json()


async def until(condition, timeout_s: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def test_a_full_disk_is_reported_and_delivery_resumes_by_itself(small_disk):
    """Issue 16, case 2: the spool fills its (1 MiB) disk while the destination is down. Requests get 503
    naming ENOSPC, /readyz names the spool; once the destination is back, what it delivers frees the
    disk, the spool writes again, and every acknowledged record arrives."""
    spool_dir, disk = small_disk
    if disk is None:  # the real thing: check it is
        assert "tmpfs" in subprocess.run(["stat", "-f", "-c", "%T", str(spool_dir.parent)], capture_output=True,
                                         text=True).stdout

    async def main():
        async with OtlpSink(default=Reply.error(503)) as sink:
            server = server_for(sink, spool_dir, disk)
            await server.start()
            acked: list[str] = []
            try:
                async with aiohttp.ClientSession(base_url=server.url) as session:
                    n, answer = 0, {}
                    while n < 2000:  # 2 KB records: the 1 MiB disk is full long before
                        status, answer = await post(session, n)
                        if status == 202:
                            acked.extend(full_record(i).id for i in range(n, n + 20))
                        elif "No space left on device" in answer.get("error", ""):
                            break
                        n += 20
                    assert "ENOSPC" in answer["error"] and "spool" in answer["error"], answer
                    async with session.get("/readyz") as r:
                        assert r.status == 503 and "No space left on device" in (await r.json())["reason"]
                    assert server.broadcaster.stats()["spool"]["disk_errors"] >= 1
                    sink.default = Reply.ok()  # what it delivers lets the spool free the disk

                    async def writable():
                        async with session.get("/readyz") as r:
                            return r.status == 200
                    await until(writable)
                    status, _ = await post(session, 5000)
                    assert status == 202
                    acked.extend(full_record(i).id for i in range(5000, 5020))
                    await sink.wait_for(lambda s: set(acked) <= set(s.generation_ids()), 30)
            finally:
                await server.stop(5)
        assert len(acked) > 100

    asyncio.run(main())


@pytest.mark.parametrize(("operation", "code"), [("fsync", errno.EIO), ("write", errno.EROFS)])
def test_io_errors_and_a_read_only_directory_are_named_and_recovered_from(tmp_path, operation, code):
    """EIO on fsync, EROFS on writes (a read-only remount) and on new segments: 503 naming the error and
    the file, /readyz naming the spool; when the disk is well again the spool opens a new segment and
    delivery goes on; close() never raises."""
    disk = FaultyDisk()

    async def main():
        async with OtlpSink() as sink:
            server = server_for(sink, tmp_path / "spool", disk)
            await server.start()
            try:
                async with aiohttp.ClientSession(base_url=server.url) as session:
                    assert (await post(session, 0, text=10))[0] == 202
                    disk.faults[operation] = code
                    disk.faults["open"] = code
                    status, answer = await post(session, 100, text=10)
                    assert status == 503 and errno.errorcode[code] in answer["error"], answer
                    assert os.strerror(code) in answer["error"] and ".seg" in answer["error"]
                    async with session.get("/readyz") as r:
                        assert r.status == 503 and (await r.json())["reason"].startswith("spool: cannot")
                    errors = server.broadcaster.stats()["spool"]["disk_errors"]

                    async def retried():  # a new segment was tried, failed too, and changed nothing
                        return server.broadcaster.stats()["spool"]["disk_errors"] > errors
                    await until(retried)
                    assert (await post(session, 200, text=10))[0] == 503
                    disk.faults.clear()

                    async def writable():
                        return server.broadcaster.refusing() is None
                    await until(writable)
                    assert (await post(session, 300, text=10))[0] == 202
                    # Acknowledged: 0-19 and 300-319; 100-119 may arrive too (taken before the error)
                    want = {full_record(i).id for i in (*range(20), *range(300, 320))}
                    await sink.wait_for(lambda s: want <= set(s.generation_ids()), 30)
                    stats = server.broadcaster.stats()["spool"]
                    assert stats["error"] is None and stats["disk_errors"] >= 2
            finally:
                disk.faults["fsync"] = code  # even the last sync failing must not make close() raise
                await server.stop(5)

    asyncio.run(main())
