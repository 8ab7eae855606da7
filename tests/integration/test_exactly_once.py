"""exactly_once: outputs and offsets commit in one Kafka transaction.

Runs only against a broker with transactions (Apache Kafka, e.g. with KAFKA_HOME
set); the embedded broker answers InitProducerId with an error, so it skips there.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from service.broker import ensure_topics
from service.feed import Feeder, records_from_paths
from service.topics import TopicNames
from tests.conftest import EXAMPLES, WorkerProcess, isolated_settings
from tests.integration.test_end_to_end import _collect

pytestmark = pytest.mark.integration


def _supports_transactions(bootstrap: str) -> bool:
    """Ask the way the worker will: aiokafka's transactional producer."""

    async def probe() -> bool:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id="probe")
        try:
            await producer.start()
            return True
        except KafkaError:
            return False
        finally:
            await producer.stop()

    return asyncio.run(probe())


def test_exactly_once_worker_accounts_for_every_example(broker: str, tmp_path: Path) -> None:
    if not _supports_transactions(broker):
        pytest.skip("this broker has no transactions (the embedded broker lacks InitProducerId)")
    settings = isolated_settings(broker, tmp_path, processing_guarantee="exactly_once")
    names = TopicNames.from_settings(settings)
    ensure_topics(settings.bootstrap_servers(), names.external(), settings.partitions)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        inputs = list(records_from_paths([EXAMPLES / "articles.jsonl"]))
        with Feeder(settings) as feeder:
            feeder.send_all(inputs, names.raw, partition=0)
        outputs = _collect(settings, worker, expected=len(inputs))
    finally:
        assert worker.stop() == 0, worker.log()
    assert sorted(t for t, _k, _v in outputs).count(names.enriched) == 4
    assert len(outputs) == len(inputs)
