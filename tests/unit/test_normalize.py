from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.stages import normalize
from service.stages.normalize import (
    _ARRAY_MIN_CHARS,
    _normalize_by_strings,
    normalize_for_matching,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("أحمد إلى آخر", "احمد الي اخر"),
        ("مدرسةٌ كُبرى", "مدرسه كبري"),
        ("الـــقـــوات", "القوات"),
        ("٢٠٢٤ و۱۴۰۳", "2024 و1403"),
        ("Hello, WORLD! snake_case", "hello world snake case"),
        ("  «اقتباس»  —  نص  ", "اقتباس نص"),
    ],
)
def test_matching_form(text: str, expected: str) -> None:
    assert normalize_for_matching(text) == expected


# Arabic letters, marks and digits, Latin with case, other scripts, punctuation,
# separators and lone surrogates, all in the Basic Multilingual Plane that the
# array path covers.
_ALPHABET = st.one_of(
    st.characters(min_codepoint=0x0600, max_codepoint=0x06FF),
    st.characters(min_codepoint=0x0020, max_codepoint=0x024F),
    st.characters(max_codepoint=0xFFFF),
    st.sampled_from(["_", " ", "\n", "\u0640", "\u064b", "ß", "İ", "ﬁ", "\ud800"]),
)


@given(st.text(_ALPHABET, min_size=_ARRAY_MIN_CHARS, max_size=2000))
@settings(max_examples=300, deadline=None)
def test_long_texts_take_the_array_path_to_the_same_result(text: str) -> None:
    expected = _normalize_by_strings(unicodedata.normalize("NFKC", text))
    assert normalize_for_matching(text) == expected


def test_the_array_path_is_taken_for_long_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(normalize, "_normalize_by_strings", calls.append)
    assert normalize_for_matching("أحمد إلى آخر " * 30) == " ".join(["احمد الي اخر"] * 30)
    assert calls == []


def test_a_long_text_beyond_the_plane_falls_back_to_the_same_result() -> None:
    text = "قال 😀 المسؤولُ، 𝐀𝐁 إنّ " * 20
    assert normalize_for_matching(text) == _normalize_by_strings(
        unicodedata.normalize("NFKC", text)
    )
