"""A worker killed with SIGKILL comes back with its dedup index and repeats nothing wrongly."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from service.broker import ensure_topics
from service.feed import Feeder, Follower
from service.settings import Settings
from service.topics import TopicNames
from tests.conftest import WorkerProcess, isolated_settings

pytestmark = pytest.mark.integration

BODY = (
    "Port reopens after storm\n\nThe main port reopened on Thursday after a storm closed it "
    "for two days, the port authority said, and ships began unloading grain and fuel.\n\n"
    "Officials said damage to the breakwater would be repaired within a month."
)


def _wait_for(follower: Follower, count: int, limit: float = 90) -> list[tuple[str, Any]]:
    got: list[tuple[str, Any]] = []
    deadline = time.monotonic() + limit
    while len(got) < count and time.monotonic() < deadline:
        got.extend((t, orjson.loads(v)) for t, _k, v in follower.poll(0.5))
    return got


def _stable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "processed_at"}


def _stop_and_restart(
    worker: WorkerProcess, settings: Settings, tmp_path: Path, sig: int = signal.SIGKILL
) -> WorkerProcess:
    assert worker.process is not None
    worker.process.send_signal(sig)
    code = worker.process.wait(60)
    assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 0), worker.log()
    restarted = WorkerProcess(settings, tmp_path / "second.log")
    restarted.start()
    return restarted


def test_repost_after_kill_9_is_still_a_duplicate(broker: str, tmp_path: Path) -> None:
    settings = isolated_settings(broker, tmp_path)
    names = TopicNames.from_settings(settings)
    ensure_topics(settings.bootstrap_servers(), names.external(), settings.partitions)
    original = {
        "id": "port-1",
        "source": "a.example",
        "fetched_at": "2024-11-14T08:00:00Z",
        "body": BODY,
    }
    repost = {**original, "id": "port-2", "source": "b.example"}

    worker = WorkerProcess(settings, tmp_path / "first.log")
    worker.start()
    follower = Follower(settings, names.outputs())
    try:
        with Feeder(settings) as feeder:
            feeder.send_all([(b"port-1", orjson.dumps(original))], names.raw, partition=2)
        before = _wait_for(follower, 1)
        assert [t for t, _r in before] == [names.enriched], worker.log()
        time.sleep(1)  # let the changelog write leave the producer's buffer
        restarted = _stop_and_restart(worker, settings, tmp_path)
        try:
            with Feeder(settings) as feeder:
                feeder.send_all([(b"port-2", orjson.dumps(repost))], names.raw, partition=3)
            after = _wait_for(follower, 1)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # a replay of port-1 may come too
                after.extend((t, orjson.loads(v)) for t, _k, v in follower.poll(0.5))
        finally:
            assert restarted.stop() == 0, restarted.log()
    finally:
        follower.close()

    duplicates = [r for t, r in after if t == names.duplicates]
    assert len(duplicates) == 1, (after, restarted.log())
    assert duplicates[0]["article_id"] == "port-2"
    assert duplicates[0]["duplicate_of"] == "port-1"
    assert duplicates[0]["story_id"] == before[0][1]["story_id"]
    # Whatever was replayed after the crash is the same record as before it.
    replays = [r for t, r in after if t == names.enriched]
    assert all(_stable(r) == _stable(before[0][1]) for r in replays)
    assert not [t for t, _r in after if t == names.deadletter]


@pytest.mark.parametrize(
    "stop_signal", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9-after-commit", "term-at-once"]
)
def test_a_changelog_written_in_batches_is_recovered_to_its_end(
    broker: str, tmp_path: Path, stop_signal: int
) -> None:
    """Re-posts of every article seen before a stop are duplicates after it.

    The changelog is produced in batches of many records (a long linger makes the last
    one big), and the embedded broker
    reports the end of a partition as the first offset of its last batch plus one:
    recovery must read to the real end, or the index forgets the last batch.
    A SIGTERM right after the last output must not leave entries behind in a buffer.
    """
    count = 300
    settings = isolated_settings(
        broker, tmp_path, producer_max_batch_bytes=1 << 20, producer_linger_s=0.1
    )
    names = TopicNames.from_settings(settings)
    ensure_topics(settings.bootstrap_servers(), names.external(), settings.partitions)
    originals = [
        {
            "id": f"story-{n}",
            "source": "a.example",
            "fetched_at": "2024-11-14T08:00:00Z",
            "body": f"Story number {n} of the day\n\n{BODY} Reference {n * 7919}: "
            + " ".join(f"w{n}x{k}" for k in range(40)),
        }
        for n in range(count)
    ]
    worker = WorkerProcess(settings, tmp_path / "first.log")
    worker.start()
    follower = Follower(settings, names.outputs())
    try:
        with Feeder(settings, linger_ms=50) as feeder:
            feeder.send_all([(o["id"].encode(), orjson.dumps(o)) for o in originals], names.raw)
        before = _wait_for(follower, count)
        assert sorted(t for t, _r in before) == [names.enriched] * count, worker.log()
        if stop_signal == signal.SIGKILL:
            time.sleep(6)  # changelog writes sent, offsets committed (every 2.8 s): no replays
        restarted = _stop_and_restart(worker, settings, tmp_path, stop_signal)
        try:
            reposts = [{**o, "id": f"re-{o['id']}", "source": "b.example"} for o in originals]
            with Feeder(settings) as feeder:
                feeder.send_all([(r["id"].encode(), orjson.dumps(r)) for r in reposts], names.raw)
            # A re-post read around the start-up seek may come twice (at-least-once),
            # so the wait is for every distinct one.
            after: dict[str, dict[str, Any]] = {}
            deadline = time.monotonic() + 90
            while len(after) < count and time.monotonic() < deadline:
                for _t, _k, v in follower.poll(0.5):
                    record = orjson.loads(v)
                    if record["article_id"].startswith("re-"):
                        after.setdefault(record["article_id"], record)
            stalled = restarted.tasks() if len(after) < count else ""
        finally:
            assert restarted.stop() == 0, restarted.log()
    finally:
        follower.close()

    assert sorted(after) == sorted(r["id"] for r in reposts), f"{restarted.log()}\n{stalled}"
    forgotten = sorted(i for i, r in after.items() if "duplicate_of" not in r)
    assert forgotten == [], (len(forgotten), forgotten[:10])
