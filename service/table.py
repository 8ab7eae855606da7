"""The dedup table: a faust table whose changelog writes the agent awaits.

A plain faust table queues each write in the producer's buffer, which a background
task hands to the Kafka producer later. A commit flushes that buffer but gives up
after 0.1 s without progress, and the one write the task is handing over is not
in it at all: an input can be committed while the entry it added is still only in
memory, and a crash then leaves a restarted worker without it. Here a write goes
to the local store at once and waits in ``unsent`` until the agent, after the
output, awaits ``send_unsent``; only then is the input acked. The commit that
covers the input flushes the producer, so the entry reaches the broker first.
"""

from __future__ import annotations

from typing import Any

import faust


class DedupTable(faust.Table[str, Any]):
    """A ``faust.Table`` whose changelog writes are sent by ``send_unsent``, awaited."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (key, value or None for a deletion, changelog partition), oldest first.
        self.unsent: list[tuple[Any, Any, int | None]] = []

    def on_key_set(self, key: Any, value: Any) -> None:
        # faust's key-TTL bookkeeping is skipped: it serves windowed tables only.
        partition = self.partition_for_key(key)
        self.unsent.append((key, value, partition))
        self._sensor_on_set(self, key, value)

    def on_key_del(self, key: Any) -> None:
        self.unsent.append((key, None, self.partition_for_key(key)))
        self._sensor_on_del(self, key)

    async def send_unsent(self) -> int:
        """Hands every pending write to the producer, in order; returns how many."""
        sent = 0
        while self.unsent:
            key, value, partition = self.unsent[0]
            await self.changelog_topic.send(
                key=key,
                value=value,
                partition=partition,
                key_serializer=self.key_serializer,
                value_serializer=self.value_serializer if value is not None else "raw",
                callback=self._on_changelog_sent,
            )
            del self.unsent[0]  # only once handed over: a failed send is retried
            sent += 1
        return sent


def dedup_table(app: faust.App, name: str, *, partitions: int) -> DedupTable:
    """Registered like ``app.Table``; values are strings, missing keys read as None."""
    table = DedupTable(
        app,
        name=name,
        default=None,
        key_type=str,
        beacon=app.tables.beacon,
        partitions=partitions,
    )
    app.tables.add(table)
    return table
