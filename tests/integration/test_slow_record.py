"""A record that takes too long is dead-lettered with its reason; the stream goes on."""

from __future__ import annotations

import base64
import random
import time
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.broker import ensure_topics
from service.feed import Feeder, Follower
from service.topics import TopicNames
from tests.conftest import EXAMPLES, WorkerProcess, isolated_settings

pytestmark = pytest.mark.integration

BUDGET_S = 0.1
SAMPLE = EXAMPLES / "ar-syria-coalition-reinforcements.txt"
LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"


def _article(n: int, body: str) -> bytes:
    return orjson.dumps(
        {
            "id": f"a-{n}",
            "source": f"outlet-{n}.example",
            "fetched_at": "2024-11-13T08:00:00Z",
            "body": body,
        }
    )


def test_a_slow_record_is_dead_lettered_and_the_partition_moves_on(
    broker: str, tmp_path: Path
) -> None:
    settings = isolated_settings(broker, tmp_path, record_budget_s=BUDGET_S, partitions=1)
    names = TopicNames.from_settings(settings)
    ensure_topics(settings.bootstrap_servers(), names.external(), settings.partitions)
    sample = SAMPLE.read_text(encoding="utf-8")
    # About 0.8 MB of distinct paragraphs (repeated ones would be dropped as
    # boilerplate): legal, under max_body_bytes, but several times the budget's work.
    rng = random.Random(7)
    paragraphs = (
        " ".join("".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 7))) for _ in range(60))
        for _ in range(1200)
    )
    huge = _article(0, "تقرير طويل\n\n" + "\n\n".join(f"{p}." for p in paragraphs))
    assert len(huge) < settings.max_body_bytes
    small = [_article(n, f"Report {n}\n\n{sample.replace('2014', str(1990 + n))}") for n in (1, 2)]
    records = [small[0], huge, small[1]]
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        deadline = time.monotonic() + 90
        while worker.readiness()[0] != 200:
            assert time.monotonic() < deadline, worker.log()
            time.sleep(0.5)
        with Feeder(settings) as feeder:
            feeder.send_all([(None, r) for r in records], names.raw)
        follower = Follower(settings, names.outputs())
        outputs: list[tuple[str, bytes | None, bytes]] = []
        deadline = time.monotonic() + 90
        try:
            while len(outputs) < len(records) and time.monotonic() < deadline:
                outputs.extend(follower.poll(0.5))
        finally:
            follower.close()
        assert len(outputs) == len(records), worker.log()
        letters = [orjson.loads(v) for t, _k, v in outputs if t == names.deadletter]
        assert len(letters) == 1
        (letter,) = letters
        assert letter["reason"] == "timeout"
        assert letter["stage"] in ("decode", "parse", "classify", "dedup")
        assert base64.b64decode(letter["value_b64"]) == huge  # the original bytes, intact
        assert f"{BUDGET_S:g} s budget" in letter["detail"]
        others = [t for t, _k, _v in outputs if t != names.deadletter]
        assert len(others) == 2  # the records around it went through
        timeouts = [
            s.value
            for family in text_string_to_metric_families(worker.scrape())
            for s in family.samples
            if s.name == "newsstream_deadletters_total" and s.labels.get("reason") == "timeout"
        ]
        assert sum(timeouts) == 1
        assert worker.readiness()[0] == 200  # still in its group: no rebalance loop
    finally:
        assert worker.stop() == 0, worker.log()
