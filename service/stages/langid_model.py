"""py3langid's language model with its scoring made cheap enough for every article."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from numpy.typing import NDArray
from py3langid.langid import MODEL_FILE, RAW_FLOOR, LanguageIdentifier

_FIRST_ROWS = 8192


def _trie_depth(next_state: NDArray[np.uint32], row_of: NDArray[np.intp]) -> int:
    """The longest feature the automaton matches: its deepest state, found breadth first."""
    table = next_state.reshape(-1, 256)
    seen = np.zeros(len(row_of), dtype=bool)
    seen[0] = True
    frontier, depth = np.zeros(1, dtype=np.intp), 0
    while True:
        reached = table[np.unique(row_of[frontier])].ravel()
        fresh = np.unique(reached[~seen[reached]])
        if fresh.size == 0:
            return depth
        seen[fresh] = True
        frontier, depth = fresh.astype(np.intp), depth + 1


class WideningIdentifier(LanguageIdentifier):  # type: ignore[misc]
    """py3langid's identifier, extracting features in array passes and scoring in float32.

    Features: the model's automaton is an Aho-Corasick automaton over byte
    n-grams (checked for every transition of the packaged model: each one leads
    to the state of the longest suffix that is a trie path). The state after
    any text is therefore the state reached from the root by its last
    ``depth`` bytes, so every position's state is ``depth`` vectorised table
    lookups instead of one interpreted step per byte.

    Scores: the model stores one float16 row per feature; numpy has no fast
    float16 product, so the stock scoring spends most of its time converting the
    ~500 rows an article touches. Converting every row once would hold another
    50 MB per process, most of it for features news text never produces, so rows
    are converted on first use into a compact table.

    Features are counted and summed in the order they first occur, as the
    stock walk does, so scores are the same numbers.
    """

    __slots__ = ("_depth", "_next", "_output", "_row_start", "_rows", "_slot_of", "_used")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._next: NDArray[np.uint32] = np.frombuffer(self.tk_nextmove, dtype=np.uint32)
        rows = np.asarray(self.tk_row, dtype=np.intp)
        self._row_start: NDArray[np.intp] = rows << 8
        self._output: NDArray[np.int64] = np.asarray(self.tk_output, dtype=np.int64)
        self._depth = _trie_depth(self._next, rows)
        self._reset_rows()

    def set_languages(self, langs: list[str] | None = None) -> None:
        super().set_languages(langs)
        self._reset_rows()  # the columns changed

    def _reset_rows(self) -> None:
        features, classes = self.nb_ptc.shape
        self._slot_of: NDArray[np.intp] = np.full(features, -1, dtype=np.intp)
        self._rows: NDArray[np.float32] = np.empty((_FIRST_ROWS, classes), dtype=np.float32)
        self._used = 0

    def _states(self, data: bytes) -> NDArray[np.intp]:
        """The automaton's state after each byte of ``data``."""
        letters = np.frombuffer(data, dtype=np.uint8).astype(np.intp)
        states = np.zeros(len(letters), dtype=np.intp)
        for lag in range(min(self._depth, len(letters)) - 1, -1, -1):  # oldest bytes first
            tail = states[lag:]
            states[lag:] = self._next[self._row_start[tail] + letters[: len(letters) - lag]]
        return states

    def _raw_score(self, text: bytes) -> Any:
        found = self._output[self._states(text)]
        visits = Counter(found[found >= 0].tolist())  # first-occurrence order, as the stock walk
        if not visits:  # no features: as the stock scoring
            fill = 0.0 if self._norm_probs else RAW_FLOOR
            return np.full(len(self.nb_classes), fill, dtype=np.float32)
        return self._sparse_score(visits, self.nb_ptc)

    def _sparse_score(self, visits: Counter[int], table: Any) -> Any:
        if table is not self.nb_ptc:  # a caller scoring against another table
            return super()._sparse_score(visits, table)
        features = np.fromiter(visits.keys(), dtype=np.intp, count=len(visits))
        counts = np.fromiter(visits.values(), dtype=np.float32, count=len(visits))
        slots = self._slot_of[features]
        new = slots < 0
        if new.any():
            self._convert(features[new])
            slots = self._slot_of[features]
        return np.log1p(counts) @ self._rows[slots] + self.nb_pc

    def _convert(self, features: NDArray[np.intp]) -> None:
        end = self._used + len(features)
        if end > len(self._rows):
            grown = np.empty((max(end, 2 * len(self._rows)), self._rows.shape[1]), np.float32)
            grown[: self._used] = self._rows[: self._used]
            self._rows = grown
        self._rows[self._used : end] = self.nb_ptc[features]
        self._slot_of[features] = np.arange(self._used, end)
        self._used = end


def load_identifier() -> WideningIdentifier:
    """The packaged model, with probabilities normalised so they read as confidence."""
    return WideningIdentifier.from_model_file(MODEL_FILE, norm_probs=True)  # type: ignore[no-any-return]
