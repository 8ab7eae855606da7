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
from tests.integration.accounting import (
    Accounting,
    describe_loss,
    describe_mismatch,
    mixed_records,
)

pytestmark = pytest.mark.integration

RECORDS = 10_000


@pytest.mark.parametrize("stop_signal", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "term"])
def test_stopping_a_worker_mid_stream_loses_nothing_and_replays_identically(
    broker: str, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    """SIGKILL: nothing is lost and replays repeat the same records. SIGTERM: the same, and
    the worker finishes in-flight work, commits and exits 0 within a bounded time."""
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
    code, stop_seconds = None, 0.0
    state = ""  # the restarted worker's counters and tasks, when it falls short
    try:
        deadline = time.monotonic() + 240
        quiet_until: float | None = None
        while time.monotonic() < deadline:
            batch = follower.poll(0.5)
            for topic, _key, value in batch:
                accounting.add(topic, value)
            if restarted is None and accounting.accounted >= kill_after:
                assert worker.process is not None
                stopped_at = time.monotonic()
                worker.process.send_signal(stop_signal)
                code = worker.process.wait(60)
                stop_seconds = time.monotonic() - stopped_at
                restarted = WorkerProcess(settings, tmp_path / "second.log")
                restarted.start()
            if restarted is not None and accounting.accounted == RECORDS:
                if batch or quiet_until is None:
                    quiet_until = time.monotonic() + 5  # replays may still be on their way
                elif time.monotonic() > quiet_until:
                    break
        if restarted is not None and accounting.accounted < RECORDS:
            counters = [
                line
                for line in restarted.scrape().splitlines()
                if line.startswith(("newsstream_records_", "newsstream_consumer_lag"))
            ]
            state = "\n".join(counters) + "\n" + restarted.tasks()
    finally:
        follower.close()
        if restarted is not None:
            assert restarted.stop() == 0, restarted.log()
        worker.stop()

    summary = accounting.summary()
    name = "kill -9" if stop_signal == signal.SIGKILL else "SIGTERM"
    ACCOUNTING.append((f"{name} after {kill_after} (seed {seed})", summary))
    assert restarted is not None, f"never reached {kill_after} outputs:\n{worker.log()}"
    if stop_signal == signal.SIGTERM:
        assert code == 0, worker.log()
        assert stop_seconds < 30, stop_seconds
    else:
        assert code == -signal.SIGKILL
    loss = describe_loss(
        accounting, settings.bootstrap_servers()[0], names.raw, names.outputs(), names.prepared
    )
    notes = f"first worker:\n{worker.notable()}\nrestarted:\n{restarted.notable()}"
    assert summary["lost"] == 0, f"{summary}\n{loss}\n{notes}\n{state}"
    assert accounting.unmatched == []
    assert accounting.mismatches() == [], describe_mismatch(accounting)
