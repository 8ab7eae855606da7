"""Every topic the service reads or writes, declared once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.settings import Settings

DEDUP_TABLE = "dedup_index"
SEQUENCER_PARTITIONS = 1


@dataclass(frozen=True, slots=True)
class TopicNames:
    raw: str
    prepared: str
    enriched: str
    duplicates: str
    deadletter: str
    dedup_changelog: str

    @classmethod
    def from_settings(cls, settings: Settings) -> TopicNames:
        prefix = settings.app_id
        return cls(
            raw=settings.topic_raw,
            # Internal: prepared articles on their way to the dedup sequencer.
            prepared=f"{prefix}-articles.prepared",
            enriched=settings.topic_enriched,
            duplicates=settings.topic_duplicates,
            deadletter=settings.topic_deadletter,
            # faust's naming for a table's changelog: "<app id>-<table>-changelog".
            dedup_changelog=f"{prefix}-{DEDUP_TABLE}-changelog",
        )

    def external(self) -> list[str]:
        """Topics the operator owns; the worker creates only its internal ones itself."""
        return [self.raw, self.enriched, self.duplicates, self.deadletter]

    def outputs(self) -> list[str]:
        return [self.enriched, self.duplicates, self.deadletter]


def declare(app: Any, settings: Settings) -> dict[str, Any]:
    """faust topic objects by name. Bytes in, bytes out: decoding is the pipeline's job,
    so a record faust could not deserialise still reaches the dead-letter topic."""
    names = TopicNames.from_settings(settings)
    raw_bytes: dict[str, Any] = {
        "key_serializer": "raw",
        "value_serializer": "raw",
        "partitions": settings.partitions,
        "config": settings.topic_configs(),
    }
    topics = {name: app.topic(name, **raw_bytes) for name in names.external()}
    # One partition: the dedup sequencer. Every article meets the one index in one total
    # order, so a copy is found whichever raw partition or worker its original went through.
    topics[names.prepared] = app.topic(
        names.prepared, internal=True, **{**raw_bytes, "partitions": SEQUENCER_PARTITIONS}
    )
    return topics
