"""The redis destination against a real redis-server: entries XADDed and trimmed, read back as the same records, errors judged."""

from __future__ import annotations

import json
import logging
import time

import msgspec
import pytest

from conftest import full_record
from redisserver import RedisServer, free_port
from spancast import Broadcaster, ConfigError, Generation
from spancast.config import load_config
from spancast.destinations import make_destination
from spancast.pipeline.retry import RetryPolicy

FAST = RetryPolicy(max_attempts=3, max_retry_elapsed_s=5, initial_backoff_s=0.01, max_backoff_s=0.05)
PATIENT = RetryPolicy(max_attempts=1000, max_retry_elapsed_s=60, initial_backoff_s=0.01, max_backoff_s=0.05)
PASSWORD = "redis-contract-9f2c4e7a1b"


def dest(url: str, **extra) -> dict:
    return {"type": "redis", "url": url, "stream": "gen", **extra}


def deliver(destination: dict, records, retry: RetryPolicy = FAST, **kwargs) -> dict:
    with Broadcaster([destination], retry=retry, **kwargs) as b:
        for r in records:
            b.emit(r)
        b.flush(10)
        (stats,) = b.stats()["destinations"].values()
    return stats


def entries(server: RedisServer, stream: str = "gen") -> list[Generation]:
    decoder = msgspec.json.Decoder(Generation)
    return [decoder.decode(fields[b"record"]) for _, fields in server.client().xrange(stream)]


@pytest.fixture
def redis_server(tmp_path):
    with RedisServer(tmp_path) as server:
        yield server


def wait_until(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)  # polling a condition under the deadline above


def test_records_are_xadded_one_entry_each_and_read_back_as_the_same_records(redis_server):
    records = [full_record(i) for i in range(300)]
    stats = deliver(dest(redis_server.url), records, max_batch_records=64)
    assert stats["delivered"] == 300 and stats["dropped"] == {} and stats["batches"]["records"] == 4
    got = entries(redis_server)
    assert sorted(got, key=lambda r: r.id) == sorted(records, key=lambda r: r.id)


def test_maxlen_trims_the_stream_to_about_maxlen(redis_server):
    records = [Generation(id=f"r{i}", model="m", start_time_ns=1, end_time_ns=2) for i in range(5000)]
    deliver(dest(redis_server.url, maxlen=1000), records, max_batch_records=200)
    length = redis_server.client().xlen("gen")
    assert 1000 <= length <= 1100  # "~": whole macro nodes (100 entries) go, never below maxlen
    assert "r0" not in {r.id for r in entries(redis_server)}  # the oldest went first


def test_privacy_mode_writes_no_content(redis_server):
    records = [full_record(i, prompt="PROMPT-needle", completion="COMPLETION-needle") for i in range(5)]
    deliver(dest(redis_server.url, privacy_mode=True), records)
    raw = b"".join(fields[b"record"] for _, fields in redis_server.client().xrange("gen"))
    assert raw.count(b'"id":') == 5 and b"needle" not in raw and b"messages" not in raw


def test_wrong_password_is_a_permanent_drop_counted_and_never_shown(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="spancast")
    server = RedisServer(tmp_path, password=PASSWORD).start()
    try:
        wrong = f"redis://:{PASSWORD}-not@127.0.0.1:{server.port}/0"
        stats = deliver(dest(wrong), [full_record(i) for i in range(7)], max_batch_records=2)
        assert stats["dropped"] == {"permanent_http_error": 7} and stats["retried"] == 0
        assert stats["last_error"].startswith("redis WRONGPASS")
        assert sum("refused a batch" in r.getMessage() for r in caplog.records) == 1  # 4 batches, logged once
        stats = deliver(dest(f"redis://127.0.0.1:{server.port}/0"), [full_record(1)])  # no password at all
        assert stats["dropped"] == {"permanent_http_error": 1} and "NOAUTH" in stats["last_error"]
        assert deliver(dest(server.url), [full_record(2)])["delivered"] == 1
    finally:
        server.stop()
    assert PASSWORD not in caplog.text and PASSWORD not in json.dumps(stats)


def test_a_key_of_another_type_is_a_permanent_drop(redis_server):
    redis_server.client().set("gen", "a string")
    stats = deliver(dest(redis_server.url), [full_record(i) for i in range(3)])
    assert stats["dropped"] == {"permanent_http_error": 3} and "WRONGTYPE" in stats["last_error"]


