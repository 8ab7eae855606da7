"""10,000 hostile records in one stream with good ones: no crash, nothing lost or altered."""

from __future__ import annotations

import base64
import random
import time
from pathlib import Path

import orjson
import pytest

from service.broker import ensure_topics
from service.feed import Feeder, Follower
from service.topics import TopicNames
from tests.conftest import ACCOUNTING, WorkerProcess, isolated_settings
from tests.integration.accounting import Accounting, hostile_records, mixed_records

pytestmark = pytest.mark.integration

BAD = 10_000
GOOD = 500
LIMIT = 64 * 1024


def test_hostile_records_are_dead_lettered_and_good_ones_flow(broker: str, tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    settings = isolated_settings(broker, tmp_path, max_body_bytes=LIMIT)
    names = TopicNames.from_settings(settings)
    ensure_topics(settings.bootstrap_servers(), names.external(), settings.partitions)
    hostile = hostile_records(BAD, seed, LIMIT)
    good = [(k, v) for k, v in mixed_records(GOOD * 2, seed) if v.startswith(b'{"id"')][:GOOD]
    inputs = [(k, v) for k, v, _must in hostile] + good
    random.Random(seed).shuffle(inputs)
    accounting = Accounting(inputs)

    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    follower = Follower(settings, names.outputs())
    try:
        with Feeder(settings, max_request_size=4 * 1024 * 1024) as feeder:
            feeder.send_all(inputs, names.raw)
        deadline = time.monotonic() + 200
        quiet_until: float | None = None
        while time.monotonic() < deadline:
            batch = follower.poll(0.5)
            for topic, _key, value in batch:
                accounting.add(topic, value)
            assert worker.process is not None
            assert worker.process.poll() is None, worker.log()
            if accounting.accounted == len(inputs):
                if batch or quiet_until is None:
                    quiet_until = time.monotonic() + 3
                elif time.monotonic() > quiet_until:
                    break
    finally:
        follower.close()
        assert worker.stop() == 0, worker.log()

    summary = accounting.summary()
    assert accounting.accounted == len(inputs), (summary, accounting.unmatched[:3], seed)
    ACCOUNTING.append((f"hostile {BAD} + good {GOOD} (seed {seed})", summary))
    assert summary["lost"] == 0, summary
    assert summary["replayed"] == 0, summary
    assert accounting.unmatched == []
    index = {key: n for n, (key, _v) in enumerate(inputs)}
    for key, value, must in hostile:
        ((topic, record),) = accounting.by_input[index[key]]
        if must:
            assert topic == names.deadletter, (value[:200], record)
        if topic == names.deadletter:
            assert base64.b64decode(record["value_b64"]) == value
            assert record["reason"]
    for key, _value in good:
        ((topic, record),) = accounting.by_input[index[key]]
        assert topic in (names.enriched, names.duplicates), record
        assert record["article_id"] == orjson.loads(_value)["id"]
