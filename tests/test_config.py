"""Configuration files: TOML and OpenRouter JSON, secrets from the environment and files, every problem named."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from spancast import Broadcaster, ConfigError, InvalidConfigError
from spancast.config import Config, PipelineSettings, default_config, load_config, parse_config
from spancast.config_reference import BEGIN, END, reference
from spancast.pipeline.retry import RetryPolicy

ROOT = Path(__file__).resolve().parents[1]

FULL = """
[pipeline]
max_batch_records = 256
flush_interval_s = 0.5
overflow = "drop_oldest"

[pipeline.retry]
max_attempts = 3

[server]
host = "0.0.0.0"
port = 9000
token_file = "token.txt"

[[destinations]]
type = "langfuse"
name = "lf"
publicKey = "pk-lf-1"
secret_key = "${LF_SECRET}"
privacy_mode = true

[[destinations]]
type = "webhook"
url = "https://hooks.example.com/${HOOK_PATH:-default-path}"
headers = { Authorization = "Bearer ${HOOK_TOKEN}" }
signing_secret_file = "/nonexistent-is-fine-when-unused"
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems_of(exc: InvalidConfigError) -> dict[str, str]:
    return {p.path: p.reason for p in exc.problems}


def test_a_full_toml_file_loads_with_secrets_from_the_environment_and_files(tmp_path):
    write(tmp_path, "token.txt", "tok-123\n")
    text = FULL.replace('signing_secret_file = "/nonexistent-is-fine-when-unused"\n', "")
    config = load_config(write(tmp_path, "spancast.toml", text), env={"LF_SECRET": "sk-lf-9", "HOOK_TOKEN": "h"})
    assert config.pipeline.max_batch_records == 256 and config.pipeline.overflow == "drop_oldest"
    assert config.retry == RetryPolicy(max_attempts=3)
    assert (config.server.host, config.server.port, config.server.token) == ("0.0.0.0", 9000, "tok-123")
    lf, hook = config.destinations
    assert (lf.name, lf.settings.public_key, lf.settings.secret_key, lf.settings.privacy_mode) == (
        "lf", "pk-lf-1", "sk-lf-9", True)
    assert hook.settings.url == "https://hooks.example.com/default-path"  # the ${NAME:-fallback} form
    assert hook.settings.headers == {"Authorization": "Bearer h"}
    # Nothing secret in the reprs a log line would print.
    for shown in (repr(config), repr(lf), repr(lf.settings), repr(hook.settings)):
        assert "sk-lf-9" not in shown and "tok-123" not in shown and "Bearer h" not in shown


def test_the_spool_section(tmp_path):
    config = parse_config({"spool": {"directory": "spool", "fsync": "interval", "max_bytes": 1 << 26}},
                          base_dir=tmp_path)
    assert config.spool is not None and config.spool.directory == str(tmp_path / "spool")
    assert config.broadcaster_kwargs()["spool"] == config.spool
    with pytest.raises(InvalidConfigError) as caught:
        parse_config({"spool": {"directory": "s", "fsync": "sometimes", "segment_bytes": 1}})
    assert set(problems_of(caught.value)) == {"spool.fsync", "spool.segment_bytes"}


def test_broadcaster_from_config_takes_the_pipeline_section(tmp_path):
    path = write(tmp_path, "c.toml", '[pipeline]\nmax_batch_records = 7\n[pipeline.retry]\nmax_attempts = 2\n'
                 '[[destinations]]\ntype = "file"\ndirectory = "out"\n')
    b = Broadcaster.from_config(path, flush_interval_s=0.25)
    assert b.batch.max_batch_records == 7 and b.batch.flush_interval_s == 0.25 and b.retry.max_attempts == 2
    assert [d.type for d in b.destinations] == ["file"]
    assert [d.type for d in Broadcaster.from_config().destinations] == ["file"]  # the embedded default


def test_pipeline_settings_match_the_broadcaster_keywords():
    params = inspect.signature(Broadcaster.__init__).parameters
    keywords = {name: p.default for name, p in params.items() if p.kind is p.KEYWORD_ONLY and name != "spool"}
    fields = {name: getattr(PipelineSettings(), name) for name in PipelineSettings.__struct_fields__}
    assert set(keywords) == set(fields)  # "retry" is a RetryPolicy on one side and [pipeline.retry] on the other
    for name, default in keywords.items():
        if name != "retry":
            assert fields[name] == default, name


