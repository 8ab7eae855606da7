"""The phrase matcher's shared vocabulary: numbering that starts over changes no match."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(
        st.lists(
            st.sampled_from(["12", "3", "خمسة", "وعشرين", "car", "x", "bomb", "7a"]), max_size=12
        ).map(" ".join),
        min_size=1,
        max_size=6,
    ),
    memo_room=st.integers(min_value=1, max_value=12),
)
def test_form_flags_answer_what_the_test_answers_per_word(texts: list[str], memo_room: int) -> None:
    """Including across vocabulary restarts, for tokens from before and after one."""

    def test(form: str) -> bool:
        return form[-1].isdigit() or form == "bomb"

    flags = phrases.FormFlags(test)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(phrases, "_FORM_MEMO_SIZE", len(phrases._VOCABULARY.forms) + memo_room)
        seen = []
        for text in texts:
            seen.append(tokenize(text))
            for tokens in seen:
                expected = [i for i, form in enumerate(tokens.forms) if test(form)]
                assert flags.positions(tokens) == expected
