"""The benchmark harness at toy sizes: every section runs and reports. Speed is not judged."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest

from tests.bench.harness import SECTIONS, main, quixstreams_installed

pytestmark = pytest.mark.integration


def test_every_section_of_the_benchmark_reports(broker: str, tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    assert main(["--smoke", "--bootstrap", broker, "--json", str(out)]) == 0
    report = orjson.loads(out.read_bytes())
    rows = report["rows"]
    numbers = {section.split()[0] for section in (row["section"] for row in rows)}
    assert len(numbers) == len(SECTIONS) == 6
    names = {row["name"] for row in rows}
    assert {"bare aiokafka loop", "newsstream worker", "bare aiokafka + stages"} <= names
    if quixstreams_installed():
        assert "quixstreams + stages" in names
    assert {"classify", "parse", "dedup", "p50", "p99", "2 workers"} <= names
    for row in rows:
        assert math.isfinite(row["value"]), row
        # Memory may shrink between two samples; everything else is a rate, time or size.
        assert row["value"] > 0 or row["name"].startswith("growth"), row