def test_every_problem_is_reported_with_its_key_path(tmp_path):
    text = """
[pipeline]
max_batch_records = 0
flush_interval_s = "soon"
colour = "blue"
[pipeline.retry]
max_attempts = 0
[server]
token = "${UNSET_TOKEN}"
[[destinations]]
type = "webhook"
url = "https://a.example.com"
[[destinations]]
type = "langfuse"
public_key = "pk"
secret_key_file = "missing.txt"
sampling_rate = 5
timeout_s = -1
[[destinations]]
type = "webhook"
url = "https://b.example.com"
name = "hook"
filter_rules = { groups = [ { rules = [ { field = "model", operator = "equals", value = "a" },
                                        { field = "model", operator = "startswith", value = "b" } ] } ] }
[[destinations]]
type = "kafka"
[[destinations]]
type = "webhook"
url = "https://c.example.com"
"""
    with pytest.raises(InvalidConfigError) as caught:
        load_config(write(tmp_path, "bad.toml", text), env={})
    found = problems_of(caught.value)
    assert found["destinations[2].filter_rules.groups[0].rules[1].operator"].startswith("unknown operator 'startswith'")
    expected = {
        "pipeline.max_batch_records": ">= 1",
        "pipeline.flush_interval_s": "expected `float`, got `str`",
        "pipeline.colour": "unknown key",
        "pipeline.retry.max_attempts": "at least 1",
        "server.token": "environment variable UNSET_TOKEN is not set",
        "destinations[1].secret_key_file": "cannot read",
        "destinations[1].sampling_rate": "0.0001 to 1",
        "destinations[1].timeout_s": "must be > 0",
        "destinations[3].type": "unknown destination type 'kafka'",
        "destinations[4].name": "'webhook' is also the name of destinations[0]",
    }
    for path, words in expected.items():
        assert words in found.get(path, "<not reported>"), path
    assert len(found) == len(expected) + 1  # nothing blamed twice (secret_key is not also "missing")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'bad.toml'}: 11 problems")
    assert "  destinations[1].sampling_rate: " in message


def test_a_missing_required_setting_does_not_hide_the_next_problem():
    with pytest.raises(InvalidConfigError) as caught:
        parse_config({"destinations": [{"type": "langfuse", "secret_key": "s", "samplingRate": 2}]})
    assert set(problems_of(caught.value)) == {"destinations[0].publicKey", "destinations[0].samplingRate"}


def test_secret_values_never_appear_in_problems(tmp_path):
    secret = "sk-very-secret-value"
    with pytest.raises(InvalidConfigError) as caught:
        parse_config({"destinations": [
            {"type": "langfuse", "public_key": "pk", "secret_key": secret, "base_url": "ftp://x", "sampling_rate": 9},
            {"type": "webhook", "url": f"https://user:{secret}@h.example.com/"},
            {"type": "posthog", "api_key": [secret]},
        ]})
    assert len(caught.value.problems) >= 4
    assert secret not in str(caught.value) and secret not in repr(caught.value)


def test_environment_references_escape_and_fallback():
    config = parse_config({"destinations": [{"type": "webhook", "url": "https://h.example.com/$${NOT_A_VAR}/${A}/${B:-b}",
                                             "name": "${A}"}]}, env={"A": "a"})
    (hook,) = config.destinations
    assert hook.settings.url == "https://h.example.com/${NOT_A_VAR}/a/b" and hook.name == "a"


def test_key_file_and_key_together_is_a_problem(tmp_path):
    write(tmp_path, "k", "x")
    with pytest.raises(InvalidConfigError) as caught:
        parse_config({"destinations": [{"type": "posthog", "apiKey": "a", "apiKeyFile": "k"}]}, base_dir=tmp_path)
    assert problems_of(caught.value) == {"destinations[0].apiKeyFile": "give apiKey or apiKeyFile, not both"}


