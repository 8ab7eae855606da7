"""newsstream's record contract: pydantic v2 models, importable by producers and consumers."""

from schemas.models import (
    SCHEMA_VERSION,
    Actor,
    DeadLetter,
    DeadLetterReason,
    DuplicateNotice,
    EnrichedArticle,
    EventLabel,
    Evidence,
    Figure,
    Header,
    Location,
    RawArticle,
    TopicLabel,
)

__all__ = [
    "SCHEMA_VERSION",
    "Actor",
    "DeadLetter",
    "DeadLetterReason",
    "DuplicateNotice",
    "EnrichedArticle",
    "EventLabel",
    "Evidence",
    "Figure",
    "Header",
    "Location",
    "RawArticle",
    "TopicLabel",
]