def test_connection_refused_is_retried_until_redis_listens(tmp_path):
    port = free_port()
    with Broadcaster([dest(f"redis://127.0.0.1:{port}/0")], retry=PATIENT) as b:
        b.emit(full_record(1))
        b.flush(0)
        wait_until(lambda: b.stats()["destinations"]["redis"]["retried"] >= 2)
        server = RedisServer(tmp_path).start(port)
        try:
            assert b.flush(10)
            stats = b.stats()["destinations"]["redis"]
            assert stats["delivered"] == 1 and stats["dropped"] == {}
            assert [r.id for r in entries(server)] == [full_record(1).id]
        finally:
            server.stop()


def test_connection_test_passes_for_a_stream_or_no_key_and_says_why_it_fails(redis_server, tmp_path):
    b = Broadcaster([dest(redis_server.url)])
    result = b.test_connection("redis")
    assert result.ok and "does not exist yet" in result.excerpt
    redis_server.client().xadd("gen", {"record": b"{}"})
    assert b.test_connection("redis").ok
    b = Broadcaster([dest(redis_server.url, stream="plain")])
    redis_server.client().set("plain", "x")
    result = b.test_connection("redis")
    assert not result.ok and "holds a string" in result.error and "WRONGTYPE" in result.hint
    refused = Broadcaster([dest(f"redis://127.0.0.1:{free_port()}/0")]).test_connection("redis", timeout_s=5)
    assert not refused.ok and "refused" in refused.error and "host and port" in refused.hint
    server = RedisServer(tmp_path, password=PASSWORD).start()
    try:
        bad = Broadcaster([dest(f"redis://127.0.0.1:{server.port}/0", password="nope")]).test_connection("redis")
    finally:
        server.stop()
    assert not bad.ok and "credentials" in bad.hint


def test_password_file_works_through_the_config_loader(tmp_path):
    server = RedisServer(tmp_path, password=PASSWORD).start()
    try:
        (tmp_path / "redis-password").write_text(PASSWORD + "\n")
        (tmp_path / "spancast.toml").write_text(
            f'[[destinations]]\ntype = "redis"\nurl = "redis://127.0.0.1:{server.port}/0"\n'
            'stream = "gen"\npassword_file = "redis-password"\n')
        config = load_config(tmp_path / "spancast.toml")
        (d,) = config.destinations
        assert d.settings.password == PASSWORD and PASSWORD not in repr(d.settings)
        assert deliver(d, [full_record(i) for i in range(4)])["delivered"] == 4
        assert len(entries(server)) == 4
    finally:
        server.stop()


def test_secrets_never_show(redis_server):
    secret_url = f"redis://spancast:{PASSWORD}@127.0.0.1:{redis_server.port}/0?password={PASSWORD}"
    shown = []
    for mapping in (dest(secret_url), dest(f"redis://127.0.0.1:{redis_server.port}/0", password=PASSWORD)):
        b = Broadcaster([mapping])
        d = b.destinations[0]
        shown += [repr(b), repr(d), repr(d.settings), repr(d.request(b"{}\n")), json.dumps(b.preview(full_record(1), "redis"))]
        shown.append(repr(b.test_connection("redis", timeout_s=5)))
    for bad in ({"url": secret_url.replace("redis:", "http:")}, {"maxlen": -1}, {"password": PASSWORD},
                {"compression": "gzip"}, {"headers": {"X-Key": PASSWORD}}):
        with pytest.raises(ConfigError) as info:
            make_destination({**dest(secret_url), **bad}, "d")
        shown += [str(info.value), repr(info.value)]
    text = "\n".join(shown)
    assert PASSWORD not in text
    assert "redis://***@127.0.0.1" in text


@pytest.mark.parametrize("extra, path", [
    ({"url": "http://127.0.0.1:6379"}, "d.url"), ({"url": "redis://"}, "d.url"), ({"maxlen": -1}, "d.maxlen"),
    ({"stream": ""}, "d.stream"), ({"compression": "zstd"}, "d.compression"), ({"headers": {"a": "b"}}, "d.headers"),
    ({"url": "redis://:pw@h:6379", "password": "pw"}, "d.password"),
])
def test_bad_settings_name_the_key(extra, path):
    with pytest.raises(ConfigError) as info:
        make_destination({**dest("redis://127.0.0.1:6379/0"), **extra}, "d")
    assert info.value.path == path


def test_preview_shows_the_entries_and_where_they_go():
    b = Broadcaster([dest("redis://:pw@cache.internal:6380/2", maxlen=5000)])
    shown = b.preview(full_record(3), "redis")
    assert shown["method"] == "XADD" and shown["url"] == "redis://***@cache.internal:6380/2?stream=gen&maxlen=~5000"
    assert shown["body"] == [msgspec.to_builtins(full_record(3))]
    assert "XADD gen MAXLEN ~ 5000 * record" in shown["note"]
