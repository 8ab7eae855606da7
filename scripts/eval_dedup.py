"""Precision and recall of the exact + near detectors on the development corpus.

    .venv/bin/python scripts/eval_dedup.py [--corpus PATH] [--no-sweep]

Each article goes through what the worker does: ``parse_article`` (the body text
without its headline), ``normalize_for_matching``, ``fingerprint`` and one
``DedupIndex`` fed in ``fetched_at`` order (ties by id), adding every distinct
article as the service does.

Truth, independent of the MinHash code: the exact Jaccard similarity of the sets
of word ``shingle_size``-grams (plain Python strings) of two bodies. Every pair
with Jaccard >= 0.8 is found by an exact all-pairs similarity join: shingles are
ordered by corpus frequency (rarest first), and two sets with Jaccard >= t share
at least one shingle among the first ``|s| - ceil(t*|s|) + 1`` of each, so an
inverted index over those prefixes yields a superset of the true pairs, whose
Jaccard is then computed exactly. Articles below the short-text guard
(``min_shingles``) are left out of the truth, by design: the service never
matches their bodies (their count is reported).

Definitions:

* a flagged pair is (duplicate, original) for each article the index reports as an
  ``exact`` or ``near`` duplicate; it is correct when its true Jaccard >= 0.5;
  precision = correct flagged pairs / flagged pairs;
* duplicate clusters: the connected components of the flagged pairs (an original
  with every article flagged as its duplicate);
* a truth pair is found when both articles are in the same duplicate cluster;
  recall = found truth pairs / truth pairs.

Targets (the issue): recall >= 0.95, precision >= 0.98. The script also sweeps
``near_threshold`` and the LSH shape (bands x rows) to show how the defaults were
chosen. Exits 0 with a message when the corpus is absent.
"""

from __future__ import annotations

import argparse
import gzip
import math
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from schemas.models import RawArticle  # noqa: E402
from service.stages.dedup_index import DedupConfig, DedupIndex, Entry  # noqa: E402
from service.stages.fingerprint import Fingerprint, fingerprint  # noqa: E402
from service.stages.normalize import normalize_for_matching  # noqa: E402
from service.stages.parse import ParseError, parse_article  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpora" / "saudinewsnet-dev.jsonl.gz"
TRUTH_JACCARD = 0.8
CORRECT_JACCARD = 0.5
STORY_JACCARD = 0.3


@dataclass(frozen=True, slots=True)
class Article:
    article_id: str
    url: str | None
    fetched_at: datetime
    text: str  # normalised body


def load(path: Path) -> tuple[list[Article], int]:
    articles: list[Article] = []
    rejected = 0
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            raw = RawArticle.model_validate_json(line)
            try:
                parsed = parse_article(raw)
            except ParseError:
                rejected += 1
                continue
            articles.append(
                Article(
                    article_id=raw.id or f"line-{len(articles) + rejected}",
                    url=parsed.url,
                    fetched_at=raw.fetched_at,
                    text=normalize_for_matching(parsed.text),
                )
            )
    articles.sort(key=lambda a: (a.fetched_at, a.article_id))
    return articles, rejected


# --------------------------------------------------------------------------- truth


