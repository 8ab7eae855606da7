"""Classify-stage throughput on one core, on the Arabic corpus.

    .venv/bin/python -m tests.bench.bench_classify [--limit N] [--rounds N]

A benchmark, not a test: it prints the machine it ran on and one table.

Each corpus article is parsed first (untimed); then ``classify`` (topics,
events, actors, places, figures) runs on its title and text. After a warm-up
pass over every article (so the per-word memos are as warm as in a running
worker), ``--rounds`` rounds each classify every article once; each round
reports articles/s, and per-article times are pooled for the median and p99.
The same rounds also time the topic lexicon alone and the entity extractors
alone, so the cost of each half is visible. Loading the data (the GeoNames
gazetteer in a child process) is timed once, apart.

The corpus is ``../shared/corpora/saudinewsnet-dev.jsonl.gz`` next to the
repository; without it the benchmark says so and stops.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import time
from pathlib import Path

import orjson

from schemas.models import RawArticle
from service.stages.classify import active_lexicon, classify, configure_classifier
from service.stages.enrich import extract
from service.stages.parse import ParseError, parse_article
from service.stages.phrases import tokenize
from tests.bench.machine import describe

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpora" / "saudinewsnet-dev.jsonl.gz"


def load(limit: int) -> list[tuple[str, str]]:
    articles: list[tuple[str, str]] = []
    with gzip.open(CORPUS, "rb") as handle:
        for line in handle:
            raw = RawArticle.model_validate(orjson.loads(line))
            try:
                parsed = parse_article(raw)
            except ParseError:
                continue
            articles.append((parsed.title, parsed.text))
            if len(articles) >= limit:
                break
    return articles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=3000, help="articles (default 3000)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if not CORPUS.exists():
        print(f"corpus not found at {CORPUS}; nothing to measure")
        return 0
    print(f"machine: {describe()}")
    start = time.perf_counter()
    configure_classifier()
    print(f"data load (lexicons, actors, events, gazetteer): {time.perf_counter() - start:.2f} s")
    articles = load(args.limit)
    words = sum(len(title.split()) + len(text.split()) for title, text in articles)
    print(f"articles: {len(articles)}, {words / len(articles):.0f} words each on average")

    lexicon = active_lexicon()

    def topics_only(title: str, text: str) -> None:
        lexicon.topics(title, text)

    def entities_only(title: str, text: str) -> None:
        extract(title, text, tokenize(title), tokenize(text))

    def full(title: str, text: str) -> None:
        classify(title, text, "ar")

    workloads = {"classify (all)": full, "topics only": topics_only, "entities only": entities_only}
    for title, text in articles:  # warm-up
        full(title, text)
    rates: dict[str, list[float]] = {name: [] for name in workloads}
    times: dict[str, list[float]] = {name: [] for name in workloads}
    for _ in range(args.rounds):
        for name, work in workloads.items():
            round_start = time.perf_counter()
            for title, text in articles:
                t0 = time.perf_counter()
                work(title, text)
                times[name].append(time.perf_counter() - t0)
            rates[name].append(len(articles) / (time.perf_counter() - round_start))

    print(f"\n{'workload':<16} {'articles/s (median [min-max])':>32} {'p50 µs':>9} {'p99 µs':>9}")
    for name in workloads:
        per = sorted(times[name])
        p99 = per[min(len(per) - 1, int(len(per) * 0.99))]
        rate = rates[name]
        print(
            f"{name:<16} {statistics.median(rate):>14,.0f} [{min(rate):,.0f}-{max(rate):,.0f}]"
            f"{'':>6} {statistics.median(per) * 1e6:>9,.0f} {p99 * 1e6:>9,.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
