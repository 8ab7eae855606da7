"""Dedup cost and index memory with 10k, 100k and 1M articles already indexed.

    .venv/bin/python -m tests.bench.bench_dedup [--max 1000000] [--batch 2000]

A benchmark, not a test: it prints one table and the machine it ran on.

* Fingerprint: ``fingerprint()`` on every corpus article (body = the text after the
  headline's blank line, normalised as the pipeline does), µs per article.
* Dedup at N indexed articles: the index is filled to N with synthetic entries
  (random signatures, content hashes and URL keys, fetched in the hour before the
  measured articles) through ``add_many`` (the start-up restore path), then a batch
  of real corpus articles (a different slice at each size, about 15 % of them
  copies) goes through the stream path: ``check`` and, when distinct, ``add``.
  Reported: median and mean µs per article, and articles/s for the mean.
* Memory at N: ``memory_bytes()`` per article, and the growth of the process's
  resident set (VmRSS, after ``malloc_trim``) per article since the empty index was
  made. Separately, at ``--trace`` articles, the bytes ``tracemalloc`` sees allocated
  by a fill (numpy reports its buffers to it) per article, as a check of
  ``memory_bytes()``.
* Growth: at the largest size a hash-table replacement is started as ``add()`` does
  when the table passes 80 % full (a private call), then synthetic articles are
  added until the old table is drained: the per-``add()`` cost meanwhile, and the
  memory while both tables exist.
* datasketch, for comparison, up to ``--datasketch-max`` articles: ``MinHash``
  (128 permutations, ``update_batch`` on the same word 3-shingles) per article, and a
  ``MinHashLSH`` with the same 32 x 4 bands filled with random ``LeanMinHash``es, then
  ``query`` + ``insert`` per article; memory by tracemalloc (at the first size only:
  tracing slows its inserts about tenfold) and by resident-set growth. The LSH
  stores keys only: checking a candidate's similarity would need the signatures
  kept as well.

Every phase runs in a fresh child process, so resident-set figures do not include
what an earlier phase left behind. Synthetic fill entries share no shingles with
anything, so they add no LSH candidates; on the corpus, unrelated candidates come
to about 0.05 per article per 10k indexed (``scripts/eval_dedup.py``), i.e. about 5
more signatures compared per article at 1M, which costs a gather of 5 rows.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import gzip
import importlib.util
import multiprocessing
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from service.stages.dedup_index import DedupConfig, DedupIndex, Entry
from service.stages.fingerprint import Fingerprint, fingerprint
from service.stages.normalize import normalize_for_matching
from tests.bench.machine import describe

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpora" / "saudinewsnet-dev.jsonl.gz"
FILL_START = datetime(2015, 7, 20, tzinfo=UTC)
FILL_SPAN = timedelta(hours=1)
CHUNK = 10_000

Article = tuple[str, str | None, str]  # id, url, normalised body


# --------------------------------------------------------------------------- inputs


def machine() -> str:
    return f"{describe()}; numpy {np.__version__}"


def load_articles(path: Path) -> list[Article]:
    """Corpus articles in fetch order; synthetic text when the corpus is absent."""
    if not path.exists():
        rng = np.random.default_rng(7)
        vocabulary = [f"w{i}" for i in range(20_000)]
        out: list[Article] = []
        for i in range(12_000):
            n = int(rng.integers(60, 600))
            picks = rng.zipf(1.3, n) % len(vocabulary)
            out.append((f"syn-{i}", None, " ".join(vocabulary[k] for k in picks)))
        return out
    rows: list[tuple[str, Article]] = []
    with gzip.open(path, "rb") as lines:
        for line in lines:
            record = orjson.loads(line)
            body = str(record.get("body", ""))
            _, _, text = body.partition("\n\n")
            rows.append(
                (
                    str(record.get("fetched_at", "")),
                    (str(record["id"]), record.get("url"), normalize_for_matching(text or body)),
                )
            )
    rows.sort(key=lambda r: (r[0], r[1][0]))
    return [article for _, article in rows]


def rss_bytes() -> int:
    """Resident set size, after handing freed heap pages back to the system (glibc's
    ``malloc_trim``), so memory the allocator merely keeps for reuse is not counted."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def fill_entries(start: int, stop: int, config: DedupConfig, seed: int) -> Iterator[Entry]:
    """Synthetic distinct entries ``start .. stop-1``, generated a chunk at a time."""
    rng = np.random.default_rng(seed + start)
    span_us = FILL_SPAN // timedelta(microseconds=1)
    for chunk_start in range(start, stop, CHUNK):
        n = min(CHUNK, stop - chunk_start)
        signatures = rng.integers(0, 2**16, (n, config.num_perm), dtype=np.uint16)
        keys = rng.bytes(32 * n).hex()
        offsets = rng.integers(0, span_us, n)
        for k in range(n):
            i = chunk_start + k
            fp = Fingerprint(
                content_hash=keys[64 * k : 64 * k + 32],
                url_key=keys[64 * k + 32 : 64 * k + 64],
                signature=signatures[k].tobytes(),
                shingle_count=250,
                scheme=config.scheme,
            )
            at = FILL_START + timedelta(microseconds=int(offsets[k]))
            yield Entry(f"sn-fill-{i:07d}", f"sn-fill-{i:07d}", f"articles.raw/3/{i}", at, fp)


