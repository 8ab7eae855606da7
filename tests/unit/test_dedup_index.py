from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from service.stages import dedup_index
from service.stages.dedup_index import DedupConfig, DedupIndex, Entry, Verdict
from service.stages.fingerprint import Fingerprint, event_key, fingerprint
from service.stages.normalize import normalize_for_matching

CONFIG = DedupConfig()
T0 = datetime(2024, 11, 13, 8, 0, tzinfo=UTC)
LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"


def words(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 7))) for _ in range(count)]


def fp_of(text: str, url: str | None = None, config: DedupConfig = CONFIG) -> Fingerprint:
    return fingerprint(normalize_for_matching(text), url, config)


@pytest.fixture(params=["rebuild", "drain"])
def table_growth(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the hash table rebuilt at once (small indexes) and with it moved
    to its replacement a few slots per add() (large indexes), forced at small sizes."""
    if request.param == "drain":
        monkeypatch.setattr(dedup_index, "_SYNC_REBUILD_SLOTS", 0)
        monkeypatch.setattr(dedup_index, "_DRAIN_SLOTS", 3)
    return str(request.param)


class Stream:
    """Drives an index the way the sequenced stage does: check, then add if distinct."""

    def __init__(self, config: DedupConfig = CONFIG) -> None:
        self.index = DedupIndex(config)
        self.config = config
        self.offset = 0
        self.table: dict[str, bytes] = {}  # what the changelog table would hold

    def feed(
        self,
        article_id: str,
        text: str,
        url: str | None = None,
        at: datetime = T0,
        origin: str | None = None,
    ) -> Verdict:
        if origin is None:
            origin = f"raw/0/{self.offset}"
            self.offset += 1
        fp = fp_of(text, url, self.config)
        verdict = self.index.check(fp, article_id, origin, at)
        if verdict.original is None:
            entry = Entry(article_id, verdict.story_id, origin, at, fp)
            self.index.add(entry)
            self.table[article_id] = entry.to_bytes()
        return verdict


STORY = words(1, 300)
BODY = " ".join(STORY)


# --------------------------------------------------------------------------- detectors


def test_first_article_opens_its_own_story() -> None:
    verdict = Stream().feed("a1", BODY)
    assert verdict == Verdict(story_id="a1", original=None, method=None, similarity=0.0)
    assert not verdict.is_duplicate


def test_url_variant_is_a_url_duplicate_even_with_another_body() -> None:
    s = Stream()
    s.feed("a1", BODY, url="https://www.example.com/news/1?utm_source=x")
    verdict = s.feed("a2", " ".join(words(2, 300)), url="http://m.example.com/news/1/amp/")
    assert verdict.method == "url"
    assert verdict.original is not None
    assert verdict.original.article_id == "a1"
    assert verdict.story_id == "a1"
    assert verdict.similarity < 0.1  # a different body at the same address


def test_url_duplicate_of_same_body_has_similarity_one() -> None:
    s = Stream()
    s.feed("a1", BODY, url="https://example.com/news/1")
    verdict = s.feed("a2", BODY, url="https://example.com/news/1/")
    assert (verdict.method, verdict.similarity) == ("url", 1.0)


def test_exact_copy_with_other_letter_variants() -> None:
    s = Stream()
    head = "أرسلت قوات التحالف الدوليّ ٥٠ سيارة إلى الشدادي"
    s.feed("a1", f"{head} {BODY}", url="https://one.example/a")
    verdict = s.feed("a2", f"ارسلت قوات التحالف الدولي 50 سياره الى الشدادي {BODY}", url=None)
    assert (verdict.method, verdict.similarity, verdict.story_id) == ("exact", 1.0, "a1")
    assert verdict.original is not None
    assert verdict.original.article_id == "a1"


@pytest.mark.parametrize(
    "variant",
    [
        # A headline rewritten where the scraper left it in the body's first line.
        " ".join(words(3, 12) + STORY),
        # The first line (lead sentence) changed.
        " ".join(words(4, 25) + STORY[25:]),
        # The end trimmed.
        " ".join(STORY[:260]),
        # Both: a new opening and a shorter end.
        " ".join(words(5, 15) + STORY[15:280]),
    ],
    ids=["rewritten-headline", "changed-first-line", "trimmed-end", "both"],
)
def test_near_duplicates(variant: str) -> None:
    s = Stream()
    s.feed("a1", BODY)
    verdict = s.feed("a2", variant)
    assert verdict.method == "near"
    assert verdict.original is not None
    assert verdict.original.article_id == "a1"
    assert verdict.story_id == "a1"
    assert CONFIG.near_threshold <= verdict.similarity < 1.0


def test_unrelated_article_is_a_new_story() -> None:
    s = Stream()
    s.feed("a1", BODY)
    verdict = s.feed("a2", " ".join(words(6, 300)))
    assert verdict == Verdict(story_id="a2")


def test_duplicate_points_at_the_first_seen_article() -> None:
    s = Stream()
    s.feed("a1", BODY)
    s.feed("a2", " ".join(STORY[:270]))  # near duplicate of a1: not indexed
    verdict = s.feed("a3", " ".join(STORY[:270]))  # a copy of the copy
    assert verdict.original is not None
    assert verdict.original.article_id == "a1"
    assert verdict.method == "near"


def test_detector_order_is_url_then_exact_then_near() -> None:
    s = Stream()
    s.feed("a1", BODY, url="https://example.com/1")
    s.feed("a2", " ".join(words(7, 300)), url="https://example.com/2")
    # Same URL as a1 and same body as a2: the URL wins.
    verdict = s.feed("a3", " ".join(words(7, 300)), url="https://example.com/1")
    assert verdict.method == "url"
    assert verdict.original is not None
    assert verdict.original.article_id == "a1"


def test_short_texts_are_not_matched_by_body() -> None:
    s = Stream()
    assert s.feed("c1", "كاريكاتير").story_id == "c1"
    second = s.feed("c2", "كاريكاتير")
    assert second == Verdict(story_id="c2")
    short = " ".join(words(8, CONFIG.min_shingles + 1))  # one shingle short of the guard
    s.feed("s1", short)
    assert not s.feed("s2", short).is_duplicate
    # The URL detector still applies to short texts.
    s.feed("c3", "كاريكاتير", url="https://example.com/cartoon/9")
    assert s.feed("c4", "كاريكاتير", url="https://www.example.com/cartoon/9").method == "url"


def test_text_just_above_the_guard_is_matched() -> None:
    s = Stream()
    text = " ".join(words(9, CONFIG.min_shingles + 2))
    s.feed("s1", text)
    assert s.feed("s2", text).method == "exact"


def test_fingerprint_from_another_scheme_is_not_compared_by_signature() -> None:
    s = Stream()
    s.feed("a1", BODY)
    other = DedupConfig(seed=99)
    fp = fp_of(" ".join(STORY[:280]), None, other)
    verdict = s.index.check(fp, "a2", "raw/0/77", T0)
    assert verdict == Verdict(story_id="a2")
    exact = fp_of(BODY, None, other)  # the content hash does not depend on the scheme
    assert s.index.check(exact, "a3", "raw/0/78", T0).method == "exact"


# --------------------------------------------------------------------------- stories


def test_rewritten_story_joins_the_earlier_story_but_stays_distinct() -> None:
    s = Stream()
    s.feed("a1", BODY)
    rewrite = " ".join(STORY[:180] + words(10, 120))  # Jaccard 0.43
    verdict = s.feed("a2", rewrite)
    assert verdict.original is None
    assert verdict.method is None
    assert verdict.story_id == "a1"
    assert CONFIG.story_threshold <= verdict.similarity < CONFIG.near_threshold
    assert "a2" in s.index  # distinct articles are indexed ...
    # ... so the next article of the story can join through either of them.
    follow_up = " ".join(STORY[150:180] + words(10, 120) + words(11, 100))
    assert s.feed("a3", follow_up).story_id == "a1"


def test_story_clustering_rule_with_every_pair_a_candidate() -> None:
    # 64 bands of 2 rows make every pair above ~0.3 an LSH candidate, so this checks the
    # thresholds themselves rather than which pairs happen to share a band.
    config = DedupConfig(num_perm=128, bands=64, rows=2)
    s = Stream(config)
    s.feed("a1", BODY)
    for i, keep in enumerate((0.2, 0.5, 0.7)):
        cut = int(len(STORY) * keep)
        s.feed(f"b{i}", " ".join(STORY[:cut] + words(20 + i, len(STORY) - cut)))
    stories = {a: s.index.get(a) for a in ("b0", "b1", "b2")}
    assert stories["b0"] is not None
    assert stories["b0"].story_id == "b0"  # Jaccard 0.11: a story of its own
    assert stories["b1"] is not None
    assert stories["b1"].story_id == "a1"  # Jaccard 0.33
    assert stories["b2"] is not None
    assert stories["b2"].story_id == "a1"  # Jaccard 0.54


STRIKE = event_key("Air/drone strike", "geonames:174448")  # air strike in Albukamal


def with_events(text: str, *keys: str) -> Fingerprint:
    return replace(fp_of(text), entities=frozenset(keys))


def test_reports_of_the_same_event_share_a_story_however_worded() -> None:
    index = DedupIndex(CONFIG)
    first = with_events(BODY, STRIKE)
    index.add(Entry("a1", "a1", "raw/0/1", T0, first))
    other = with_events(" ".join(words(12, 300)), STRIKE)  # unrelated wording, J ~ 0
    verdict = index.check(other, "a2", "raw/0/2", T0 + timedelta(hours=20))
    assert verdict.story_id == "a1"
    assert not verdict.is_duplicate
    assert verdict.similarity < CONFIG.story_threshold


@pytest.mark.parametrize(
    ("keys", "later"),
    [
        ((STRIKE,), CONFIG.event_window + timedelta(minutes=1)),  # too long after
        ((event_key("Air/drone strike", "geonames:170794"),), timedelta(hours=1)),  # elsewhere
        ((event_key("Armed clash", "geonames:174448"),), timedelta(hours=1)),  # another event
        (("loc:geonames:174448",), timedelta(hours=1)),  # not an event key
        ((), timedelta(hours=1)),
    ],
)
def test_other_events_or_times_make_their_own_story(
    keys: tuple[str, ...], later: timedelta
) -> None:
    index = DedupIndex(CONFIG)
    index.add(Entry("a1", "a1", "raw/0/1", T0, with_events(BODY, STRIKE)))
    other = with_events(" ".join(words(12, 300)), *keys)
    assert index.check(other, "a2", "raw/0/2", T0 + later).story_id == "a2"


def test_event_keys_survive_the_changelog_and_a_rebuild() -> None:
    index = DedupIndex(CONFIG)
    entry = Entry("a1", "a1", "raw/0/1", T0, with_events(BODY, STRIKE, "loc:x"))
    index.add(entry)
    stored = index.get("a1")
    assert stored is not None
    assert stored.fp.entities == frozenset({STRIKE})  # only what the index keeps
    index.add(entry)  # idempotent
    assert len(index) == 1
    rebuilt = DedupIndex(CONFIG)
    rebuilt.add_many([Entry.from_bytes(entry.to_bytes())])
    other = with_events(" ".join(words(12, 300)), STRIKE)
    assert rebuilt.check(other, "a2", "raw/0/2", T0 + timedelta(hours=1)).story_id == "a1"


def test_similar_text_wins_over_a_shared_event() -> None:
    index = DedupIndex(CONFIG)
    index.add(Entry("e1", "e1", "raw/0/1", T0, with_events(" ".join(words(12, 300)), STRIKE)))
    index.add(Entry("a1", "a1", "raw/0/2", T0, fp_of(BODY)))
    rewrite = " ".join(STORY[:220] + words(99, 80))  # most of the first article's words
    verdict = index.check(with_events(rewrite, STRIKE), "a2", "raw/0/3", T0)
    assert verdict.story_id == "a1"
    assert verdict.similarity >= CONFIG.story_threshold


# --------------------------------------------------------------------------- replays


def test_replayed_original_is_not_a_duplicate_of_itself() -> None:
    s = Stream()
    first = s.feed("a1", BODY, origin="raw/0/10")
    replay = s.feed("a1", BODY, origin="raw/0/10")
    assert not replay.is_duplicate
    assert replay.replay
    assert replay.story_id == first.story_id == "a1"
    assert len(s.index) == 1


def test_replayed_duplicate_gives_the_same_verdict() -> None:
    s = Stream()
    s.feed("a1", BODY, origin="raw/0/10")
    first = s.feed("a2", " ".join(STORY[:270]), origin="raw/1/5")
    again = s.feed("a2", " ".join(STORY[:270]), origin="raw/1/5")
    assert first == again
    assert first.is_duplicate


def test_replayed_story_member_keeps_its_story() -> None:
    s = Stream()
    s.feed("a1", BODY, origin="raw/0/1")
    rewrite = " ".join(STORY[:180] + words(10, 120))
    first = s.feed("a2", rewrite, origin="raw/0/2")
    replay = s.feed("a2", rewrite, origin="raw/0/2")
    assert first.story_id == replay.story_id == "a1"
    assert replay.replay
    assert not replay.is_duplicate


def test_replay_of_a_short_text_is_recognised_by_its_id_and_origin() -> None:
    s = Stream()
    s.feed("c1", "كاريكاتير", origin="raw/0/1")
    replay = s.feed("c1", "كاريكاتير", origin="raw/0/1")
    assert replay.replay
    assert replay.story_id == "c1"


def test_resent_record_at_a_new_offset_is_a_duplicate() -> None:
    s = Stream()
    s.feed("a1", BODY, origin="raw/0/10")
    verdict = s.feed("a1", BODY, origin="raw/0/11")
    assert verdict.is_duplicate
    assert verdict.method == "exact"


# --------------------------------------------------------------------------- window


def test_articles_outside_the_window_are_ignored_before_expiry() -> None:
    s = Stream()
    s.feed("a1", BODY, url="https://example.com/1")
    late = T0 + CONFIG.window + timedelta(seconds=1)
    verdict = s.feed("a2", BODY, url="https://example.com/1", at=late)
    assert verdict == Verdict(story_id="a2")
    within = T0 + CONFIG.window
    assert s.feed("a3", BODY, at=within).is_duplicate


def test_expire_drops_old_entries_and_frees_memory_and_slots(table_growth: str) -> None:
    s = Stream(DedupConfig(initial_capacity=64))
    old = [f"old-{i:03d}" for i in range(40)]
    for i, article_id in enumerate(old):
        s.feed(article_id, " ".join(words(100 + i, 80)), at=T0 + timedelta(minutes=i))
    for i in range(20):
        s.feed(f"new-{i:03d}", " ".join(words(200 + i, 80)), at=T0 + timedelta(days=3))
    assert len(s.index) == 60
    capacity, memory = s.index.capacity, s.index.memory_bytes()

    assert s.index.expire(T0 + timedelta(days=6)) == []
    removed = s.index.expire(T0 + CONFIG.window + timedelta(minutes=20))
    assert removed == old[:20]  # fetched before now - window, sorted
    assert s.index.expire(T0 + CONFIG.window + timedelta(minutes=20)) == []
    removed += s.index.expire(T0 + CONFIG.window + timedelta(hours=2))
    assert removed == old
    assert len(s.index) == 20
    s.index.settle()  # a replacement hash table may still be filling: finish it
    assert s.index.memory_bytes() < memory
    assert all(a not in s.index for a in old)
    assert s.index.get("new-000") is not None

    # Freed slots are reused: as many new articles again do not grow the index.
    later = T0 + timedelta(days=8)
    for i in range(40):
        s.feed(f"later-{i:03d}", " ".join(words(300 + i, 80)), at=later)
    assert s.index.capacity == capacity
    assert len(s.index) == 60
    # An expired article's copy is new again; a live one's is still found.
    assert not s.feed("copy-old", " ".join(words(100, 80)), at=later).is_duplicate
    assert s.feed("copy-new", " ".join(words(300, 80)), at=later).method == "exact"


def test_expire_with_a_limit_works_through_the_backlog_hour_by_hour() -> None:
    s = Stream()
    for i in range(30):
        s.feed(f"a{i:02d}", " ".join(words(500 + i, 40)), at=T0 + timedelta(minutes=10 * i))
    later = T0 + CONFIG.window + timedelta(days=1)
    first = s.index.expire(later, limit=1)
    assert first == [f"a{i:02d}" for i in range(6)]  # the first hour: six articles
    rest = s.index.expire(later, limit=7)
    assert rest == [f"a{i:02d}" for i in range(6, 18)]  # hours until at least 7
    assert s.index.expire(later) == [f"a{i:02d}" for i in range(18, 30)]
    assert len(s.index) == 0


def test_expire_everything_then_start_again() -> None:
    s = Stream()
    s.feed("a1", BODY)
    assert s.index.expire(T0 + timedelta(days=30)) == ["a1"]
    assert len(s.index) == 0
    assert s.feed("a2", BODY, at=T0 + timedelta(days=30)) == Verdict(story_id="a2")


# --------------------------------------------------------------------------- entries


def test_entry_bytes_round_trip() -> None:
    fp = fp_of(BODY, "https://example.com/a")
    entries = [
        Entry("a1", "a1", "raw/3/99", T0, fp),
        Entry("مقال-٢", "story-7", "raw/0/1", T0 + timedelta(microseconds=7), fp),
        Entry("a3", "a3", "", T0, replace(fp, url_key=None, signature=b"", shingle_count=2)),
        Entry("a4", "s", "o", T0, replace(fp, entities=frozenset({"loc:1", "actor:2"}))),
    ]
    for entry in entries:
        data = entry.to_bytes()
        assert Entry.from_bytes(data) == entry
    assert len(entries[0].to_bytes()) < 2 * CONFIG.num_perm + 100


def test_entry_bytes_keep_naive_times_as_utc() -> None:
    entry = Entry("a1", "a1", "o", datetime(2024, 1, 1, 12, 0), fp_of(BODY))
    assert Entry.from_bytes(entry.to_bytes()).fetched_at == datetime(2024, 1, 1, 12, tzinfo=UTC)


def test_corrupt_entry_bytes_are_rejected() -> None:
    data = Entry("a1", "a1", "o", T0, fp_of(BODY)).to_bytes()
    with pytest.raises(ValueError, match="truncated"):
        Entry.from_bytes(data[:-10])
    with pytest.raises(ValueError, match="trailing"):
        Entry.from_bytes(data + b"x")
    with pytest.raises(ValueError, match="version"):
        Entry.from_bytes(b"\x09" + data[1:])


def test_malformed_keys_are_rejected() -> None:
    fp = replace(fp_of(BODY), content_hash="abc")
    with pytest.raises(ValueError, match="32 hex"):
        Entry("a1", "a1", "o", T0, fp).to_bytes()
    with pytest.raises(ValueError, match="32 hex"):
        DedupIndex(CONFIG).check(fp, "a1", "o", T0)


def test_duplicate_verdict_carries_the_stored_entry() -> None:
    s = Stream()
    s.feed("a1", BODY, url="https://example.com/1", origin="raw/2/3")
    verdict = s.feed("a2", BODY)
    assert verdict.original == Entry.from_bytes(s.table["a1"])


# --------------------------------------------------------------------------- add / restore


def test_add_is_idempotent_and_replaces_a_changed_entry(table_growth: str) -> None:
    index = DedupIndex(CONFIG)
    entry = Entry("a1", "a1", "raw/0/1", T0, fp_of(BODY))
    index.add(entry)
    memory = index.memory_bytes()
    index.add(entry)
    index.add(Entry.from_bytes(entry.to_bytes()))
    assert len(index) == 1
    assert index.memory_bytes() == memory
    other = " ".join(words(13, 300))
    index.add(Entry("a1", "a1", "raw/0/2", T0, fp_of(other)))  # the same id, new content
    assert len(index) == 1
    assert index.check(fp_of(BODY), "x", "raw/0/3", T0) == Verdict(story_id="x")
    assert index.check(fp_of(other), "y", "raw/0/4", T0).method == "exact"


def _probe_stream(seed: int) -> list[tuple[str, str, str | None, datetime]]:
    rng = random.Random(seed)
    stories = [words(1000 + k, 200) for k in range(12)]
    items: list[tuple[str, str, str | None, datetime]] = []
    for i in range(120):
        base = stories[rng.randrange(len(stories))]
        kind = rng.random()
        if kind < 0.3:
            text = " ".join(base)
        elif kind < 0.6:
            cut = rng.randint(150, 199)
            text = " ".join(words(5000 + i, 10) + base[10:cut])
        elif kind < 0.8:
            cut = rng.randint(60, 140)
            text = " ".join(base[:cut] + words(6000 + i, 200 - cut))
        else:
            text = " ".join(words(7000 + i, 200))
        url = f"https://example.com/{rng.randrange(200)}" if rng.random() < 0.3 else None
        items.append((f"p{i}", text, url, T0 + timedelta(minutes=i)))
    return items


def _verdicts(
    index: DedupIndex, probes: list[tuple[str, str, str | None, datetime]]
) -> list[Verdict]:
    return [index.check(fp_of(t, u), a, f"probe/0/{a}", at) for a, t, u, at in probes]


def test_restore_from_the_table_gives_identical_verdicts(table_growth: str) -> None:
    s = Stream(DedupConfig(initial_capacity=16))
    for article_id, text, url, at in _probe_stream(1):
        s.feed(article_id, text, url, at)
    assert set(s.table) == {e.article_id for e in s.index.entries()}
    probes = _probe_stream(2)
    expected = _verdicts(s.index, probes)
    assert sum(v.is_duplicate for v in expected) > 20
    joined = [v for v, p in zip(expected, probes, strict=True) if v.story_id != p[0]]
    assert any(not v.is_duplicate for v in joined)

    stored = [Entry.from_bytes(value) for value in s.table.values()]
    one_by_one = DedupIndex(DedupConfig(initial_capacity=4))
    for entry in reversed(stored):  # restore order does not matter
        one_by_one.add(entry)
    assert _verdicts(one_by_one, probes) == expected

    bulk = DedupIndex(CONFIG)
    bulk.add_many(stored + stored[:10])  # a changelog may repeat keys
    assert len(bulk) == len(s.index)
    assert _verdicts(bulk, probes) == expected


def test_growth_keeps_every_article_findable(table_growth: str) -> None:
    s = Stream(DedupConfig(initial_capacity=2))
    texts = [" ".join(words(400 + i, 40)) for i in range(300)]
    for i, text in enumerate(texts):
        assert not s.feed(f"g{i}", text).is_duplicate
    assert len(s.index) == 300
    assert s.index.capacity >= 300
    for i, text in enumerate(texts):
        verdict = s.feed(f"copy{i}", text)
        assert verdict.original is not None
        assert verdict.original.article_id == f"g{i}"


def test_memory_stays_under_a_kilobyte_per_article() -> None:
    rng = np.random.default_rng(0)
    index = DedupIndex(CONFIG)
    entries = []
    for i in range(5000):
        fp = Fingerprint(
            content_hash=rng.bytes(16).hex(),
            url_key=rng.bytes(16).hex(),
            signature=rng.integers(0, 2**16, CONFIG.num_perm, dtype=np.uint16).tobytes(),
            shingle_count=200,
            scheme=CONFIG.scheme,
        )
        entries.append(Entry(f"sn-2015-07-21-{i}", f"sn-2015-07-21-{i}", f"raw/3/{i}", T0, fp))
    index.add_many(entries)
    assert len(index) == 5000
    assert index.memory_bytes() / len(index) < 1024


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="bands"):
        DedupConfig(num_perm=100, bands=32, rows=4)
    with pytest.raises(ValueError, match="threshold"):
        DedupConfig(story_threshold=0.8, near_threshold=0.7)
    with pytest.raises(ValueError, match="window"):
        DedupConfig(window=timedelta(0))


def test_add_many_into_a_filled_index_replaces_by_article_id(table_growth: str) -> None:
    index = DedupIndex(CONFIG)
    old_text, new_text = BODY, " ".join(words(14, 300))
    index.add(Entry("a1", "a1", "raw/0/1", T0, fp_of(old_text)))
    index.add(Entry("a2", "a2", "raw/0/2", T0, fp_of(" ".join(words(15, 300)))))
    index.add_many(
        [
            Entry("a1", "a1", "raw/0/9", T0, fp_of(new_text)),
            Entry("a3", "a3", "raw/0/3", T0, fp_of(" ".join(words(16, 300)))),
        ]
    )
    assert len(index) == 3
    assert sorted(e.article_id for e in index.entries()) == ["a1", "a2", "a3"]
    entry = index.get("a1")
    assert entry is not None
    assert entry.origin == "raw/0/9"
    assert index.check(fp_of(old_text), "x", "raw/1/1", T0) == Verdict(story_id="x")
    assert index.check(fp_of(new_text), "y", "raw/1/2", T0).method == "exact"


def test_discard_forgets_one_article() -> None:
    s = Stream()
    s.feed("a1", BODY, url="https://example.com/1")
    assert s.index.discard("a1")
    assert not s.index.discard("a1")
    assert len(s.index) == 0
    assert s.feed("a2", BODY, url="https://example.com/1") == Verdict(story_id="a2")


def test_late_arrival_of_an_old_article_is_expired_on_its_own_time() -> None:
    s = Stream()
    s.feed("new", BODY, at=T0 + timedelta(days=2))
    s.feed("late", " ".join(words(17, 100)), at=T0)  # fetched earlier, indexed later
    assert s.index.expire(T0 + CONFIG.window + timedelta(hours=1)) == ["late"]
    assert s.index.expire(T0 + CONFIG.window + timedelta(days=2, hours=1)) == ["new"]


def test_random_operations_match_a_reference_model(table_growth: str) -> None:
    # Many small rebuilds, slot reuse and deletion markers: after every step the index
    # holds exactly the entries of a plain dict, and finds each one by its body.
    rng = random.Random(42)
    config = DedupConfig(initial_capacity=1, window=timedelta(days=1))
    index = DedupIndex(config)
    model: dict[str, Entry] = {}
    texts: dict[str, str] = {}
    now = T0
    drained = False
    for step in range(400):
        op = rng.random()
        now += timedelta(minutes=rng.randint(0, 30))
        if op < 0.6 or not model:
            article_id = f"m{rng.randrange(150)}"
            text = " ".join(words(rng.randrange(10**6), rng.randint(5, 60)))
            entry = Entry(article_id, article_id, f"raw/0/{step}", now, fp_of(text, None, config))
            index.add(entry)
            model[article_id] = entry
            texts[article_id] = text
        elif op < 0.75:
            victim = rng.choice(sorted(model))
            assert index.discard(victim)
            del model[victim]
        else:
            for article_id in index.expire(now):
                assert model.pop(article_id).fetched_at < now - config.window
        assert len(index) == len(model)
        drained |= index._draining is not None
    assert drained == (table_growth == "drain")
    # No entry leaks: the table holds exactly the keys of the live articles.
    index.settle()
    live = np.flatnonzero(index._flags & 1).astype(np.int64)
    assert index._table.live == index._keys_of(live)[0].size
    assert {e.article_id: e for e in index.entries()} == {
        k: index._stored_form(v) for k, v in model.items()
    }
    for article_id, entry in model.items():
        verdict = index.check(entry.fp, "probe", "probe/0/0", entry.fetched_at)
        if entry.fp.shingle_count >= config.min_shingles:
            assert verdict.original is not None
            assert verdict.original.article_id == article_id
        assert index.get(article_id) == index._stored_form(entry)


def test_table_handles_colliding_keys_overflow_and_deletion() -> None:
    from service.stages.dedup_index import _homes, _Table

    table = _Table(4)  # 64 entries
    pool = np.arange(1, 400, dtype=np.uint64)
    home, _ = _homes(pool, table.nbuckets)
    keys = pool[home == 0][:24]  # 24 keys for one 16-entry bucket: 8 overflow
    assert keys.size == 24
    slots = np.arange(24, dtype=np.int32)
    table.insert(keys, slots)
    table.insert(keys[:5], slots[:5] + 100)  # the same keys again (a multimap)
    assert table.live == 29
    assert np.count_nonzero(table.slots[0] >= 0) == 16
    qidx, found = table.lookup(keys)
    for k in range(24):
        got = set(found[qidx == k].tolist())
        assert k in got
        assert (k + 100 in got) == (k < 5)
    # One pair given twice removes one entry each time, never the same entry twice.
    table.remove(keys[[2, 2]], np.array([2, 102], dtype=np.int32))
    table.remove(keys[[0, 0]], np.array([0, 0], dtype=np.int32))
    table.remove(keys[[20]], np.array([20], dtype=np.int32))  # an overflowed entry
    assert table.live == 25
    assert table.deleted == 4
    qidx, found = table.lookup(keys)
    assert 0 not in found[qidx == 0].tolist()
    assert {2, 102}.isdisjoint(found[qidx == 2].tolist())
    assert {1, 101} <= set(found[qidx == 1].tolist())
    assert 20 not in found[qidx == 20].tolist()
    assert 23 in found[qidx == 23].tolist()  # found past the deletion marker
    # A deleted entry is reused, and a rebuild keeps everything findable.
    table.insert(keys[[0]], np.array([0], dtype=np.int32))
    assert table.deleted == 3
    rebuilt = _Table.build(24, [(keys[:10], slots[:10]), (keys[10:], slots[10:])])
    qidx, found = rebuilt.lookup(keys)
    assert all(k in found[qidx == k].tolist() for k in range(24))


def test_discarded_article_during_a_table_replacement_is_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dedup_index, "_SYNC_REBUILD_SLOTS", 0)
    monkeypatch.setattr(dedup_index, "_DRAIN_SLOTS", 1)
    s = Stream(DedupConfig(initial_capacity=64))
    i = 0
    while s.index._draining is None:
        s.feed(f"d{i}", " ".join(words(800 + i, 40)))
        i += 1
    # Moved before the replacement started, its entries linger in the old table.
    victim = "d0"
    s.feed(f"d{i}", " ".join(words(800 + i, 40)))  # moves d0 over
    assert s.index._draining is not None
    assert s.index.discard(victim)
    assert s.index.get(victim) is None
    assert victim not in s.index
    verdict = s.feed(victim, " ".join(words(800, 40)), origin="raw/9/9")
    assert verdict == Verdict(story_id=victim)
    assert s.index.get(victim) is not None


def test_band_keys_of_four_rows_are_the_packed_rows() -> None:
    index = DedupIndex(CONFIG)
    rng = np.random.default_rng(3)
    sig = rng.integers(0, 2**16, (5, CONFIG.num_perm), dtype=np.uint16)
    keys = index._band_keys(sig)
    rows = sig.reshape(5, CONFIG.bands, 4).astype(np.uint64)
    packed = rows[..., 0] | rows[..., 1] << 16 | rows[..., 2] << 32 | rows[..., 3] << 48
    assert np.array_equal(keys, packed ^ index._salt_bands[np.newaxis, :])
    slots = np.array([0, 3], dtype=np.int32)
    index._sig[:5] = sig
    bands = np.array([7, 31], dtype=np.int64)
    assert np.array_equal(index._band_keys_at(slots, bands), keys[[0, 3], [7, 31]])