OPENROUTER = [
    {
        "id": "0b6e1c55-2f6b-4d0e-9d51-3f2a1f1e0c01",
        "type": "langfuse",
        "name": "Langfuse",
        "enabled": True,
        "privacyMode": True,
        "samplingRate": 0.25,
        "apiKeyHashes": ["a1b2"],
        "filterRules": {"groups": [{"logic": "and", "rules": [
            {"field": "model", "operator": "starts_with", "value": "openai/"}]}]},
        "broadcastGenerationCost": True,
        "config": {"publicKey": "pk-lf-1", "secretKey": "${LF_SECRET}", "baseUrl": "https://us.cloud.langfuse.com"},
        "createdAt": "2025-10-01T12:00:00Z",
    },
    {"type": "datadog", "name": "Datadog", "config": {"apiKey": "dd", "mlApp": "gateway",
                                                      "url": "https://api.datadoghq.eu"}},
    {"type": "webhook", "name": "Hook", "config": {"url": "https://h.example.com/in", "headers": {"X-Token": "t"}}},
]


@pytest.mark.parametrize("shape", ["list", "api-response"])
def test_openrouter_destinations_json_loads_as_is(tmp_path, shape):
    data = OPENROUTER if shape == "list" else {"data": OPENROUTER, "totalCount": 3}
    config = load_config(write(tmp_path, "destinations.json", json.dumps(data)), env={"LF_SECRET": "sk-lf-2"})
    lf, dd, hook = config.destinations
    assert (lf.type, lf.name, lf.settings.secret_key, lf.settings.base_url) == (
        "langfuse", "Langfuse", "sk-lf-2", "https://us.cloud.langfuse.com")
    assert (lf.settings.privacy_mode, lf.settings.sampling_rate, lf.settings.api_key_hashes) == (True, 0.25, ["a1b2"])
    # OpenRouter's additional generation metadata flags are settings, not dropped
    assert (lf.settings.broadcast_generation_cost, lf.settings.broadcast_generation_identity) == (True, False)
    assert lf.route.withheld == ("generation_identity", "generation_context")
    assert lf.route.select([])[0] == []  # the filter rules compiled
    assert (dd.settings.ml_app, dd.settings.url) == ("gateway", "https://api.datadoghq.eu")
    assert hook.settings.headers == {"X-Token": "t"}
    assert config.pipeline == PipelineSettings()


def test_openrouter_problems_are_named_where_the_file_has_them():
    bad = [
        {"type": "datadog", "name": "dd", "config": {"mlApp": "x"}},  # apiKey missing
        {"type": "posthog", "name": "ph", "config": {"apiKey": "k", "colour": 1}, "samplingRate": 0},
        {"type": "webhook", "name": "w", "config": {"url": "https://h.example.com", "privacyMode": True}, "color": 1},
    ]
    with pytest.raises(InvalidConfigError) as caught:
        parse_config(bad, "destinations.json")
    assert set(problems_of(caught.value)) == {
        "[0].config.apiKey", "[1].config.colour", "[1].samplingRate", "[2].config.privacyMode", "[2].color"}


def test_unreadable_and_malformed_files_are_one_named_problem(tmp_path):
    for name, text, words in (("x.toml", "a = [", "invalid TOML"), ("x.json", "[{", "invalid JSON")):
        with pytest.raises(InvalidConfigError) as caught:
            load_config(write(tmp_path, name, text))
        assert words in str(caught.value)
    with pytest.raises(InvalidConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")
    with pytest.raises(InvalidConfigError, match="unknown section"):
        parse_config({"destination": []})


def test_the_embedded_default_is_one_local_file_destination():
    config = default_config()
    assert isinstance(config, Config) and [(d.type, str(d.path)) for d in config.destinations] == [
        ("file", "spancast-out/traces.jsonl")]


def test_invalid_config_error_is_a_config_error():
    exc = InvalidConfigError("f.toml", [ConfigError("a.b", "bad")])
    assert isinstance(exc, ConfigError) and exc.path == "f.toml" and str(exc) == "f.toml: 1 problem\n  a.b: bad"


def test_the_readme_configuration_reference_is_current():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(BEGIN) + len(BEGIN):readme.index(END)].strip()
    assert section == reference().strip(), "run: python -m spancast.config_reference README.md"


def test_the_reference_lists_every_destination_and_setting():
    text = reference()
    from spancast.destinations import REGISTRY

    for kind, cls in REGISTRY.items():
        assert f'`type = "{kind}"`' in text
        for name in cls.settings_class.__struct_fields__:
            assert f"`{name}`" in text, (kind, name)
