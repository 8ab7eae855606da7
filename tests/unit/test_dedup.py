from __future__ import annotations

from typing import Any

from service.stages.dedup import check_and_remember, content_hash
from service.stages.normalize import normalize_for_matching


def test_letter_variants_and_diacritics_share_a_hash() -> None:
    a = "أرسلت قوات التحالف الدوليّ ٥٠ سيارة إلى الشدادي."
    b = "ارسلت  قوات التحالف الدولي 50 سياره الى الشدادي"
    assert content_hash(normalize_for_matching(a)) == content_hash(normalize_for_matching(b))


def test_different_bodies_have_different_hashes() -> None:
    assert content_hash("a b c") != content_hash("a b d")
    assert len(content_hash("x")) == 32


def test_first_copy_is_original_and_second_is_exact_duplicate() -> None:
    index: dict[str, Any] = {}
    first = check_and_remember(index, "h1", "art-1", "raw/0/10")
    assert not first.is_duplicate
    assert first.story_id == "art-1"
    second = check_and_remember(index, "h1", "art-2", "raw/3/99")
    assert second.is_duplicate
    assert second.original is not None
    assert second.original.article_id == "art-1"
    assert second.story_id == "art-1"
    assert second.method == "exact"
    assert second.similarity == 1.0


def test_replayed_original_is_not_a_duplicate_of_itself() -> None:
    index: dict[str, Any] = {}
    check_and_remember(index, "h1", "art-1", "raw/0/10")
    replay = check_and_remember(index, "h1", "art-1", "raw/0/10")
    assert not replay.is_duplicate
    assert replay.story_id == "art-1"


def test_resent_record_at_a_new_offset_is_a_duplicate() -> None:
    index: dict[str, Any] = {}
    check_and_remember(index, "h1", "art-1", "raw/0/10")
    assert check_and_remember(index, "h1", "art-1", "raw/0/11").is_duplicate


def test_index_values_are_plain_json() -> None:
    index: dict[str, Any] = {}
    check_and_remember(index, "h1", "art-1", "raw/0/10")
    assert index == {"h1": {"article_id": "art-1", "story_id": "art-1", "origin": "raw/0/10"}}
