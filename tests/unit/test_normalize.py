from __future__ import annotations

import pytest

from service.stages.normalize import normalize_for_matching


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
