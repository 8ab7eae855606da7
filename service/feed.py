"""Getting records in and out of Kafka from the command line (kafka-python clients)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer
from tqdm import tqdm

from schemas.models import RawArticle
from service.batch import read_lines
from service.settings import Settings

HTML_SUFFIXES = {".html", ".htm"}


def _key_of(line: bytes) -> bytes | None:
    """The producer's id (else URL) as the record key, when the line is readable JSON."""
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    key = data.get("id") or data.get("url")
    return str(key).encode("utf-8") if key else None


def records_from_paths(
    paths: Iterable[Path], *, source: str | None = None
) -> Iterator[tuple[bytes | None, bytes]]:
    """(key, value) pairs: JSONL lines verbatim, other files wrapped as one RawArticle."""
    for path in paths:
        if path.suffix == ".jsonl":
            yield from ((_key_of(line), line) for line in read_lines(path))
            continue
        content_type = "text/html" if path.suffix.lower() in HTML_SUFFIXES else "text/plain"
        article = RawArticle(
            url=None,
            source=source or path.stem,
            fetched_at=datetime.now(UTC),
            content_type=content_type,
            body=path.read_text(encoding="utf-8", errors="replace"),
        )
        yield path.name.encode("utf-8"), article.model_dump_json(exclude_none=True).encode()


class Feeder:
    """A kafka-python producer that sends records and waits until all are acknowledged."""

    def __init__(self, settings: Settings, **overrides: Any) -> None:
        config = {
            **settings.kafka_python_config(),
            "linger_ms": 5,
            "acks": "all",
            # Idempotent producing needs InitProducerId, which the embedded broker lacks.
            "enable_idempotence": False,
            "max_request_size": settings.max_message_bytes(),
            **overrides,
        }
        self.producer = KafkaProducer(**config)

    def send_all(
        self,
        records: Iterable[tuple[bytes | None, bytes]],
        topic: str,
        *,
        partition: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        progress: bool = False,
    ) -> int:
        items = list(records)
        futures = [
            self.producer.send(topic, key=key, value=value, partition=partition, headers=headers)
            for key, value in items
        ]
        self.producer.flush()
        for future in tqdm(futures, desc=f"→ {topic}", unit="rec", disable=not progress):
            future.get(timeout=30)
        return len(futures)

    def close(self) -> None:
        self.producer.close(timeout=10)

    def __enter__(self) -> Feeder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Follower:
    """Reads topics from the start (or end) with no consumer group and commits nothing."""

    def __init__(self, settings: Settings, topics: list[str], *, from_beginning: bool = True):
        self.consumer = KafkaConsumer(
            *topics,
            group_id=None,
            auto_offset_reset="earliest" if from_beginning else "latest",
            enable_auto_commit=False,
            **settings.kafka_python_config(),
        )

    def poll(self, timeout: float = 0.2) -> list[tuple[str, bytes | None, bytes]]:
        batches = self.consumer.poll(timeout_ms=int(timeout * 1000))
        return [(r.topic, r.key, r.value) for records in batches.values() for r in records]

    def close(self) -> None:
        self.consumer.close()


def follow(
    settings: Settings,
    topics: list[str],
    *,
    from_beginning: bool = True,
    idle_timeout: float | None = None,
) -> Iterator[tuple[str, bytes | None, bytes]]:
    """(topic, key, value) as records arrive, until ``idle_timeout`` passes without one."""
    follower = Follower(settings, topics, from_beginning=from_beginning)
    try:
        last = time.monotonic()
        while True:
            records = follower.poll()
            yield from records
            if records:
                last = time.monotonic()
            elif idle_timeout is not None and time.monotonic() - last > idle_timeout:
                return
    finally:
        follower.close()
