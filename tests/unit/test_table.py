"""The dedup table keeps its changelog writes until the agent sends them, in order."""

from __future__ import annotations

from typing import Any

import pytest

from service.app import ServiceApp
from service.table import DedupTable, dedup_table


@pytest.fixture
def table() -> DedupTable:
    app = ServiceApp("table-test", broker="kafka://127.0.0.1:1", autodiscover=False)
    table = dedup_table(app, "index", partitions=1)
    table.partition_for_key = lambda key: 0  # type: ignore[method-assign]  # the event's
    return table


class _Changelog:
    def __init__(self, fail_on: int | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail_on = fail_on

    async def send(self, **kwargs: Any) -> None:
        if self.fail_on == len(self.sent):
            raise ConnectionError("broker gone")
        self.sent.append(kwargs)


def test_writes_reach_the_store_at_once_and_the_producer_only_when_sent(
    table: DedupTable,
) -> None:
    table["a"] = "entry-a"
    table["b"] = "entry-b"
    del table["a"]
    assert dict(table.data) == {"b": "entry-b"}
    assert table.unsent == [("a", "entry-a", 0), ("b", "entry-b", 0), ("a", None, 0)]
    assert table.app.producer.buffer.size == 0  # faust's own path would have queued three


async def test_sending_hands_over_every_write_in_order(table: DedupTable) -> None:
    changelog = _Changelog()
    table.changelog_topic = changelog  # type: ignore[assignment]
    table["a"] = "entry-a"
    del table["a"]
    assert await table.send_unsent() == 2
    assert [(m["key"], m["value"], m["partition"]) for m in changelog.sent] == [
        ("a", "entry-a", 0),
        ("a", None, 0),
    ]
    assert changelog.sent[1]["value_serializer"] == "raw"  # a tombstone, not "null"
    assert table.unsent == []


async def test_a_write_that_failed_to_send_is_sent_next_time(table: DedupTable) -> None:
    table.changelog_topic = _Changelog(fail_on=1)  # type: ignore[assignment]
    table["a"] = "entry-a"
    table["b"] = "entry-b"
    with pytest.raises(ConnectionError):
        await table.send_unsent()
    assert table.unsent == [("b", "entry-b", 0)]
    table.changelog_topic = _Changelog()  # type: ignore[assignment]
    assert await table.send_unsent() == 1
