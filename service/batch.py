"""Batch mode: the streaming pipeline over a file, with an in-memory dedup index."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson

from service.pipeline import Origin, Output, Pipeline
from service.settings import Settings
from service.stages.dedup_index import DedupIndex


def run_lines(
    pipeline: Pipeline, lines: Iterable[bytes], index: DedupIndex | None = None
) -> Iterator[Output]:
    """One output per input line, in input order. Lines are numbered from 0 as offsets."""
    topic = pipeline.settings.topic_raw
    index = index if index is not None else pipeline.new_index()
    for number, line in enumerate(lines):
        yield pipeline.process(
            Origin(topic=topic, partition=None, offset=number, value=line), index
        )


def output_line(output: Output) -> bytes:
    key = output.key.decode("utf-8", "replace") if output.key is not None else None
    value = output.record.model_dump(mode="json")
    return orjson.dumps({"topic": output.topic, "key": key, "value": value})


def read_lines(path: Path) -> Iterator[bytes]:
    """Non-blank lines without their line break: the records ``produce`` would send."""
    with path.open("rb") as handle:
        for line in handle:
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield line


def process_file(settings: Settings, input_path: Path, output_path: Path) -> dict[str, int]:
    pipeline = Pipeline(settings)
    counts: Counter[str] = Counter()
    index = pipeline.new_index()
    with output_path.open("wb") as out:
        for output in run_lines(pipeline, read_lines(input_path), index):
            out.write(output_line(output) + b"\n")
            counts[output.topic] += 1
    return dict(counts)
