"""kill -9 in the middle of a stream: every input still ends on exactly one topic."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from service.broker import ensure_topics
from service.feed import Feeder, Follower
from service.topics import TopicNames
from tests.conftest import ACCOUNTING, WorkerProcess, isolated_settings
from tests.integration.accounting import Accounting, mixed_records

pytestmark = pytest.mark.integration

RECORDS = 10_000


def test_kill_9_mid_stream_loses_nothing_and_replays_identically(
    broker: str, tmp_path: Path
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    settings = isolated_settings(broker, tmp_path)
    names = TopicNames.from_settings(settings)
    ensure_topics(settings.bootstrap_servers(), names.external(), settings.partitions)
    inputs = mixed_records(RECORDS, seed)
    accounting = Accounting(inputs)
    kill_after = rng.randint(RECORDS // 5, RECORDS * 3 // 4)

    worker = WorkerProcess(settings, tmp_path / "first.log")
    worker.start()
    with Feeder(settings) as feeder:
        feeder.send_all(inputs, names.raw)
    follower = Follower(settings, names.outputs())
    restarted: WorkerProcess | None = None
    try:
        deadline = time.monotonic() + 240
        quiet_until: float | None = None
        while time.monotonic() < deadline:
            batch = follower.poll(0.5)
            for topic, _key, value in batch:
                accounting.add(topic, value)
            if restarted is None and accounting.accounted >= kill_after:
                assert worker.process is not None
                worker.process.send_signal(signal.SIGKILL)
                worker.process.wait(10)
                restarted = WorkerProcess(settings, tmp_path / "second.log")
                restarted.start()
            if restarted is not None and accounting.accounted == RECORDS:
                if batch or quiet_until is None:
                    quiet_until = time.monotonic() + 5  # replays may still be on their way
                elif time.monotonic() > quiet_until:
                    break
    finally:
        follower.close()
        if restarted is not None:
            assert restarted.stop() == 0, restarted.log()
        worker.stop()

    summary = accounting.summary()
    ACCOUNTING.append((f"kill -9 after {kill_after} (seed {seed})", summary))
    assert restarted is not None, f"never reached {kill_after} outputs:\n{worker.log()}"
    assert summary["lost"] == 0, (summary, restarted.log())
    assert accounting.unmatched == []
    assert accounting.mismatches() == [], summary
