"""A matching form of text: the same story written with other letter variants compares equal.

Arabic writers and keyboards vary alef forms, final ya/alef maqsura, ta marbuta,
diacritics, tatweel and digit systems freely, so dedup and classification
compare this form while the published ``text`` keeps the original.
"""

from __future__ import annotations

import re
import unicodedata

_TRANSLATE = str.maketrans(
    {
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
)
# Arabic harakat, Quranic marks and superscript alef.
_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
_NON_WORD = re.compile(r"[\W_]+")


def normalize_for_matching(text: str) -> str:
    """Lower-case, letter-variant-folded words separated by single spaces."""
    text = unicodedata.normalize("NFKC", text)
    text = _DIACRITICS.sub("", text)
    text = text.translate(_TRANSLATE).casefold()
    return _NON_WORD.sub(" ", text).strip()
