from __future__ import annotations

import binascii
import hashlib
import os
import random
import subprocess
import sys

import numpy as np
import orjson
import pytest

from service.stages.dedup_index import DedupConfig
from service.stages.fingerprint import (
    Fingerprint,
    canonical_url,
    content_hash,
    fingerprint,
    shingle_hashes,
    url_key,
)
from service.stages.normalize import normalize_for_matching

CONFIG = DedupConfig()
LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"


def words(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 7))) for _ in range(count)]


def true_jaccard(a: str, b: str, size: int = 3) -> float:
    def shingles(text: str) -> set[str]:
        w = text.split()
        return {" ".join(w[i : i + size]) for i in range(len(w) - size + 1)}

    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb)


def estimate(a: Fingerprint, b: Fingerprint) -> float:
    return float(np.mean(a.signature_array() == b.signature_array()))


# --------------------------------------------------------------------------- URLs

BASE = "https://example.com/news/2024/11/13/coalition-reinforcements"


@pytest.mark.parametrize(
    "variant",
    [
        BASE,
        "http://example.com/news/2024/11/13/coalition-reinforcements",
        "https://www.example.com/news/2024/11/13/coalition-reinforcements",
        "https://WWW.Example.COM/news/2024/11/13/coalition-reinforcements",
        BASE + "/",
        BASE + "?utm_source=twitter&utm_medium=social&utm_campaign=x",
        BASE + "?fbclid=IwAR0abc",
        BASE + "?gclid=Cj0KCQ",
        BASE + "#comments",
        BASE + "/amp",
        BASE + "/amp/",
        "https://example.com/amp/news/2024/11/13/coalition-reinforcements",
        BASE + "?amp=1",
        BASE + "?amp",
        BASE + "?outputType=amp",
        "https://amp.example.com/news/2024/11/13/coalition-reinforcements",
        "https://m.example.com/news/2024/11/13/coalition-reinforcements/",
        "https://mobile.example.com/news/2024/11/13/coalition-reinforcements",
        "https://example.com:443/news/2024/11/13/coalition-reinforcements",
        "http://example.com:80/news/2024/11/13/coalition-reinforcements",
        "example.com/news/2024/11/13/coalition-reinforcements",
        "  https://example.com/news/2024/11/13/coalition-reinforcements  ",
    ],
)
def test_url_variants_share_one_canonical_form(variant: str) -> None:
    assert canonical_url(variant) == BASE
    assert url_key(variant) == url_key(BASE)


def test_amp_html_suffix_is_dropped() -> None:
    assert canonical_url("https://example.com/a/story.amp.html") == canonical_url(
        "https://example.com/a/story.html"
    )


def test_arabic_path_raw_and_percent_encoded_agree() -> None:
    raw = "http://aawsat.com/home/article/410826/بريطانيا-أربعة-محاور"
    encoded = (
        "https://aawsat.com/home/article/410826/"
        "%D8%A8%D8%B1%D9%8A%D8%B7%D8%A7%D9%86%D9%8A%D8%A7-"
        "%D8%A3%D8%B1%D8%A8%D8%B9%D8%A9-%D9%85%D8%AD%D8%A7%D9%88%D8%B1"
    )
    assert canonical_url(raw) == canonical_url(encoded)


def test_meaningful_query_parameters_are_kept_and_sorted() -> None:
    a = canonical_url("https://example.com/article.php?id=17&lang=ar&utm_source=x")
    b = canonical_url("https://example.com/article.php?lang=ar&id=17")
    assert a == b == "https://example.com/article.php?id=17&lang=ar"
    assert canonical_url("https://example.com/article.php?id=18") != canonical_url(
        "https://example.com/article.php?id=17"
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://example.com/news/1", "https://example.com/news/2"),
        ("https://example.com/news/1", "https://example.org/news/1"),
        ("https://example.com/News/1", "https://example.com/news/1"),  # paths are case-sensitive
        ("https://example.com:8080/news/1", "https://example.com/news/1"),
        ("https://news.example.com/a", "https://sport.example.com/a"),
    ],
)
def test_different_pages_stay_different(a: str, b: str) -> None:
    assert canonical_url(a) != canonical_url(b)


def test_a_bare_registered_domain_keeps_its_label() -> None:
    assert canonical_url("https://m.com/x") == "https://m.com/x"
    assert canonical_url("https://www.m.com/x") == "https://m.com/x"


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "mailto:desk@example.com",
        "ftp://example.com/a",
        "http://",
        "tel:123",
        "http://localhost/a",
    ],
)
def test_unusable_urls_have_no_key(url: str) -> None:
    assert canonical_url(url) is None
    assert url_key(url) is None


def test_no_url_no_key() -> None:
    assert url_key(None) is None
    assert fingerprint("نص قصير", None, CONFIG).url_key is None


# --------------------------------------------------------------------------- hashing


def test_content_hash_is_a_128_bit_digest_of_the_matching_form() -> None:
    text = normalize_for_matching("أرسلت قوات التحالف الدوليّ ٥٠ سيارة إلى الشدادي.")
    same = normalize_for_matching("ارسلت قوات التحالف الدولي 50 سياره الي الشدادي")
    assert content_hash(text) == content_hash(same)
    assert len(content_hash(text)) == 32
    assert content_hash(text) != content_hash(text + " اليوم")
    assert fingerprint(text, None, CONFIG).content_hash == content_hash(text)


