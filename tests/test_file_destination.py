"""The file destination writes OTLP JSON lines that rotate by size, and every record lands in one line."""

from __future__ import annotations

import json

import pytest

from conftest import full_record
from spancast import Broadcaster, ConfigError
from spancast.destinations import make_destination
from spancast.testing.sink import decode_otlp


def lines_of(directory):
    files = sorted(directory.iterdir())
    return files, [line for f in files for line in f.read_bytes().splitlines()]


def test_records_land_as_otlp_json_lines_and_files_rotate(tmp_path):
    recs = [full_record(i) for i in range(300)]
    dest = {"type": "file", "directory": str(tmp_path), "max_file_bytes": 64 * 1024, "max_files": 100}
    with Broadcaster([dest], max_batch_records=10) as b:
        for r in recs:
            b.emit(r)
        assert b.flush(10)
        stats = b.stats()["destinations"]["file"]
    files, lines = lines_of(tmp_path)
    assert len(files) > 3 and all(f.stat().st_size <= 64 * 1024 for f in files)
    ids = [s["attributes"]["gen_ai.response.id"] for line in lines for s in decode_otlp(line, "application/json")
           if "gen_ai.response.id" in s["attributes"]]  # not the traces' root spans
    assert sorted(ids) == sorted(r.id for r in recs)
    assert all(json.loads(line)["resourceSpans"] for line in lines)
    assert stats["delivered"] == 300 and stats["dropped"] == {}


def test_old_files_beyond_max_files_are_removed(tmp_path):
    dest = {"type": "file", "directory": str(tmp_path), "max_file_bytes": 4096, "max_files": 2}
    with Broadcaster([dest], max_batch_records=1) as b:
        for i in range(40):
            b.emit(full_record(i))
        assert b.flush(10)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["traces.jsonl", "traces.jsonl.1", "traces.jsonl.2"]


@pytest.mark.parametrize(
    "extra, path",
    [({"file_name": "a/b"}, "d.file_name"), ({"max_file_bytes": 10}, "d.max_file_bytes"), ({"compression": "gzip"}, "d.compression")],
)
def test_bad_file_settings(extra, path):
    with pytest.raises(ConfigError) as info:
        make_destination({"type": "file", **extra}, "d")
    assert info.value.path == path
