"""The metric catalogue: every series the service exports, declared once.

Each worker owns a ``CollectorRegistry`` (injected, so tests read exact values
with ``registry.get_sample_value``). Label values are bounded: stage names,
topic names, bounded reason codes and duplicate methods, never ids or URLs.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from service import __version__

STAGES = ("decode", "parse", "dedup", "classify", "publish")
# Per-article stage work is sub-millisecond to tens of milliseconds.
_STAGE_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.consumed = Counter(
            "newsstream_records_consumed",
            "Records read from an input topic.",
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
        self.deadletters = Counter(
            "newsstream_deadletters",
            "Records sent to the dead-letter topic, by the stage that rejected them.",
            ["stage", "reason"],
            registry=r,
        )
        self.duplicates = Counter(
            "newsstream_duplicates",
            "Articles recognised as copies of an earlier one.",
            ["method"],
            registry=r,
        )
        self.enriched = Counter(
            "newsstream_enriched_articles",
            "Distinct articles published to the enriched topic, by detected language.",
            ["language"],
            registry=r,
        )
        self.build = Info("newsstream_build", "Version of the running worker.", registry=r)
        self.build.info({"version": __version__})
        for stage in STAGES:
            self.stage_duration.labels(stage)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
