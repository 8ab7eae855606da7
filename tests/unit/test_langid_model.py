"""The widening identifier must rank exactly as py3langid's own does."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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


def test_the_packaged_automaton_is_aho_corasick() -> None:
    """What the array walk relies on: every transition leads to the state of the longest
    suffix that is a trie path, so the last ``depth`` bytes fix the state.

    Each non-root state has one tree edge in; every other transition of a state must
    equal its failure state's (the root's go back to the root).
    """
    stock = _stock()
    table = np.frombuffer(stock.tk_nextmove, dtype=np.uint32).reshape(-1, 256)
    row_of = np.asarray(stock.tk_row, dtype=np.intp)
    states = len(row_of)
    depth = np.full(states, -1, dtype=np.intp)
    parent = np.zeros(states, dtype=np.intp)
    letter = np.zeros(states, dtype=np.intp)
    depth[0], level = 0, np.zeros(1, dtype=np.intp)
    levels = [level]
    while level.size:
        targets = table[row_of[level]].astype(np.intp)
        fresh = depth[targets] < 0
        source, byte = np.nonzero(fresh)
        reached = targets[source, byte]
        assert np.unique(reached).size == reached.size, "a state with two tree edges in"
        depth[reached] = depth[level[0]] + 1
        parent[reached], letter[reached] = level[source], byte
        level = reached
        levels.append(level)
    assert (depth >= 0).all()
    assert depth.max() == load_identifier()._depth

    fail = np.zeros(states, dtype=np.intp)
    for level in levels[2:]:  # depth-1 states fail to the root
        fail[level] = table[row_of[fail[parent[level]]], letter[level]]
    for level in levels[:-1]:
        for chunk in np.array_split(level, max(1, level.size // 4096)):
            own = table[row_of[chunk]].astype(np.intp)
            tree = depth[own] == depth[chunk, None] + 1
            inherited = table[row_of[fail[chunk]]].astype(np.intp)
            if chunk[0] == 0:
                inherited = np.zeros_like(own)
            assert (own[~tree] == inherited[~tree]).all()

    # The array walk reaches the deepest states, which ordinary text rarely does.
    def label(state: int) -> bytes:
        path = []
        while state:
            path.append(int(letter[state]))
            state = int(parent[state])
        return bytes(reversed(path))

    text = b" x ".join(label(int(state)) for state in levels[-2])
    walked, state = [], 0
    for byte in text:
        state = int(table[row_of[state], byte])
        walked.append(state)
    assert load_identifier()._states(text).tolist() == walked


def _raw_scores_equal(text: bytes) -> None:
    stock, widening = _STOCK_AND_WIDENING
    expected, got = stock._raw_score(text), widening._raw_score(text)
    assert np.array_equal(expected, got), text


_STOCK_AND_WIDENING = (_stock(), load_identifier())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_feature_walk_equals_the_stock_walk_on_any_bytes(data: bytes) -> None:
    _raw_scores_equal(data)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ابتثجحخدذرسشصضطظعغفقكلمنهوية ءآأؤإئ .،abcdefghe0123456789", max_size=200))
def test_feature_walk_equals_the_stock_walk_on_text(text: str) -> None:
    _raw_scores_equal(text.encode())


def test_feature_walk_equals_the_stock_walk_on_articles() -> None:
    for text in TEXTS:
        _raw_scores_equal(LanguageIdentifier._encode(text))