def shingle_set(text: str, size: int) -> frozenset[str]:
    words = text.split()
    if len(words) < size:
        return frozenset([" ".join(words)]) if words else frozenset()
    return frozenset(" ".join(words[i : i + size]) for i in range(len(words) - size + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def similar_pairs(sets: list[frozenset[str]], threshold: float) -> dict[tuple[int, int], float]:
    """Every pair (i < j) of non-empty sets with Jaccard >= threshold (exact, by prefix
    filtering and a size filter, then exact verification)."""
    frequency: Counter[str] = Counter()
    for s in sets:
        frequency.update(s)
    postings: dict[str, list[int]] = defaultdict(list)
    pairs: dict[tuple[int, int], float] = {}
    for i in sorted(range(len(sets)), key=lambda k: len(sets[k])):
        s = sets[i]
        if not s:
            continue
        ordered = sorted(s, key=lambda token: (frequency[token], token))
        prefix = ordered[: len(s) - math.ceil(threshold * len(s)) + 1]
        candidates: set[int] = set()
        for token in prefix:
            candidates.update(postings[token])
        for j in candidates:  # len(sets[j]) <= len(s): the size filter is one-sided
            if len(sets[j]) >= threshold * len(s):
                value = jaccard(s, sets[j])
                if value >= threshold:
                    pairs[(min(i, j), max(i, j))] = value
        for token in prefix:
            postings[token].append(i)
    return pairs


# --------------------------------------------------------------------------- run


@dataclass(slots=True)
class Run:
    flagged: list[tuple[int, int, str, float]]  # duplicate, original, method, similarity
    story_of: list[str]
    seconds: float


def run_index(articles: list[Article], fps: list[Fingerprint], config: DedupConfig) -> Run:
    index = DedupIndex(config)
    position = {a.article_id: i for i, a in enumerate(articles)}
    flagged: list[tuple[int, int, str, float]] = []
    story_of: list[str] = []
    start = time.perf_counter()
    for i, (article, fp) in enumerate(zip(articles, fps, strict=True)):
        origin = f"corpus/0/{i}"
        verdict = index.check(fp, article.article_id, origin, article.fetched_at)
        story_of.append(verdict.story_id)
        if verdict.original is not None:
            assert verdict.method is not None
            original = position[verdict.original.article_id]
            flagged.append((i, original, verdict.method, verdict.similarity))
        else:
            index.add(Entry(article.article_id, verdict.story_id, origin, article.fetched_at, fp))
    return Run(flagged, story_of, time.perf_counter() - start)


class Clusters:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


@dataclass(frozen=True, slots=True)
class Score:
    flagged: int
    correct: int
    truth: int
    found: int
    by_method: dict[str, int]

    @property
    def precision(self) -> float:
        return self.correct / self.flagged if self.flagged else 1.0

    @property
    def recall(self) -> float:
        return self.found / self.truth if self.truth else 1.0


def score(
    run: Run,
    sets: list[frozenset[str]],
    truth: Iterable[tuple[int, int]],
    methods: tuple[str, ...] = ("exact", "near"),
) -> Score:
    clusters = Clusters(len(sets))
    correct = flagged = 0
    by_method: Counter[str] = Counter()
    for dup, original, method, _ in run.flagged:
        by_method[method] += 1
        if method not in methods:
            continue
        flagged += 1
        clusters.union(dup, original)
        if jaccard(sets[dup], sets[original]) >= CORRECT_JACCARD:
            correct += 1
    truth = list(truth)
    found = sum(clusters.find(a) == clusters.find(b) for a, b in truth)
    return Score(flagged, correct, len(truth), found, dict(by_method))


# --------------------------------------------------------------------------- report


def _row(cells: Iterable[object], widths: Iterable[int]) -> str:
    return "  ".join(str(c).rjust(w) for c, w in zip(cells, widths, strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--no-sweep", action="store_true", help="only the default config")
    args = parser.parse_args(argv)
    if not args.corpus.exists():
        print(f"corpus not found at {args.corpus}: nothing to evaluate (skipped)")
        return 0

    config = DedupConfig()
    started = time.perf_counter()
    articles, rejected = load(args.corpus)
    print(
        f"corpus: {args.corpus.name}: {len(articles)} articles ({rejected} rejected by the parser)"
    )
    sets = [shingle_set(a.text, config.shingle_size) for a in articles]
    guarded = [len(s) < config.min_shingles for s in sets]
    all_truth = similar_pairs(sets, TRUTH_JACCARD)
    truth = [p for p in all_truth if not guarded[p[0]] and not guarded[p[1]]]
    print(
        f"truth: {len(all_truth)} pairs with exact Jaccard >= {TRUTH_JACCARD} on word "
        f"{config.shingle_size}-shingles; {len(all_truth) - len(truth)} involve one of "
        f"{sum(guarded)} bodies under the {config.min_shingles}-shingle guard and are left "
        f"out: {len(truth)} pairs ({time.perf_counter() - started:.1f} s so far)"
    )

    t0 = time.perf_counter()
    fps = [fingerprint(a.text, a.url, config) for a in articles]
    fp_us = (time.perf_counter() - t0) / len(articles) * 1e6
    run = run_index(articles, fps, config)
    result = score(run, sets, truth)
    print(f"\ndefault config: {config}")
    check_us = run.seconds / len(articles) * 1e6
    print(f"fingerprint {fp_us:.0f} µs/article; check+add {check_us:.0f} µs/article")
    widths = (34, 10)
    print(_row(("measure", "value"), widths))
    print(_row(("flagged pairs (exact + near)", result.flagged), widths))
    for method in ("url", "exact", "near"):
        print(_row((f"  of which {method}", result.by_method.get(method, 0)), widths))
    print(_row((f"flagged with Jaccard >= {CORRECT_JACCARD}", result.correct), widths))
    print(_row(("precision", f"{result.precision:.4f}"), widths))
    print(_row((f"truth pairs (J >= {TRUTH_JACCARD})", result.truth), widths))
    print(_row(("found (same duplicate cluster)", result.found), widths))
    print(_row(("recall", f"{result.recall:.4f}"), widths))
    flagged_j = np.array([jaccard(sets[d], sets[o]) for d, o, m, _ in run.flagged if m == "near"])
    if flagged_j.size:
        print(_row(("near pairs: min true Jaccard", f"{flagged_j.min():.3f}"), widths))
        print(_row(("near pairs: share with J >= 0.8", f"{(flagged_j >= 0.8).mean():.3f}"), widths))
    _report_misses(run, sets, truth, articles)
    _report_stories(run, sets, articles)
    if not args.no_sweep:
        _sweep_thresholds(articles, fps, sets, truth, config)
        _sweep_lsh(articles, sets, truth, config)
    print(f"\ntotal {time.perf_counter() - started:.1f} s")
    return 0


def _report_misses(
    run: Run, sets: list[frozenset[str]], truth: list[tuple[int, int]], articles: list[Article]
) -> None:
    clusters = Clusters(len(sets))
    for dup, original, method, _ in run.flagged:
        if method in ("exact", "near"):
            clusters.union(dup, original)
    missed = [(a, b) for a, b in truth if clusters.find(a) != clusters.find(b)]
    if not missed:
        return
    values = sorted(jaccard(sets[a], sets[b]) for a, b in missed)
    print(
        f"missed truth pairs: {len(missed)}, true Jaccard from {values[0]:.3f} to "
        f"{values[-1]:.3f} (median {values[len(values) // 2]:.3f})"
    )


def _report_stories(run: Run, sets: list[frozenset[str]], articles: list[Article]) -> None:
    """Distinct articles that joined an earlier story, and how similar they really are."""
    dup = {d for d, _, _, _ in run.flagged}
    first_of: dict[str, int] = {}
    joined: list[float] = []
    for i, story in enumerate(run.story_of):
        if story not in first_of:
            first_of[story] = i
        elif i not in dup:
            joined.append(jaccard(sets[i], sets[first_of[story]]))
    stories = len({run.story_of[i] for i in range(len(articles)) if i not in dup})
    distinct = len(articles) - len(dup)
    if joined:
        values = np.array(joined)
        print(
            f"stories: {distinct} distinct articles in {stories} stories; {len(joined)} joined "
            f"an earlier story (true Jaccard with the story's first article: median "
            f"{np.median(values):.2f}, {(values >= 0.2).mean():.0%} >= 0.2)"
        )


def _sweep_thresholds(
    articles: list[Article],
    fps: list[Fingerprint],
    sets: list[frozenset[str]],
    truth: list[tuple[int, int]],
    config: DedupConfig,
) -> None:
    print("\nnear_threshold sweep (estimated Jaccard a near duplicate must reach):")
    widths = (9, 8, 8, 8, 10, 8, 12)
    header = ("threshold", "flagged", "near", "wrong", "precision", "recall", "min near J")
    print(_row(header, widths))
    for threshold in (0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9):
        cfg = replace(config, near_threshold=threshold, story_threshold=min(0.3, threshold))
        run = run_index(articles, fps, cfg)
        result = score(run, sets, truth)
        near = result.by_method.get("near", 0)
        near_j = [jaccard(sets[d], sets[o]) for d, o, m, _ in run.flagged if m == "near"]
        cells = (
            threshold,
            result.flagged,
            near,
            result.flagged - result.correct,
            f"{result.precision:.4f}",
            f"{result.recall:.4f}",
            f"{min(near_j):.3f}" if near_j else "-",
        )
        print(_row(cells, widths))


def _band_collisions(fps: list[Fingerprint], bands: int, rows: int) -> set[tuple[int, int]]:
    signed = [i for i, fp in enumerate(fps) if fp.signature]
    matrix = np.stack([fps[i].signature_array() for i in signed])
    pairs: set[tuple[int, int]] = set()
    for band in range(bands):
        groups: dict[bytes, list[int]] = defaultdict(list)
        block = np.ascontiguousarray(matrix[:, band * rows : (band + 1) * rows])
        for k in range(block.shape[0]):
            groups[block[k].tobytes()].append(signed[k])
        for members in groups.values():
            for x in range(len(members)):
                for y in range(x + 1, len(members)):
                    pairs.add((min(members[x], members[y]), max(members[x], members[y])))
    return pairs


def _sweep_lsh(
    articles: list[Article],
    sets: list[frozenset[str]],
    truth: list[tuple[int, int]],
    config: DedupConfig,
) -> None:
    print(
        "\nLSH shape sweep: precision/recall with the default thresholds; 'unrelated' = "
        f"candidates with true Jaccard < {STORY_JACCARD} per article per 10k indexed "
        "(what grows with the index); 'story' = share of pairs with "
        f"{STORY_JACCARD} <= J < {TRUTH_JACCARD} that become candidates"
    )
    stories = similar_pairs(sets, STORY_JACCARD)
    story_pairs = [p for p, j in stories.items() if j < TRUTH_JACCARD]
    widths = (12, 10, 8, 9, 7, 10)
    print(_row(("bands x rows", "precision", "recall", "unrelated", "story", "check µs"), widths))
    for bands, rows in ((16, 4), (24, 4), (32, 4), (42, 3), (25, 5)):
        cfg = replace(config, bands=bands, rows=rows, num_perm=bands * rows)
        fps = [fingerprint(a.text, a.url, cfg) for a in articles]
        run = run_index(articles, fps, cfg)
        result = score(run, sets, truth)
        collisions = _band_collisions(fps, bands, rows)
        unrelated = sum(1 for p in collisions if jaccard(sets[p[0]], sets[p[1]]) < STORY_JACCARD)
        signed = sum(1 for fp in fps if fp.signature)
        per_10k = unrelated * 2 / signed * 1e4 / signed
        story = sum(p in collisions for p in story_pairs) / max(1, len(story_pairs))
        cells = (
            f"{bands} x {rows}",
            f"{result.precision:.4f}",
            f"{result.recall:.4f}",
            f"{per_10k:.3f}",
            f"{story:.2f}",
            f"{run.seconds / len(articles) * 1e6:.0f}",
        )
        print(_row(cells, widths))


if __name__ == "__main__":
    raise SystemExit(main())
