"""A matching form of text: the same story written with other letter variants compares equal.

Arabic writers and keyboards vary alef forms, final ya/alef maqsura, ta marbuta,
diacritics, tatweel and digit systems freely, so dedup and classification
compare this form while the published ``text`` keeps the original.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import cache

import numpy as np
from numpy.typing import NDArray

_FOLD: dict[str, str | None] = {
    # alef variants -> bare alef
    "\u0622": "\u0627",  # آ
    "\u0623": "\u0627",  # أ
    "\u0625": "\u0627",  # إ
    "\u0671": "\u0627",  # ٱ
    "\u0649": "\u064a",  # ى -> ي
    "\u06cc": "\u064a",  # Persian ye -> ي
    "\u0629": "\u0647",  # ة -> ه
    "\u0624": "\u0648",  # ؤ -> و
    "\u0626": "\u064a",  # ئ -> ي
    "\u06a9": "\u0643",  # Persian kaf -> ك
    "\u0640": None,  # tatweel
    **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
    **{chr(0x06F0 + d): str(d) for d in range(10)},  # Extended (Persian) digits
}
_TRANSLATE = str.maketrans(_FOLD)
# Arabic harakat, Quranic marks and superscript alef.
_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
_NON_WORD = re.compile(r"[\W_]+")

# Below this length the string methods win over the array set-up.
_ARRAY_MIN_CHARS = 256
_BMP = 0x10000
_DELETE = np.uint32(0xFFFFFFFF)
_SPACE = np.uint32(ord(" "))
_NATIVE_UTF32 = "utf-32-le" if sys.byteorder == "little" else "utf-32-be"


def normalize_for_matching(text: str) -> str:
    """Lower-case, letter-variant-folded words separated by single spaces."""
    text = unicodedata.normalize("NFKC", text)
    if len(text) < _ARRAY_MIN_CHARS:
        return _normalize_by_strings(text)
    return _normalize_by_arrays(text.casefold())


def _normalize_by_strings(text: str) -> str:
    text = _DIACRITICS.sub("", text)
    text = text.translate(_TRANSLATE).casefold()
    return _NON_WORD.sub(" ", text).strip()


@cache
def _tables() -> tuple[NDArray[np.uint32], NDArray[np.bool_]]:
    """Per Basic Multilingual Plane code point: what it becomes (or _DELETE), and whether
    the result is a word character (``\\w`` and not ``_``, as ``_NON_WORD`` reads it)."""
    folded = np.arange(_BMP, dtype=np.uint32)
    for char, into in _FOLD.items():
        folded[ord(char)] = _DELETE if into is None else ord(into)
    for code in range(_BMP):
        if _DIACRITICS.match(chr(code)):
            folded[code] = _DELETE
    word = np.fromiter(
        (not _NON_WORD.match(chr(code)) for code in range(_BMP)), dtype=np.bool_, count=_BMP
    )
    return folded, word


def _normalize_by_arrays(text: str) -> str:
    """The same result as ``_normalize_by_strings`` on casefolded text, in a few array
    passes: ``str.translate`` with a dict looks every character up one by one, which
    made it the slowest step of preparing an article."""
    codes = np.frombuffer(text.encode(_NATIVE_UTF32, "surrogatepass"), dtype=np.uint32)
    if codes.size and codes.max() >= _BMP:
        return _normalize_by_strings(text)  # outside the tables; rare in news text
    folded, word = _tables()
    codes = folded[codes]
    codes = codes[codes != _DELETE]
    is_word = word[codes]
    # A run of non-word characters becomes one space; leading and trailing runs go.
    starts_run = ~is_word
    starts_run[1:] &= is_word[:-1]
    keep = is_word | starts_run
    codes = np.where(is_word, codes, _SPACE)[keep]
    folded_text: str = codes.tobytes().decode(_NATIVE_UTF32, "surrogatepass")
    return folded_text.strip(" ")
