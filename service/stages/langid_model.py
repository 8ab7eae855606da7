"""py3langid's language model with its scoring made cheap enough for every article."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from numpy.typing import NDArray
from py3langid.langid import MODEL_FILE, LanguageIdentifier

_FIRST_ROWS = 8192


class WideningIdentifier(LanguageIdentifier):  # type: ignore[misc]
    """Scores with float32 copies of the model's float16 weight rows, made as features occur.

    The model stores one float16 row per feature; numpy has no fast float16
    product, so the stock scoring spends most of its time converting the ~500
    rows an article touches. Converting every row once would hold another 50 MB
    per process, most of it for features news text never produces, so rows are
    converted on first use into a compact table. Scores are the same numbers.
    """

    __slots__ = ("_rows", "_slot_of", "_used")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reset_rows()

    def set_languages(self, langs: list[str] | None = None) -> None:
        super().set_languages(langs)
        self._reset_rows()  # the columns changed

    def _reset_rows(self) -> None:
        features, classes = self.nb_ptc.shape
        self._slot_of: NDArray[np.intp] = np.full(features, -1, dtype=np.intp)
        self._rows: NDArray[np.float32] = np.empty((_FIRST_ROWS, classes), dtype=np.float32)
        self._used = 0

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
