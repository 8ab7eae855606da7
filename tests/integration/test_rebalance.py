"""A second worker joins mid-stream and leaves again: nothing lost, nothing changed."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from service.broker import ensure_topics, free_port
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

RECORDS = 6_000


def test_worker_joining_and_leaving_mid_stream(broker: str, tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    settings = isolated_settings(broker, tmp_path)
    names = TopicNames.from_settings(settings)
    ensure_topics(settings.bootstrap_servers(), names.external(), settings.partitions)
    inputs = mixed_records(RECORDS, seed)
    accounting = Accounting(inputs)

    first = WorkerProcess(settings, tmp_path / "first.log")
    first.start()
    second_settings = settings.model_copy(
        update={"web_port": free_port(), "data_dir": tmp_path / "second-state"}
    )
    second = WorkerProcess(second_settings, tmp_path / "second.log")
    # Feed in three waves so that each membership change happens while records flow.
    waves = [
        inputs[: RECORDS // 3],
        inputs[RECORDS // 3 : 2 * RECORDS // 3],
        inputs[2 * RECORDS // 3 :],
    ]
    follower = Follower(settings, names.outputs())
    events = []
    shortfalls: list[str] = []
    try:
        with Feeder(settings) as feeder:
            feeder.send_all(waves[0], names.raw)
            shortfalls.append(_drain(follower, accounting, until=RECORDS // 6))
            second.start()
            events.append(f"joined at {accounting.accounted}")
            feeder.send_all(waves[1], names.raw)
            shortfalls.append(_drain(follower, accounting, until=RECORDS // 2))
            assert second.stop() == 0, second.log()
            events.append(f"left at {accounting.accounted}")
            feeder.send_all(waves[2], names.raw)
        shortfalls.append(_drain(follower, accounting, until=RECORDS, quiet=5))
    finally:
        follower.close()
        second.stop()
        assert first.stop() == 0, first.log()

    summary = accounting.summary()
    ACCOUNTING.append((f"rebalance: {', '.join(events)}", summary))
    if summary["lost"]:
        loss = describe_loss(
            accounting, settings.bootstrap_servers()[0], names.raw, names.outputs(), names.prepared
        )
        notes = f"first worker:\n{first.notable()}\nsecond:\n{second.notable()}"
        incomplete = "\n".join(f"wave {n}: {s}" for n, s in enumerate(shortfalls, 1) if s)
        raise AssertionError(f"{incomplete}\n{loss}\n{notes}")
    assert accounting.unmatched == []
    assert accounting.mismatches() == [], describe_mismatch(accounting)


def _drain(
    follower: Follower,
    accounting: Accounting,
    until: int,
    quiet: float = 0,
) -> str:
    """Reads outputs until ``until`` inputs are accounted for (then ``quiet`` seconds more).

    Returns what fell short instead of failing, so the caller can say where it went.
    """
    deadline = time.monotonic() + 180
    quiet_until: float | None = None
    while time.monotonic() < deadline:
        batch = follower.poll(0.5)
        for topic, _key, value in batch:
            accounting.add(topic, value)
        if accounting.accounted >= until:
            if not quiet:
                return ""
            if batch or quiet_until is None:
                quiet_until = time.monotonic() + quiet
            elif time.monotonic() > quiet_until:
                return ""
    return f"only {accounting.accounted} of {until} inputs accounted for"
