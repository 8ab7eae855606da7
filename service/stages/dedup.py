"""Exact-duplicate detection on the normalised body, against a key-value index.

The index is any mutable mapping: a plain dict in batch mode, a changelog-backed
faust table in the worker. The worker repartitions parsed articles by
``content_hash`` before this stage, so every copy of a body meets the same
partition's index whichever raw partition or worker it came through.

Each entry remembers *where* the first copy was read (its origin). A record
replayed after a crash comes from that same origin, so it is recognised as the
original again and re-emitted identically rather than reported as a duplicate
of itself; that is why the index may be updated before the output is delivered.
"""

from __future__ import annotations

import hashlib
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from schemas.models import DuplicateMethod


def content_hash(normalised_text: str) -> str:
    """128-bit digest: collisions between distinct bodies are not a practical concern."""
    return hashlib.blake2b(normalised_text.encode("utf-8"), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class SeenArticle:
    article_id: str
    story_id: str
    origin: str

    def as_dict(self) -> dict[str, str]:
        return {"article_id": self.article_id, "story_id": self.story_id, "origin": self.origin}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeenArticle:
        return cls(str(data["article_id"]), str(data["story_id"]), str(data["origin"]))


@dataclass(frozen=True, slots=True)
class Verdict:
    """``original`` is set when the article was seen before from another origin."""

    story_id: str
    original: SeenArticle | None = None
    method: DuplicateMethod | None = None
    similarity: float = 1.0

    @property
    def is_duplicate(self) -> bool:
        return self.original is not None


Index = MutableMapping[str, Any]


def check_and_remember(index: Index, key: str, article_id: str, origin: str) -> Verdict:
    """Look the body up; remember it when new. Idempotent for a replayed origin."""
    found = index.get(key)
    if found is not None:
        seen = SeenArticle.from_dict(found)
        if seen.origin != origin:
            return Verdict(story_id=seen.story_id, original=seen, method="exact", similarity=1.0)
        return Verdict(story_id=seen.story_id)
    story_id = article_id
    index[key] = SeenArticle(article_id, story_id, origin).as_dict()
    return Verdict(story_id=story_id)