# --------------------------------------------------------------------------- phases


def phase_ours(sizes: list[int], batches: list[list[Article]]) -> dict[str, Any]:
    config = DedupConfig()
    index = DedupIndex(config)
    gc.collect()
    base_rss = rss_bytes()
    results: dict[str, Any] = {}
    filled = 0
    measured_at = FILL_START + FILL_SPAN
    for size, batch in zip(sizes, batches, strict=True):
        fill_start = time.perf_counter()
        index.add_many(fill_entries(filled, size, config, seed=11))
        fill_seconds = time.perf_counter() - fill_start
        filled = size
        fps = [fingerprint(text, url, config) for _, url, text in batch]
        timings: list[float] = []
        duplicates = 0
        for i, ((article_id, _, _), fp) in enumerate(zip(batch, fps, strict=True)):
            origin = f"articles.raw/0/{size}-{i}"
            at = measured_at + timedelta(seconds=i)
            begin = time.perf_counter_ns()
            verdict = index.check(fp, article_id, origin, at)
            if verdict.original is None:
                index.add(Entry(article_id, verdict.story_id, origin, at, fp))
            timings.append((time.perf_counter_ns() - begin) / 1000)
            duplicates += verdict.is_duplicate
        gc.collect()
        results[str(size)] = {
            "indexed": len(index),
            "fill_s": fill_seconds,
            "median_us": statistics.median(timings),
            "mean_us": statistics.fmean(timings),
            "p99_us": float(np.percentile(timings, 99)),
            "max_us": max(timings),
            "duplicates": duplicates,
            "memory_per": index.memory_bytes() / len(index),
            "rss_per": (rss_bytes() - base_rss) / len(index),
        }
    # A table replacement at the largest size, forced as add() starts it when the table
    # passes 80 %: the old table drains a few hundred slots per add().
    index._start_draining()
    peak_memory = index.memory_bytes() / len(index)
    drain: list[float] = []
    extra = fill_entries(filled, filled + 10 * len(index), config, seed=13)
    while index._draining is not None:
        entry = next(extra)
        begin = time.perf_counter_ns()
        index.add(entry)
        drain.append((time.perf_counter_ns() - begin) / 1000)
    results["drain"] = {
        "adds": len(drain),
        "mean_us": statistics.fmean(drain),
        "max_ms": max(drain) / 1000,
        "peak_memory_per": peak_memory,
    }
    expire_start = time.perf_counter()
    removed = index.expire(FILL_START + config.window + FILL_SPAN / 10)
    results["expire"] = {"removed": len(removed), "seconds": time.perf_counter() - expire_start}
    return results


