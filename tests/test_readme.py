"""The Python examples in README.md run as written, against a local receiver in place of the collector."""

from __future__ import annotations

import asyncio
import pathlib
import re

from sinkthread import SinkThread
from spancast.testing.sink import OtlpSink

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
COLLECTOR = "http://127.0.0.1:4318/v1/traces"


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README.md has no python example"
    served = SinkThread(OtlpSink())
    with served as sink:
        for block in blocks:
            scope: dict = {}
            exec(compile(block.replace(COLLECTOR, sink.url), "README.md", "exec"), scope)  # noqa: S102
            if "serve" in scope:
                asyncio.run(scope["serve"]())
            if "result" in scope:
                assert len(scope["result"].records) == 1 and scope["result"].errors[0].field == "id"
        got = served.call(lambda s: sorted(g for g in s.generation_ids() if g != "spancast-connection-test"))
    assert got == ["gen-1", "gen-2"]


def test_readme_shows_the_clickhouse_ddl_the_destination_expects():
    from spancast.destinations.clickhouse import DEFAULT_DATABASE, DEFAULT_TABLE, clickhouse_ddl

    (ddl,) = re.findall(r"```sql\n(.*?)```", README.read_text(), re.S)
    assert ddl == clickhouse_ddl(DEFAULT_DATABASE, DEFAULT_TABLE)
