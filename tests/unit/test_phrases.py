"""The phrase matcher's shared vocabulary: numbering that starts over changes no match."""

from __future__ import annotations

import pytest

from service.stages import phrases
from service.stages.phrases import PhraseIndex, tokenize

TEXT = "Police said the car bomb exploded near the market in Aleppo; a second car bomb failed."


def _index() -> PhraseIndex:
    index = PhraseIndex()
    for phrase in ("car bomb", "market", "police", "bomb"):
        index.add(phrase, "en")
    return index


def _found(index: PhraseIndex, tokens: phrases.Tokens) -> list[tuple[int, int, int]]:
    return [(hit.phrase, hit.first, hit.last) for hit in index.find(tokens)]


def test_matches_are_the_same_when_the_vocabulary_starts_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index = _index()
    before = tokenize(TEXT)
    expected = _found(index, before)
    assert [t[0] for t in expected] == [2, 0, 1, 0]  # police, car bomb, market, car bomb

    monkeypatch.setattr(phrases, "_FORM_MEMO_SIZE", len(phrases._VOCABULARY.forms) + 5)
    filler = tokenize("one two three four five six seven eight nine ten eleven twelve")
    assert filler.generation != before.generation  # the numbering started over
    assert _found(index, filler) == []  # its words took numbers that began phrases before
    assert _found(index, before) == expected  # tokens from before are numbered again
    assert _found(index, tokenize(TEXT)) == expected
    assert _found(_index(), tokenize(TEXT)) == expected


def test_phrases_added_after_a_find_are_found() -> None:
    index = _index()
    tokens = tokenize(TEXT)
    assert len(_found(index, tokens)) == 4
    index.add("aleppo", "en")
    assert [t[0] for t in _found(index, tokens)] == [2, 0, 1, 4, 0]
