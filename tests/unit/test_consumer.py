"""What the consumer may commit, replayed from bookkeeping seen around real rebalances."""

from __future__ import annotations

from collections import defaultdict

import pytest
from faust.types import TP
from intervaltree import IntervalTree

from service.app import ServiceApp
from service.consumer import SafeOffsetsConsumer, SafeOffsetsTransport

RAW = TP("articles.raw", 1)


@pytest.fixture
def consumer() -> SafeOffsetsConsumer:
    """Only the bookkeeping: a constructed consumer starts a thread with its own loop."""
    consumer = SafeOffsetsConsumer.__new__(SafeOffsetsConsumer)
    consumer._gap = defaultdict(IntervalTree)
    consumer._acked = defaultdict(list)
    consumer._acked_index = defaultdict(set)
    consumer._read_offset = defaultdict(lambda: None)
    consumer._committed_offset = defaultdict(lambda: None)
    return consumer


def test_the_app_uses_this_consumer() -> None:
    app = ServiceApp("offsets-test", broker="kafka://127.0.0.1:1", autodiscover=False)
    assert isinstance(app.transport, SafeOffsetsTransport)
    assert app.transport.Consumer is SafeOffsetsConsumer


def ack(consumer: SafeOffsetsConsumer, *offsets: int) -> None:
    """What ``Consumer.ack`` records for a finished message."""
    for offset in offsets:
        consumer._acked[RAW].append(offset)
        consumer._acked_index[RAW].add(offset)


async def test_a_record_dropped_at_the_committed_offset_holds_the_commit_back(
    consumer: SafeOffsetsConsumer,
) -> None:
    # Committed 3441; the fetch loop dropped 3441-3443 and delivered 3444 onwards,
    # reporting the jump as a gap. faust committed 3445 here and lost 3441-3443.
    consumer._committed_offset[RAW] = 3441
    await consumer._add_gap(RAW, 3442, 3444)
    ack(consumer, *range(3444, 3460))
    assert consumer._new_offset(RAW) is None
    ack(consumer, 3441)
    assert consumer._new_offset(RAW) == 3460


async def test_a_gap_at_the_committed_offset_is_committed_past_once_registered(
    consumer: SafeOffsetsConsumer,
) -> None:
    # Offsets 10 and 11 hold no record (say, transaction markers). After a seek the last
    # read offset is 9, so the fetch loop reports 10..12 when it delivers 12.
    consumer._committed_offset[RAW] = 10
    await consumer._add_gap(RAW, 10, 12)
    ack(consumer, 12, 13)
    assert consumer._new_offset(RAW) == 14


async def test_a_gap_never_covers_the_message_that_revealed_it(
    consumer: SafeOffsetsConsumer,
) -> None:
    consumer._committed_offset[RAW] = 10
    await consumer._add_gap(RAW, 10, 12)
    ack(consumer, 13)  # 12 is delivered but not finished
    assert consumer._new_offset(RAW) == 12  # only the two missing offsets are passed
    consumer._committed_offset[RAW] = 12
    assert consumer._new_offset(RAW) is None
    ack(consumer, 12)
    assert consumer._new_offset(RAW) == 14


def test_commits_stop_at_the_first_unfinished_record(consumer: SafeOffsetsConsumer) -> None:
    consumer._committed_offset[RAW] = 100
    ack(consumer, 100, 101, 102, 104, 105)
    assert consumer._new_offset(RAW) == 103
    consumer._committed_offset[RAW] = 103
    assert consumer._new_offset(RAW) is None
    ack(consumer, 103)
    assert consumer._new_offset(RAW) == 106


def test_a_partition_never_committed_starts_at_its_first_ack(
    consumer: SafeOffsetsConsumer,
) -> None:
    ack(consumer, 5, 6, 7)
    assert consumer._new_offset(RAW) == 8


def test_an_ack_repeated_by_a_gap_counts_once(consumer: SafeOffsetsConsumer) -> None:
    consumer._committed_offset[RAW] = 0
    consumer._gap[RAW].addi(1, 3)
    ack(consumer, 0, 1, 2, 3)
    assert consumer._new_offset(RAW) == 4
    assert consumer._acked[RAW] == []


def test_the_record_at_committed_offset_one_is_not_skipped(
    consumer: SafeOffsetsConsumer,
) -> None:
    # faust let a hole at committed offset 1 through, because its fetch loop could not
    # book a gap after a last-read offset of 0. This one can, so a hole there is real.
    consumer._committed_offset[RAW] = 1
    ack(consumer, 2, 3)
    assert consumer._new_offset(RAW) is None
    ack(consumer, 1)
    assert consumer._new_offset(RAW) == 4