def phase_trace(size: int) -> dict[str, Any]:
    config = DedupConfig()
    tracemalloc.start()
    index = DedupIndex(config)
    before = tracemalloc.get_traced_memory()[0]
    index.add_many(fill_entries(0, size, config, seed=23))
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return {"traced_per": traced / len(index), "memory_per": index.memory_bytes() / len(index)}


def phase_datasketch(sizes: list[int], batches: list[list[Article]]) -> dict[str, Any]:
    from datasketch import (  # type: ignore[import-untyped]
        LeanMinHash,
        MinHash,
        MinHashLSH,
    )

    config = DedupConfig()
    k = config.shingle_size

    def minhash(text: str) -> MinHash:
        words = text.split()
        shingles = {" ".join(words[i : i + k]) for i in range(max(1, len(words) - k + 1))}
        m = MinHash(num_perm=config.num_perm)
        m.update_batch([s.encode("utf-8") for s in shingles])
        return m

    results: dict[str, Any] = {}
    sample = [text for batch in batches for _, _, text in batch][:2000]
    start = time.perf_counter()
    for text in sample:
        minhash(text)
    results["minhash_us"] = (time.perf_counter() - start) / len(sample) * 1e6

    # tracemalloc slows every insert about tenfold: it watches the first size only.
    base_rss = rss_bytes()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    lsh = MinHashLSH(num_perm=config.num_perm, params=(config.bands, config.rows))
    rng = np.random.default_rng(5)
    filled = 0
    for size, batch in zip(sizes, batches, strict=True):
        fill_start = time.perf_counter()
        for chunk_start in range(filled, size, CHUNK):
            n = min(CHUNK, size - chunk_start)
            values = rng.integers(0, 2**32, (n, config.num_perm), dtype=np.uint64)
            for j in range(n):
                seed_hash = MinHash(
                    num_perm=config.num_perm, hashvalues=values[j], scheme="affine32"
                )
                lsh.insert(f"sn-fill-{chunk_start + j:07d}", LeanMinHash(seed_hash))
        filled = size
        fill_seconds = time.perf_counter() - fill_start
        entry: dict[str, Any] = {"fill_s": fill_seconds}
        if tracemalloc.is_tracing():
            gc.collect()
            entry["traced_per"] = (tracemalloc.get_traced_memory()[0] - before) / size
            tracemalloc.stop()
        entry["rss_per"] = (rss_bytes() - base_rss) / size
        hashes = [minhash(text) for _, _, text in batch]
        timings: list[float] = []
        for (article_id, _, _), m in zip(batch, hashes, strict=True):
            begin = time.perf_counter_ns()
            if not lsh.query(m):
                lsh.insert(f"{size}-{article_id}", m)
            timings.append((time.perf_counter_ns() - begin) / 1000)
        entry["median_us"] = statistics.median(timings)
        entry["mean_us"] = statistics.fmean(timings)
        results[str(size)] = entry
    return results


