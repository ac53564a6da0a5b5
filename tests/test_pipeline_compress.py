"""Body compression: gzip and zstd round-trip, levels are checked, big bodies leave the loop."""

from __future__ import annotations

import asyncio
import gzip
import threading

import pytest
import zstandard

from spancast import ConfigError
from spancast.pipeline.compress import OFF_LOOP_MIN_BYTES, Compressor

BODY = b'{"resourceSpans":[]}' * 5000


@pytest.mark.parametrize("kind, level", [("gzip", None), ("gzip", 9), ("zstd", None), ("zstd", 19)])
def test_round_trip_and_header(kind, level):
    c = Compressor(kind, level)
    out = c.compress(BODY)
    assert len(out) < len(BODY) / 10
    back = gzip.decompress(out) if kind == "gzip" else zstandard.ZstdDecompressor().decompress(out)
    assert back == BODY and c.content_encoding == kind
    assert c.compress(BODY) == out  # deterministic (gzip mtime 0): a retried batch is the same bytes


def test_none_is_identity():
    c = Compressor()
    assert c.compress(BODY) is BODY and c.content_encoding is None and repr(c) == "<Compressor none>"


@pytest.mark.parametrize("kind, level", [("brotli", None), ("gzip", 0), ("gzip", 10), ("zstd", 23), ("none", 3)])
def test_bad_settings(kind, level):
    with pytest.raises(ConfigError):
        Compressor(kind, level)


def test_big_bodies_are_compressed_in_a_worker_thread(monkeypatch):
    on_loop_thread = []
    plain = Compressor.compress

    def recording(self, data):
        on_loop_thread.append(threading.current_thread() is threading.main_thread())
        return plain(self, data)

    monkeypatch.setattr(Compressor, "compress", recording)

    async def main():
        c = Compressor("zstd")
        small = await c.compress_async(b"x" * 100)
        big = await c.compress_async(b"y" * (OFF_LOOP_MIN_BYTES + 1))
        return small, big

    small, big = asyncio.run(main())
    assert on_loop_thread == [True, False]  # the small body on the loop, the big one in a worker
    assert zstandard.ZstdDecompressor().decompress(big) == b"y" * (OFF_LOOP_MIN_BYTES + 1)
    assert zstandard.ZstdDecompressor().decompress(small) == b"x" * 100
