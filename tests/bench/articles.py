"""The records every benchmark feeds: real Arabic articles, else synthetic ones."""

from __future__ import annotations

import gzip
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import orjson

from tests.integration.accounting import article_body

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpora" / "saudinewsnet-dev.jsonl.gz"
# Later passes over the corpus are shifted by more than the dedup window, so that
# the index expires the earlier pass and every article is an original again, as in
# a stream that runs for months.
PASS_SHIFT = timedelta(days=30)


def corpus_available() -> bool:
    return CORPUS.is_file()


def _corpus() -> list[dict[str, object]]:
    with gzip.open(CORPUS, "rb") as handle:
        return [orjson.loads(line) for line in handle]


def _synthetic(count: int) -> list[dict[str, object]]:
    rng = random.Random(7)
    return [
        {
            "id": f"syn-{n}",
            "source": f"outlet-{rng.randint(1, 30)}.example",
            "fetched_at": f"2024-11-13T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z",
            "content_type": "text/plain",
            "body": article_body(rng),
        }
        for n in range(count)
    ]


class Articles:
    """``count`` records as (key, value), cycling through the source with ids kept unique."""

    def __init__(self, use_corpus: bool = True) -> None:
        self.source = _corpus() if use_corpus and corpus_available() else _synthetic(5000)
        self.kind = "corpus" if use_corpus and corpus_available() else "synthetic"

    def records(self, count: int, start: int = 0) -> list[tuple[bytes, bytes]]:
        return list(self.iter_records(count, start))

    def iter_records(self, count: int, start: int = 0) -> Iterator[tuple[bytes, bytes]]:
        size = len(self.source)
        for n in range(start, start + count):
            base, lap = self.source[n % size], n // size
            record = dict(base)
            if lap:
                record["id"] = f"{base['id']}~{lap}"
                fetched = datetime.fromisoformat(str(base["fetched_at"]).replace("Z", "+00:00"))
                record["fetched_at"] = (fetched + lap * PASS_SHIFT).isoformat()
            yield str(record["id"]).encode(), orjson.dumps(record)
