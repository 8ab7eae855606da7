"""Two workers in one group: a copy is found whichever worker read its original."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.broker import ensure_topics
from service.feed import Feeder, Follower
from service.topics import TopicNames
from tests.conftest import WorkerProcess, isolated_settings

pytestmark = pytest.mark.integration

BODY = (
    "Ministers meet on water sharing\n\nWater ministers from three neighbouring countries met "
    "on Monday to discuss sharing the river's flow during the dry season, officials said.\n\n"
    "The talks ended without agreement, but a technical committee will meet again next month."
)


def _raw_partitions(worker: WorkerProcess, raw_topic: str) -> set[int]:
    status, body = worker.readiness()
    if status != 200:
        return set()
    return {
        int(tp.rsplit("/", 1)[1]) for tp in body["assigned"] if tp.rsplit("/", 1)[0] == raw_topic
    }


def _consumed(worker: WorkerProcess, topic: str) -> float:
    for family in text_string_to_metric_families(worker.scrape()):
        for sample in family.samples:
            if sample.name == "newsstream_records_consumed_total" and sample.labels == {
                "topic": topic
            }:
                return sample.value
    return 0.0


def test_copy_on_another_workers_partition_is_still_a_duplicate(
    broker: str, tmp_path: Path
) -> None:
    settings_a = isolated_settings(broker, tmp_path / "a")
    settings_b = settings_a.model_copy(
        update={
            "web_port": isolated_settings(broker, tmp_path / "b").web_port,
            "data_dir": tmp_path / "b" / "state",
        }
    )
    names = TopicNames.from_settings(settings_a)
    ensure_topics(settings_a.bootstrap_servers(), names.external(), settings_a.partitions)
    workers = [
        WorkerProcess(settings_a, tmp_path / "a.log"),
        WorkerProcess(settings_b, tmp_path / "b.log"),
    ]
    for worker in workers:
        worker.start()
    try:
        deadline = time.monotonic() + 90
        while True:
            owned = [_raw_partitions(w, names.raw) for w in workers]
            if all(owned) and not (owned[0] & owned[1]) and len(owned[0] | owned[1]) == 4:
                break
            assert time.monotonic() < deadline, (owned, workers[0].log(), workers[1].log())
            time.sleep(0.5)
        first = {
            "id": "wire-1",
            "source": "wire.example",
            "fetched_at": "2024-11-13T08:00:00Z",
            "body": BODY,
        }
        copy = {
            **first,
            "id": "reprint-1",
            "source": "reprint.example",
            "fetched_at": "2024-11-13T09:00:00Z",
        }
        with Feeder(settings_a) as feeder:
            feeder.send_all([(b"wire-1", orjson.dumps(first))], names.raw, partition=min(owned[0]))
        follower = Follower(settings_a, names.outputs())
        outputs = []
        try:
            while not outputs and time.monotonic() < deadline + 30:
                outputs.extend(follower.poll(0.5))
            with Feeder(settings_a) as feeder:
                feeder.send_all(
                    [(b"reprint-1", orjson.dumps(copy))], names.raw, partition=min(owned[1])
                )
            while len(outputs) < 2 and time.monotonic() < deadline + 60:
                outputs.extend(follower.poll(0.5))
        finally:
            follower.close()
        assert [t for t, _k, _v in outputs] == [names.enriched, names.duplicates]
        notice = orjson.loads(outputs[1][2])
        assert notice["duplicate_of"] == "wire-1"
        # Each worker read one of the two raw records.
        assert [_consumed(w, names.raw) for w in workers] == [1.0, 1.0]
    finally:
        for worker in workers:
            assert worker.stop() == 0, worker.log()
