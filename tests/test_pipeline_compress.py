"""Body compression: gzip (ISA-L, or zlib without it) and zstd round-trip, levels are checked, big bodies leave the loop."""

from __future__ import annotations

import asyncio
import gzip
import io
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import zstandard

from conftest import full_record
from spancast import ConfigError
from spancast.codec import encode_traces
from spancast.pipeline import compress
from spancast.pipeline.compress import OFF_LOOP_MIN_BYTES, Compressor

BODY = b'{"resourceSpans":[]}' * 5000


def otlp_body() -> bytes:
    """A real OTLP body of full records, the kind of bytes destinations get."""
    return encode_traces([full_record(i) for i in range(64)])


def decompress(kind: str, data: bytes) -> bytes:
    return gzip.decompress(data) if kind == "gzip" else zstandard.ZstdDecompressor().decompress(data)


@pytest.mark.parametrize("kind, level, backend", [
    ("gzip", None, "isal"), ("gzip", 2, "isal"), ("gzip", 3, "isal"), ("gzip", 4, "zlib"), ("gzip", 9, "zlib"),
    ("zstd", None, "zstandard"), ("zstd", 19, "zstandard"),
])
def test_round_trip_and_header(kind, level, backend):
    c = Compressor(kind, level)
    assert c.backend == backend
    out = c.compress(BODY)
    assert len(out) < len(BODY) / 10
    assert decompress(kind, out) == BODY and c.content_encoding == kind
    assert c.compress(BODY) == out  # deterministic (gzip mtime 0): a retried batch is the same bytes


def test_defaults():
    assert Compressor("gzip").level == 1 and Compressor("zstd").level == 2  # zstd's from benchmarks/README.md
    assert repr(Compressor("gzip")) == "<Compressor gzip level=1 backend=isal>"


@pytest.mark.parametrize("level", [1, 2, 3])
def test_isal_writes_a_plain_gzip_stream(level):
    """What a receiver's gzip reader sees: one member, mtime 0, deflate; read whole and streamed."""
    body = otlp_body()
    out = Compressor("gzip", level).compress(body)
    assert out[:4] == b"\x1f\x8b\x08\x00" and out[4:8] == bytes(4)  # magic, deflate, no flags, mtime 0
    assert gzip.decompress(out) == body
    with gzip.GzipFile(fileobj=io.BytesIO(out)) as f:
        assert f.read() == body


def test_without_isal_gzip_falls_back_to_the_stdlib(monkeypatch):
    monkeypatch.setattr(compress, "_isal", None)
    body = otlp_body()
    c = Compressor("gzip")
    assert c.backend == "zlib" and repr(c) == "<Compressor gzip level=1 backend=zlib>"
    out = c.compress(body)
    assert gzip.decompress(out) == body and out[4:8] == bytes(4)


def test_isal_missing_at_import():
    """A Python where isal cannot be imported still loads spancast and gzips through zlib."""
    code = ("import sys, gzip; sys.modules['isal'] = None\n"
            "from spancast.pipeline.compress import Compressor\n"
            "c = Compressor('gzip'); data = b'abc' * 1000\n"
            "assert gzip.decompress(c.compress(data)) == data\n"
            "print(c.backend)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "zlib"


def test_none_is_identity():
    c = Compressor()
    assert c.compress(BODY) is BODY and c.content_encoding is None and repr(c) == "<Compressor none>"
    assert c.backend is None


@pytest.mark.parametrize("kind, level", [("brotli", None), ("gzip", 0), ("gzip", 10), ("zstd", 23), ("none", 3)])
def test_bad_settings(kind, level):
    with pytest.raises(ConfigError):
        Compressor(kind, level)


def test_zstd_contexts_are_per_thread_and_reused():
    here = compress._zstd_context(2)
    assert compress._zstd_context(2) is here  # reused, not made per call
    assert compress._zstd_context(5) is not here  # one per level
    other = []
    t = threading.Thread(target=lambda: other.append(compress._zstd_context(2)))
    t.start()
    t.join()
    assert other[0] is not here  # never shared between threads


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_many_threads_at_once_each_get_their_body_back(kind):
    """Compressors shared by a destination's concurrent batches: every thread's output is its own body."""
    c = Compressor(kind)
    bodies = [bytes([i]) * 1000 + BODY + bytes([i]) * 1000 for i in range(32)]
    with ThreadPoolExecutor(8) as pool:
        outs = list(pool.map(c.compress, bodies))
    assert [decompress(kind, out) for out in outs] == bodies


def test_big_bodies_are_compressed_in_a_worker_thread(monkeypatch):
    on_loop_thread = []
    plain = Compressor.compress

    def recording(self, data):
        on_loop_thread.append(threading.current_thread() is threading.main_thread())
        return plain(self, data)

    monkeypatch.setattr(Compressor, "compress", recording)

    async def main():
        out = {}
        for kind in ("zstd", "gzip"):
            c = Compressor(kind)
            out[kind] = (await c.compress_async(b"x" * (OFF_LOOP_MIN_BYTES - 1)),
                         await c.compress_async(b"y" * OFF_LOOP_MIN_BYTES))
        return out

    out = asyncio.run(main())
    assert on_loop_thread == [True, False, True, False]  # the small body on the loop, the big one in a worker
    for kind, (small, big) in out.items():
        assert decompress(kind, big) == b"y" * OFF_LOOP_MIN_BYTES
        assert decompress(kind, small) == b"x" * (OFF_LOOP_MIN_BYTES - 1)
