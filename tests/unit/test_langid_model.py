"""The widening identifier must rank exactly as py3langid's own does."""

from __future__ import annotations

import pytest
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from service.stages import langid_model
from service.stages.langid_model import WideningIdentifier, load_identifier

TEXTS = [
    "أعلنت وزارة الداخلية السعودية اليوم عن القبض على خلية إرهابية في الرياض.",
    "The ministry said on Tuesday that three people were killed in the blast.",
    "Le gouvernement a annoncé mardi de nouvelles mesures contre l'inflation.",
    "وزارت امور خارجه ایران روز سه‌شنبه اعلام کرد که مذاکرات ادامه دارد.",
    "حکومت نے منگل کو اعلان کیا کہ مذاکرات جاری رہیں گے۔",
    "Die Regierung kündigte am Dienstag neue Maßnahmen an.",
    "Правительство во вторник объявило о новых мерах.",
    "12345 !!! ---",
    "",
]


def _stock() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


@pytest.mark.parametrize("restricted", [False, True])
def test_ranks_equal_the_stock_identifier(restricted: bool) -> None:
    stock, widening = _stock(), load_identifier()
    if restricted:
        keep = [c for c in stock.labels if len(c) == 2]
        stock.set_languages(keep)
        widening.set_languages(keep)
    for text in TEXTS * 2:  # the second pass scores from rows already converted
        assert widening.rank(text) == stock.rank(text), text


def test_growing_the_row_table_keeps_earlier_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(langid_model, "_FIRST_ROWS", 16)
    stock, widening = _stock(), load_identifier()
    for text in TEXTS + TEXTS[:3]:
        assert widening.rank(text) == stock.rank(text), text
    assert widening._used > 4 * 16  # the table grew several times


def test_is_used_by_the_parser() -> None:
    from service.stages.parse import _identifier

    assert isinstance(_identifier(), WideningIdentifier)
