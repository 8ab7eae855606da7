"""The broker goes away and comes back empty (the embedded one keeps nothing).

While it is away the worker says so in /readyz, its metrics and its log. When it
comes back without the service's topics, the worker recreates them with the
partition counts it relies on and stops with an error instead of running on
offsets that no longer mean anything; restarted, as a supervisor would, it works.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from service.broker import EmbeddedBroker, ensure_topics, free_port
from service.feed import Feeder, Follower, records_from_paths
from service.settings import Settings
from service.topics import TopicNames
from tests.conftest import EXAMPLES, WorkerProcess, isolated_settings

pytestmark = pytest.mark.integration


def _gauge(worker: WorkerProcess, name: str) -> float | None:
    for family in text_string_to_metric_families(worker.scrape()):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    return None


def _wait(condition: object, what: str, worker: WorkerProcess, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} never happened\n{worker.log()}"
        time.sleep(0.3)


def _round_trip(settings: Settings, names: TopicNames) -> int:
    inputs = list(records_from_paths([EXAMPLES / "articles.jsonl"]))
    with Feeder(settings) as feeder:
        feeder.send_all(inputs, names.raw)
    follower = Follower(settings, names.outputs())
    got = 0
    try:
        deadline = time.monotonic() + 60
        while got < len(inputs) and time.monotonic() < deadline:
            got += len(follower.poll(0.5))
    finally:
        follower.close()
    return got


def test_worker_rides_out_a_broker_restart(tmp_path: Path) -> None:
    port = free_port()
    broker = EmbeddedBroker("127.0.0.1", port, tmp_path / "broker.log")
    broker.start()
    settings = isolated_settings(broker.bootstrap, tmp_path)
    names = TopicNames.from_settings(settings)
    ensure_topics(settings.bootstrap_servers(), names.external(), settings.partitions)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        assert _round_trip(settings, names) == 6

        broker.stop()
        _wait(lambda: worker.readiness()[0] == 503, "not ready while the broker is down", worker)
        assert worker.readiness()[1]["broker"] is False
        assert _gauge(worker, "newsstream_broker_up") == 0
        assert _gauge(worker, "newsstream_ready") == 0
        assert "broker unreachable" in worker.log()

        broker = EmbeddedBroker("127.0.0.1", port, tmp_path / "broker.log")
        broker.start()
        assert worker.process is not None
        code = worker.process.wait(60)
        assert code != 0, worker.log()
        assert "lost its data" in worker.log()
        admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers())
        try:
            partitions = {
                t["name"]: len(t["partitions"])
                for t in admin.describe_topics([names.raw, names.prepared])
            }
        finally:
            admin.close()
        assert partitions == {names.raw: settings.partitions, names.prepared: 1}

        # Restarted as a supervisor would: not wedged, a new batch flows end to end.
        worker = WorkerProcess(settings, tmp_path / "worker2.log")
        worker.start()
        assert _round_trip(settings, names) == 6
    finally:
        code = worker.stop()
        broker.stop()
    assert code == 0, worker.log()
