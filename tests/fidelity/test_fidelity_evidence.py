"""Every destination type names its fidelity evidence, the test holding it exists, and the README says the same."""

from __future__ import annotations

import re
from pathlib import Path

from fidelity.evidence import EVIDENCE, LEVELS
from spancast.destinations import REGISTRY

TESTS = Path(__file__).resolve().parents[1]
README = TESTS.parent / "README.md"


def test_every_destination_type_names_its_evidence_and_the_test_exists():
    assert set(EVIDENCE) == set(REGISTRY)
    for kind, (level, basis, test) in EVIDENCE.items():
        assert level in LEVELS and basis, kind
        path, _, function = test.partition("::")
        source = (TESTS / path).read_text()
        assert not function or re.search(rf"^def {re.escape(function)}\(", source, re.M), f"{kind}: {test} is not there"


def test_the_readme_status_column_is_the_suites_evidence():
    rows = {}
    for line in README.read_text().splitlines():
        match = re.match(r"^\| `([a-z0-9-]+)` \|.*\| ([^|]+) \|$", line)
        if match and match.group(1) in REGISTRY:
            rows[match.group(1)] = match.group(2).strip()
    assert set(rows) == set(REGISTRY), "the destinations table lists every type once"
    for kind, status in rows.items():
        level, basis, _ = EVIDENCE[kind]
        assert status == f"{level} ({basis})", f"README row {kind}: {status!r}"
