"""Per-article cost of each stage, in process, and the rate of batch mode."""

from __future__ import annotations

import time
from collections import defaultdict

from service.batch import run_lines
from service.pipeline import Origin, Output, Pipeline
from service.settings import Settings


class TimingPipeline(Pipeline):
    """The pipeline, recording every stage's duration instead of observing a histogram."""

    def __init__(self, settings: Settings) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        super().__init__(settings)

    def _observe(self, stage: str, seconds: float) -> None:
        self.samples[stage].append(seconds)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(records: list[tuple[bytes, bytes]]) -> dict[str, tuple[float, float]]:
    """Stage → (p50, p99) in µs over the last three quarters of ``records``, after a
    warm-up pass on the first quarter.

    The warm-up takes the lazy loads out; it runs on other articles than the measured
    ones so that words met for the first time cost what they cost in a stream.
    """
    pipeline = TimingPipeline(Settings())
    cut = len(records) // 4
    for batch in (records[:cut], records[cut:]):  # the samples of the last pass are kept
        pipeline.samples.clear()
        index = pipeline.new_index()
        samples = pipeline.samples
        for n, (key, value) in enumerate(batch):
            origin = Origin(topic="articles.raw", partition=0, offset=n, key=key, value=value)
            start = time.perf_counter()
            prepared = pipeline.prepare(origin)
            samples["prepare (decode → fingerprint)"].append(time.perf_counter() - start)
            if isinstance(prepared, Output):
                continue
            start = time.perf_counter()
            _key, encoded = pipeline.encode_prepared(prepared)
            samples["internal record: serialise"].append(time.perf_counter() - start)
            start = time.perf_counter()
            article = pipeline.decode_prepared(encoded)
            samples["internal record: deserialise"].append(time.perf_counter() - start)
            output = pipeline.resolve(article, index)
            start = time.perf_counter()
            output.value_bytes()
            samples["output record: serialise"].append(time.perf_counter() - start)
    order = [
        "decode",
        "parse",
        "classify",
        "fingerprint",
        "prepare (decode → fingerprint)",
        "internal record: serialise",
        "internal record: deserialise",
        "dedup",
        "output record: serialise",
    ]
    return {
        stage: (
            _percentile(pipeline.samples[stage], 0.5) * 1e6,
            _percentile(pipeline.samples[stage], 0.99) * 1e6,
        )
        for stage in order
        if pipeline.samples.get(stage)
    }


def batch_rate(records: list[tuple[bytes, bytes]]) -> float:
    """Articles/s of batch mode (both halves back to back, one process, no broker)."""
    pipeline = Pipeline(Settings())
    start = time.perf_counter()
    count = sum(1 for _ in run_lines(pipeline, (value for _key, value in records)))
    return count / (time.perf_counter() - start)