def test_letter_variants_give_the_same_fingerprint() -> None:
    body = " ".join(words(1, 60))
    a = "أرسلت قوات التحالف الدوليّ ٥٠ سيارة إلى الشدادي " + body
    b = "ارسلت  قوات التحالف الدولي 50 سياره الى الشدادي " + body
    fa = fingerprint(normalize_for_matching(a), None, CONFIG)
    fb = fingerprint(normalize_for_matching(b), None, CONFIG)
    assert fa == fb
    assert fa.signature


def test_shingle_count_matches_distinct_word_trigrams() -> None:
    text = " ".join(words(2, 50) + words(2, 10))  # the repeated words repeat shingles
    w = text.split()
    expected = len({tuple(w[i : i + 3]) for i in range(len(w) - 2)})
    assert shingle_hashes(text, 3).size == expected
    assert fingerprint(text, None, CONFIG).shingle_count == expected


def test_shingles_depend_on_word_order_and_spelling() -> None:
    assert not np.array_equal(shingle_hashes("ا ب ج", 3), shingle_hashes("ج ب ا", 3))
    assert not np.array_equal(shingle_hashes("ab cd ef", 3), shingle_hashes("abc d ef", 3))
    assert shingle_hashes("", 3).size == 0
    assert shingle_hashes("one two", 3).size == 1  # shorter than a shingle: one shingle


def test_extra_spaces_do_not_change_shingles() -> None:
    assert np.array_equal(shingle_hashes(" a  b c d ", 3), shingle_hashes("a b c d", 3))


def test_short_text_gets_no_signature() -> None:
    short = " ".join(words(3, CONFIG.min_shingles + 1))  # min_shingles - 1 shingles
    fp = fingerprint(short, None, CONFIG)
    assert fp.shingle_count == CONFIG.min_shingles - 1
    assert fp.signature == b""
    long = " ".join(words(3, CONFIG.min_shingles + 2))
    assert len(fingerprint(long, None, CONFIG).signature) == 2 * CONFIG.num_perm


def test_estimate_tracks_true_jaccard() -> None:
    base = words(4, 400)
    for keep in (1.0, 0.9, 0.75, 0.5, 0.25):
        cut = int(len(base) * keep)
        other = base[:cut] + words(5, len(base) - cut)
        a, b = " ".join(base), " ".join(other)
        fa, fb = fingerprint(a, None, CONFIG), fingerprint(b, None, CONFIG)
        assert abs(estimate(fa, fb) - true_jaccard(a, b)) < 0.15, keep
    unrelated = fingerprint(" ".join(words(6, 400)), None, CONFIG)
    assert estimate(fingerprint(" ".join(base), None, CONFIG), unrelated) < 0.05


def test_config_parameters_shape_the_signature() -> None:
    text = " ".join(words(7, 100))
    small = DedupConfig(num_perm=64, bands=16, rows=4)
    fp = fingerprint(text, None, small)
    assert len(fp.signature) == 128
    assert fp.scheme == small.scheme != CONFIG.scheme
    other_seed = fingerprint(text, None, DedupConfig(seed=1))
    assert other_seed.signature != fingerprint(text, None, CONFIG).signature


GOLDEN_TEXT = (
    "قال مسوول تركي كبير ان جنديا تركيا قتل واصيب اخر في اشتباكات مع تنظيم داعش عبر الحدود"
)


def test_signatures_are_stable_across_processes() -> None:
    # Signatures are stored in the changelog and compared by other workers: they must not
    # depend on the process (hash randomisation) or on the numpy random generator.
    code = (
        "from service.stages.dedup_index import DedupConfig;"
        "from service.stages.fingerprint import fingerprint;"
        f"print(fingerprint({GOLDEN_TEXT!r}, None, DedupConfig()).signature.hex())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert bytes.fromhex(out.stdout.strip()) == fingerprint(GOLDEN_TEXT, None, CONFIG).signature


def test_signature_scheme_is_pinned() -> None:
    # Changing the hashing makes every stored signature incomparable: do it on purpose
    # (with a new seed or scheme, and a new table), never by accident.
    signature = fingerprint(GOLDEN_TEXT, None, CONFIG).signature
    digest = hashlib.blake2b(signature, digest_size=8).hexdigest()
    assert digest == "cf3a3bf14f0163f2"


# --------------------------------------------------------------------------- JSON


def test_fingerprint_travels_through_json() -> None:
    fp = fingerprint(" ".join(words(8, 80)), "https://www.example.com/a?utm_source=x", CONFIG)
    decoded = Fingerprint.from_json_dict(orjson.loads(orjson.dumps(fp.to_json_dict())))
    assert decoded == fp
    tagged = Fingerprint(fp.content_hash, None, b"", 3, fp.scheme, frozenset({"loc:aleppo"}))
    data = orjson.loads(orjson.dumps(tagged.to_json_dict()))
    assert data["entities"] == ["loc:aleppo"]
    assert Fingerprint.from_json_dict(data) == tagged


def test_malformed_json_fingerprint_is_rejected() -> None:
    good = fingerprint(" ".join(words(9, 30)), None, CONFIG).to_json_dict()
    with pytest.raises(ValueError, match="base64"):
        Fingerprint.from_json_dict({**good, "signature": 5})
    with pytest.raises(ValueError, match="integers"):
        Fingerprint.from_json_dict({**good, "shingle_count": "12"})
    with pytest.raises(binascii.Error):
        Fingerprint.from_json_dict({**good, "signature": "not base64!"})


def test_long_bodies_are_hashed_in_blocks_with_the_same_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from service.stages import fingerprint as module

    text = " ".join(words(10, 10_000))  # more shingles than one block
    blocked = fingerprint(text, None, CONFIG)
    monkeypatch.setattr(module, "_MINHASH_BLOCK", 10**9)
    assert fingerprint(text, None, CONFIG) == blocked
