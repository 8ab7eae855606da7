"""The metric catalogue: every series the service exports, declared once.

Each worker owns a ``CollectorRegistry`` (injected, so tests read exact values
with ``registry.get_sample_value``). Label values are bounded: stage names,
topic names, partitions, bounded reason codes, languages, ACLED event types and
duplicate methods, never ids, URLs or article text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from service import __version__

STAGES = ("decode", "parse", "classify", "fingerprint", "dedup", "publish")
# Per-article stage work is sub-millisecond to tens of milliseconds.
_STAGE_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip
# Broker timestamp to publication: milliseconds when healthy, minutes in a backlog.
_INGEST_BUCKETS = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
)  # fmt: skip
# fetched_at to publication also includes the scraper's own delay and backfills.
_FETCH_BUCKETS = (
    0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 86400.0, 7 * 86400.0,
)  # fmt: skip

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Children(dict[str, Any]):
    """A labelled metric's children by label value, looked up once each: ``labels()``
    costs more than the observation itself on the per-record path."""

    def __init__(self, labels: Callable[[str], Any]) -> None:
        super().__init__()
        self._labels = labels

    def __missing__(self, value: str) -> Any:
        child = self[value] = self._labels(value)
        return child


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.consumed = Counter(
            "newsstream_records_consumed",
            "Records read from an input topic (the raw topic and the internal sequencer topic).",
            ["topic"],
            registry=r,
        )
        self.produced = Counter(
            "newsstream_records_produced",
            "Records handed to the producer for an output topic.",
            ["topic"],
            registry=r,
        )
        self.stage_duration = Histogram(
            "newsstream_stage_duration_seconds",
            "Time one article spends in a pipeline stage.",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=r,
        )
        self.outcomes = Counter(
            "newsstream_stage_outcomes",
            "Articles leaving a stage, by outcome (ok, rejected, error, original, duplicate).",
            ["stage", "outcome"],
            registry=r,
        )
        self.ingest_latency = Histogram(
            "newsstream_ingest_to_publish_seconds",
            "From the raw record's broker timestamp to its output being handed to the producer.",
            ["topic"],
            buckets=_INGEST_BUCKETS,
            registry=r,
        )
        self.fetch_latency = Histogram(
            "newsstream_fetch_to_publish_seconds",
            "From the article's fetched_at to its output being handed to the producer.",
            ["topic"],
            buckets=_FETCH_BUCKETS,
            registry=r,
        )
        self.deadletters = Counter(
            "newsstream_deadletters",
            "Records sent to the dead-letter topic, by the stage that rejected them.",
            ["stage", "reason"],
            registry=r,
        )
        self.duplicates = Counter(
            "newsstream_duplicates",
            "Articles recognised as copies of an earlier one, by detector.",
            ["method"],
            registry=r,
        )
        self.enriched = Counter(
            "newsstream_enriched_articles",
            "Distinct articles published, by language and first ACLED event type ('none').",
            ["language", "event_type"],
            registry=r,
        )
        self.index_articles = Gauge(
            "newsstream_dedup_index_articles",
            "Articles in this worker's dedup index (0 on workers without the sequencer).",
            registry=r,
        )
        self.lag = Gauge(
            "newsstream_consumer_lag_records",
            "High watermark minus committed offset, per assigned input partition.",
            ["topic", "partition"],
            registry=r,
        )
        self.last_commit = Gauge(
            "newsstream_last_commit_timestamp_seconds",
            "Unix time at which the committed offset of a partition last advanced.",
            ["topic", "partition"],
            registry=r,
        )
        self.broker_up = Gauge(
            "newsstream_broker_up",
            "1 while a bootstrap server accepts connections, else 0.",
            registry=r,
        )
        self.ready = Gauge(
            "newsstream_ready",
            "1 while the broker is reachable and the worker has partitions assigned, else 0.",
            registry=r,
        )
        self.build = Info("newsstream_build", "Version of the running worker.", registry=r)
        self.build.info({"version": __version__})
        for stage in STAGES:
            self.stage_duration.labels(stage)

    def outcome(self, stage: str, outcome: str) -> None:
        self.outcomes.labels(stage, outcome).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
