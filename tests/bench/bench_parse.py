"""Parse-stage throughput on one core: text articles, ~100 KB HTML pages, and decoding.

    .venv/bin/python -m tests.bench.bench_parse [--limit N] [--pages N] [--rounds N]

A benchmark, not a test: it prints the machine it ran on and one table.

* Text: ``parse_article`` on corpus articles as the corpus ships them (``RawArticle``
  with a text/plain body: headline, blank line, paragraphs).
* HTML: the same articles wrapped in a page template of this file's own (head with
  metadata, JSON-LD, inline CSS and scripts; cookie banner, navigation, breadcrumbs,
  share bar, sidebars with most-read and newsletter boxes, related articles,
  comments, footer), padded with more related teasers and comments to about
  ``--page-kb`` KB, then ``parse_article`` with content type text/html.
* Decode: ``decode_record`` on the articles as UTF-8 JSON records (the usual path),
  and on bare Windows-1256 bodies with no charset anywhere (the detection path);
  for comparison, charset-normalizer alone (``from_bytes(...).best()``, unrestricted)
  on the same bodies.
* ``--accuracy`` (untimed): random corpus snippets of 8 to 200 characters as bare
  Windows-1256 and ISO-8859-6 bytes; the share that ``decode_text`` returns intact,
  next to charset-normalizer restricted to the same candidate encodings.

Everything runs in this one process, single-threaded. After a warm-up pass, the
workloads run in ``--rounds`` interleaved rounds (text, HTML, decode, text, ...);
each round reports items/s, and per-item times are pooled for the p50/p99.

The corpus is ``../shared/corpora/saudinewsnet-dev.jsonl.gz`` next to the repository.
Without it the benchmark says so and uses synthetic Arabic articles instead.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
from charset_normalizer import from_bytes

from schemas.models import RawArticle
from service.stages.decode import DecodeError, decode_record, decode_text
from service.stages.parse import ParseError, parse_article
from tests.bench.machine import describe

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpora" / "saudinewsnet-dev.jsonl.gz"
LIMITS = {"max_record_bytes": 4_000_000, "max_body_bytes": 2_000_000}


# --------------------------------------------------------------------------- machine


def machine() -> list[str]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return [
        f"machine  {describe()}; {usable or '?'} cores usable by this process",
        f"date     {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
    ]


# --------------------------------------------------------------------------- inputs


def load_corpus(limit: int) -> list[RawArticle] | None:
    if not CORPUS.exists():
        return None
    articles = []
    with gzip.open(CORPUS, "rb") as lines:
        for line in lines:
            articles.append(RawArticle.model_validate(orjson.loads(line)))
            if len(articles) >= limit:
                break
    return articles


_SYNTHETIC_TEXT = (
    "أعلنت وزارة الصحة اليوم عن افتتاح مستشفى جديد في المدينة بحضور عدد من المسؤولين "
    "وقال المتحدث إن المشروع يهدف إلى تحسين الخدمات الطبية للسكان في المناطق الريفية "
    "وأضاف أن الحكومة ستواصل دعم القطاع الصحي خلال العام المقبل رغم الظروف الاقتصادية"
)
_SYNTHETIC_WORDS = _SYNTHETIC_TEXT.split(" ")


def synthetic_corpus(count: int) -> list[RawArticle]:
    """Arabic-looking articles of corpus-like length (a headline and 4-8 paragraphs)."""
    rng = random.Random(2024)
    articles = []
    for i in range(count):
        title = " ".join(rng.choices(_SYNTHETIC_WORDS, k=9))
        paragraphs = [
            " ".join(rng.choices(_SYNTHETIC_WORDS, k=rng.randint(25, 60))) + "."
            for _ in range(rng.randint(4, 8))
        ]
        articles.append(
            RawArticle(
                id=f"synthetic-{i}",
                url=f"https://synthetic.example/{i}",
                source="synthetic.example",
                fetched_at=datetime(2024, 11, 13, 9, 30, tzinfo=UTC),
                body=title + "\n\n" + "\n\n".join(paragraphs),
            )
        )
    return articles


def _split(article: RawArticle) -> tuple[str, list[str]]:
    title, _, rest = article.body.partition("\n\n")
    paragraphs = [p.strip() for p in rest.split("\n") if p.strip()]
    return title.strip(), paragraphs or [title.strip()]


_CSS = "".join(
    f".c{i}{{margin:{i % 7}px {i % 5}px;padding:{i % 3}px;color:#{i * 7919 % 0xFFFFFF:06x}}}"
    for i in range(180)
)
_SCRIPT = "".join(
    f"window.__m{i}=function(a,b){{return a*{i}+b||document.getElementById('w{i}');}};"
    for i in range(260)
)
_NAV = "".join(f'<li class="menu-item"><a href="/section/{i}">قسم {i}</a></li>' for i in range(40))


def _teasers(titles: Sequence[str], start: int, count: int, css: str) -> str:
    items = []
    for k in range(count):
        title = titles[(start + k) % len(titles)]
        items.append(
            f'<li class="{css}-item"><a href="/news/{start + k}"><img src="/img/{start + k}.jpg" '
            f'alt="" loading="lazy"></a><h4><a href="/news/{start + k}">{title}</a></h4>'
            f'<span class="{css}-date">منذ {k % 23 + 1} ساعات</span></li>'
        )
    return "".join(items)


def _comments(paragraphs: Sequence[str], start: int, count: int) -> str:
    items = []
    for k in range(count):
        text = paragraphs[(start + k) % len(paragraphs)][:220]
        items.append(
            f'<li class="comment" id="comment-{start + k}"><div class="comment-author">قارئ '
            f'{k}</div><div class="comment-metadata"><time datetime="2024-11-12T1{k % 10}:00">'
            f'قبل يوم</time></div><div class="comment-content"><p>{text}</p></div></li>'
        )
    return "".join(items)


def html_page(
    article: RawArticle, titles: Sequence[str], pool: Sequence[str], index: int, target: int
) -> str:
    """The article in a news-site template, padded to about ``target`` characters."""
    title, paragraphs = _split(article)
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    ld = orjson.dumps(
        {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": title,
            "datePublished": article.fetched_at.isoformat(),
            "author": {"@type": "Person", "name": "محرر الموقع"},
        }
    ).decode()
    head = (
        '<!DOCTYPE html><html lang="ar" dir="rtl"><head><meta charset="utf-8">'
        f"<title>{title} | صحيفة المثال</title>"
        f'<meta property="og:title" content="{title}">'
        '<meta property="og:site_name" content="صحيفة المثال">'
        f'<link rel="canonical" href="https://news.example/a/{index}">'
        f'<script type="application/ld+json">{ld}</script>'
        f"<style>{_CSS}</style><script>{_SCRIPT}</script></head>"
    )
    top = (
        '<body class="single"><div class="cookie-banner">نستخدم ملفات تعريف الارتباط لتحسين '
        "تجربتك. <button>موافق</button></div>"
        f'<header class="site-header"><nav class="main-nav"><ul>{_NAV}</ul></nav></header>'
        '<div class="breadcrumbs"><a href="/">الرئيسية</a> » <a href="/local">محليات</a></div>'
        '<div class="layout has-sidebar"><aside class="sidebar-right"><h3>الأكثر قراءة</h3><ul>'
        f"{_teasers(titles, index + 1, 12, 'most-read')}</ul></aside>"
        f'<main><article><h1 class="entry-title">{title}</h1>'
        '<div class="share-bar"><a href="#">فيسبوك</a> <a href="#">تويتر</a> '
        '<a href="#">واتساب</a></div>'
        f'<div class="entry-content" itemprop="articleBody">{body}</div>'
    )
    related = '<section class="related-posts"><h3>مقالات ذات صلة</h3><ul>{}</ul></section>'
    comments = '<section id="comments" class="comments-area"><h3>التعليقات</h3><ol>{}</ol>'
    tail = (
        '<form class="comment-form"><textarea></textarea><button>إرسال</button></form>'
        "</section></article></main>"
        '<aside class="sidebar-left"><div class="widget newsletter"><p>اشترك في النشرة '
        "البريدية لتصلك أهم الأخبار كل صباح.</p></div></aside></div>"
        '<footer class="site-footer"><p>© 2024 صحيفة المثال. جميع الحقوق محفوظة.</p></footer>'
        "<script>window.__analytics&&window.__analytics.track('view');</script></body></html>"
    )
    teaser_count, comment_count = 10, 4
    while True:
        page = (
            head
            + top
            + related.format(_teasers(titles, index + 20, teaser_count, "related"))
            + comments.format(_comments(pool, index * 7, comment_count))
            + tail
        )
        if len(page.encode("utf-8")) >= target:
            return page
        teaser_count += 6
        comment_count += 2


# --------------------------------------------------------------------------- timing


@dataclass
class Workload:
    name: str
    unit: str
    items: list[object]
    run: Callable[[object], object]
    rates: list[float] = field(default_factory=list)
    times_ns: list[int] = field(default_factory=list)
    failures: int = 0

    def round(self) -> None:
        clock = time.perf_counter_ns
        run = self.run
        times = self.times_ns
        started = clock()
        for item in self.items:
            t0 = clock()
            try:
                run(item)
            except (ParseError, DecodeError):
                self.failures += 1
            times.append(clock() - t0)
        self.rates.append(len(self.items) / ((clock() - started) / 1e9))

    def row(self) -> str:
        times = sorted(self.times_ns)
        p50 = times[len(times) // 2] / 1000
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))] / 1000
        return (
            f"{self.name:<34} {len(self.items):>6} {statistics.median(self.rates):>9.0f} "
            f"{min(self.rates):>9.0f} {max(self.rates):>9.0f} {p50:>9.0f} {p99:>9.0f}  {self.unit}"
        )


def _decode_json(value: object) -> object:
    assert isinstance(value, bytes)
    return decode_record(value, {}, **LIMITS)


_CP1256_HEADERS = {"content-type": b"text/plain", "source": b"bench.example"}


def _decode_cp1256(value: object) -> object:
    assert isinstance(value, bytes)
    return decode_record(value, _CP1256_HEADERS, **LIMITS)


def _normalizer_alone(value: object) -> object:
    assert isinstance(value, bytes)
    return from_bytes(value).best()


def _parse(raw: object) -> object:
    assert isinstance(raw, RawArticle)
    return parse_article(raw)


# --------------------------------------------------------------------------- accuracy


def encoding_accuracy(articles: Sequence[RawArticle], lengths: Sequence[int]) -> list[str]:
    """How often Arabic snippets of a given length come back intact from bare bytes in
    Windows-1256 and ISO-8859-6 with no charset: this stage's detection against
    charset-normalizer restricted to the same candidate encodings."""
    rng = random.Random(13)
    candidates = ["cp1256", "iso8859_6", "cp1252", "latin_1"]
    lines = [
        f"{'chars':>5} {'encoding':<11} {'snippets':>8} {'decode ok':>10} {'normalizer ok':>14}"
    ]
    bodies = [a.body for a in articles if len(a.body) > 200]
    for length in lengths:
        for codec in ("cp1256", "iso8859-6"):
            total = ours = theirs = 0
            for body in bodies:
                start = rng.randrange(0, len(body) - length)
                snippet = body[start : start + length]
                try:
                    data = snippet.encode(codec)
                except UnicodeEncodeError:
                    continue  # a character the code page lacks
                if data.isascii():
                    continue
                total += 1
                with contextlib.suppress(DecodeError):
                    ours += decode_text(data)[0] == snippet
                best = from_bytes(data, cp_isolation=candidates).best()
                theirs += best is not None and str(best) == snippet
            lines.append(
                f"{length:>5} {codec:<11} {total:>8} {ours / total:>10.1%} {theirs / total:>14.1%}"
            )
    return lines


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=3000, help="text articles (default 3000)")
    parser.add_argument("--pages", type=int, default=300, help="HTML pages (default 300)")
    parser.add_argument("--page-kb", type=int, default=100, help="HTML page size (default 100)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument(
        "--accuracy",
        action="store_true",
        help="also measure encoding detection on short Arabic snippets (not timed)",
    )
    args = parser.parse_args(argv)

    print("\n".join(machine()))
    articles = load_corpus(max(args.limit, args.pages))
    if articles is None:
        print(f"corpus   {CORPUS} not found: using synthetic Arabic articles instead")
        articles = synthetic_corpus(max(args.limit, args.pages))
    else:
        print(f"corpus   {CORPUS.name}, first {len(articles)} articles")

    text_items = articles[: args.limit]
    titles = [_split(a)[0] for a in articles]
    pool = [p for a in articles[:500] for p in _split(a)[1]]
    pages = [
        a.model_copy(
            update={
                "content_type": "text/html",
                "body": html_page(a, titles, pool, i, args.page_kb * 1024),
            }
        )
        for i, a in enumerate(articles[: args.pages])
    ]
    size = statistics.mean(len(p.body.encode("utf-8")) for p in pages) / 1024
    text_kb = statistics.mean(len(a.body.encode("utf-8")) for a in text_items) / 1024
    json_records = [orjson.dumps(a.model_dump(mode="json")) for a in text_items]
    cp1256 = [a.body.encode("cp1256", "replace") for a in text_items[: max(1, args.limit // 3)]]
    print(f"inputs   text {text_kb:.1f} KB/article, HTML {size:.0f} KB/page (mean)\n")

    workloads = [
        Workload("parse text articles", "articles", list(text_items), _parse),
        Workload(f"parse HTML (~{size:.0f} KB pages)", "pages", list(pages), _parse),
        Workload("decode UTF-8 JSON records", "records", list(json_records), _decode_json),
        Workload("decode windows-1256 (detected)", "records", list(cp1256), _decode_cp1256),
        Workload(
            "charset-normalizer alone, same", "records", list(cp1256[:200]), _normalizer_alone
        ),
    ]
    for workload in workloads:  # warm-up: model load, regex compilation, caches
        for item in workload.items[:50]:
            with contextlib.suppress(ParseError, DecodeError):
                workload.run(item)
    for _ in range(args.rounds):
        for workload in workloads:
            workload.round()

    print(
        f"{'workload':<34} {'items':>6} {'median/s':>9} {'min/s':>9} {'max/s':>9} "
        f"{'p50 µs':>9} {'p99 µs':>9}"
    )
    for workload in workloads:
        print(workload.row())
        if workload.failures:
            print(f"{'':<34} {workload.failures // args.rounds} items rejected per round")
    print(
        f"\none process, one thread; {args.rounds} interleaved rounds after a warm-up; "
        "items/s per round (median, min, max), per-item times pooled over rounds"
    )
    if args.accuracy:
        print("\nencoding detection on corpus snippets (bare bytes, no charset):")
        print("\n".join(encoding_accuracy(text_items, (8, 15, 30, 60, 200))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