def in_child(function: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run one phase in a fresh interpreter, so memory figures start from nothing."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        result: dict[str, Any] = pool.apply(function, args)
    return result


# --------------------------------------------------------------------------- report


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--max", type=int, default=1_000_000, help="largest index size")
    parser.add_argument("--batch", type=int, default=2000, help="measured articles per size")
    parser.add_argument("--trace", type=int, default=100_000, help="tracemalloc check size")
    parser.add_argument("--datasketch-max", type=int, default=100_000)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args(argv)

    sizes = [n for n in (10_000, 100_000, 1_000_000) if n <= args.max] or [args.max]
    started = time.perf_counter()
    articles = load_articles(args.corpus)
    source = args.corpus.name if args.corpus.exists() else "synthetic text (corpus absent)"
    if len(articles) < args.batch * len(sizes):
        args.batch = len(articles) // len(sizes)
    batches = [articles[i * args.batch : (i + 1) * args.batch] for i in range(len(sizes))]

    config = DedupConfig()
    per_article: list[float] = []
    for _, url, text in articles:
        begin = time.perf_counter_ns()
        fingerprint(text, url, config)
        per_article.append((time.perf_counter_ns() - begin) / 1000)

    ours = in_child(phase_ours, sizes, batches)
    trace = in_child(phase_trace, min(args.trace, max(sizes)))
    ds_sizes = [n for n in sizes if n <= args.datasketch_max]
    theirs: dict[str, Any] = {}
    if importlib.util.find_spec("datasketch") is None:
        print("datasketch not installed (extra 'bench'): comparison skipped")
    elif ds_sizes:
        theirs = in_child(phase_datasketch, ds_sizes, batches[: len(ds_sizes)])

    print(f"machine: {machine()}")
    print(
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; input: {source}, {args.batch} "
        f"measured articles per size; config: {config}"
    )
    columns = [label(n) for n in sizes]
    width = max(10, *(len(c) for c in columns))
    rows: list[tuple[str, list[str]]] = []

    def row(name: str, values: list[str]) -> None:
        rows.append((name, values))

    def fmt(data: dict[str, Any], key: str, spec: str) -> list[str]:
        return [
            format(data[str(n)][key], spec) if key in data.get(str(n), {}) else "-" for n in sizes
        ]

    row("dedup check+add µs/article, median", fmt(ours, "median_us", ".0f"))
    row("dedup check+add µs/article, mean", fmt(ours, "mean_us", ".0f"))
    row("dedup check+add µs/article, p99", fmt(ours, "p99_us", ".0f"))
    row("dedup articles/s (1 core, mean)", [f"{1e6 / ours[str(n)]['mean_us']:,.0f}" for n in sizes])
    row("duplicates in measured batch", fmt(ours, "duplicates", "d"))
    row("index memory_bytes()/article", fmt(ours, "memory_per", ".0f"))
    row("process RSS growth/article", fmt(ours, "rss_per", ".0f"))
    row("fill by add_many, s", fmt(ours, "fill_s", ".1f"))
    if theirs:
        row("datasketch LSH query+insert µs, median", fmt(theirs, "median_us", ".0f"))
        row("datasketch LSH query+insert µs, mean", fmt(theirs, "mean_us", ".0f"))
        row("datasketch LSH tracemalloc/article", fmt(theirs, "traced_per", ".0f"))
        row("datasketch LSH RSS growth/article", fmt(theirs, "rss_per", ".0f"))
    name_width = max(len(name) for name, _ in rows)
    print("\n" + "measure".ljust(name_width) + "".join(c.rjust(width + 2) for c in columns))
    for name, values in rows:
        print(name.ljust(name_width) + "".join(v.rjust(width + 2) for v in values))

    first, last = str(sizes[0]), str(sizes[-1])
    ratio = ours[last]["median_us"] / ours[first]["median_us"]
    mean_ratio = ours[last]["mean_us"] / ours[first]["mean_us"]
    print(
        f"\ncost at {label(sizes[-1])} / cost at {label(sizes[0])}: {ratio:.2f} (median), "
        f"{mean_ratio:.2f} (mean)"
    )
    print(
        f"fingerprint µs/article on {len(articles)} articles: median "
        f"{statistics.median(per_article):.0f}, mean {statistics.fmean(per_article):.0f}"
        + (f"; datasketch MinHash: mean {theirs['minhash_us']:.0f}" if theirs else "")
    )
    print(
        f"tracemalloc check at {label(min(args.trace, max(sizes)))}: "
        f"{trace['traced_per']:.0f} B/article allocated, memory_bytes() says "
        f"{trace['memory_per']:.0f}"
    )
    drain = ours["drain"]
    print(
        f"hash table replacement at {label(sizes[-1])} (as when it passes 80 % full): spread "
        f"over {drain['adds']:,} add() calls, {drain['mean_us'] / 1000:.1f} ms each on average, "
        f"longest {drain['max_ms']:.1f} ms; memory_bytes()/article while both tables exist: "
        f"{drain['peak_memory_per']:.0f}"
    )
    expired = ours["expire"]
    print(
        f"expire of {expired['removed']:,} entries at {label(sizes[-1])}: "
        f"{expired['seconds']:.2f} s"
    )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 / 1024
    print(f"total {time.perf_counter() - started:.0f} s; largest phase peak RSS {peak:.1f} GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
