"""What the consumer may commit, replayed from bookkeeping seen around real rebalances."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, cast

import pytest
from faust.types import TP
from intervaltree import IntervalTree
from mode.utils.queues import FlowControlQueue

from service.app import ServiceApp
from service.consumer import CountingFlowControl, SafeOffsetsConsumer, SafeOffsetsTransport

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


OTHER = TP("articles.raw", 2)
CHANGELOG = TP("app-dedup_index-changelog", 0)


class _Scripted(SafeOffsetsConsumer):
    """The fetch loop over scripted batches: no broker, no consumer thread."""

    def __init__(self, *batches: dict[TP, list[int]], active: set[TP] | None = None) -> None:
        # Delivered records wait in a stream queue until the agent takes them, as in faust.
        self.flow_control = CountingFlowControl()
        self.queue: FlowControlQueue[Any] = FlowControlQueue(
            maxsize=100, flow_control=self.flow_control, clear_on_resume=True
        )
        self.agent_takes = True
        self.seek_fails = 0
        self._batches = list(batches)
        self._active = active
        self._done = False
        self.delivered: list[tuple[TP, int]] = []
        self.sought: list[tuple[TP, int]] = []
        self.sent_to_beginning: list[TP] = []
        self.committed: dict[TP, int | None] = {}
        self.on_delivery: dict[int, Callable[[], None]] = {}
        self.cut_short: set[int] = set()
        self.flow_active = True
        self._seeks = None
        self._seeks_at_fetch = None
        self._buffered_partitions = set()
        self._commit_every = None
        self._n_acked = 0
        self._read_offset = defaultdict(lambda: None)
        self._committed_offset = defaultdict(lambda: None)
        self._gap = defaultdict(IntervalTree)
        self.suspend_flow = asyncio.Event()
        self.scheduler = cast(
            Any,
            SimpleNamespace(
                iterate=lambda records: ((tp, r) for tp, rs in records.items() for r in rs)
            ),
        )
        self.app = cast(
            Any,
            SimpleNamespace(
                topics=SimpleNamespace(acks_enabled_for=lambda topic: True),
                consumer_generation_id=1,
                monitor=SimpleNamespace(track_tp_end_offset=lambda tp, offset: None),
                flow_control=self.flow_control,
                tables=SimpleNamespace(changelog_topics={CHANGELOG.topic}),
            ),
        )

        self._thread = cast(Any, SimpleNamespace(seek_to_beginning=self._to_beginning))

    @property
    def should_stop(self) -> bool:
        return self._done

    async def _wait_next_records(self, timeout: float) -> Any:
        if not self._batches:
            self._done = True
            return {}, self._active
        batch = self._batches.pop(0)
        self._seeks_at_fetch = dict(self._seeks or {})  # as ``_getmany`` does
        records = {
            tp: [SimpleNamespace(offset=o) for o in offsets] for tp, offsets in batch.items()
        }
        return records, self._active

    def _to_message(self, tp: TP, record: Any) -> Any:
        return SimpleNamespace(tp=tp, offset=record.offset)

    async def _deliver(self, message: Any) -> None:
        self.delivered.append((message.tp, message.offset))
        self.queue.put_nowait(SimpleNamespace(message=message))
        if self.agent_takes:
            self.queue.get_nowait()
        self.on_delivery.get(message.offset, lambda: None)()

    def callback(self, message: Any) -> Any:
        return self._deliver(message)

    async def wait_first(self, *coros: Any, timeout: Any = None) -> Any:
        delivery, *others = coros
        for other in others:
            other.close()
        await delivery
        offset = self.delivered[-1][1]
        return SimpleNamespace(done=[] if offset in self.cut_short else [delivery])

    def highwater(self, tp: TP) -> int:
        return 0

    def assignment(self) -> set[TP]:
        return {RAW, OTHER, CHANGELOG}

    async def _seek(self, partition: TP, offset: int) -> None:
        if self.seek_fails:
            self.seek_fails -= 1
            raise ConnectionError("broker gone")
        self.sought.append((partition, offset))

    async def _committed_seek(self, partitions: Any) -> Any:
        return {tp: self.committed.get(tp) for tp in partitions}

    async def _to_beginning(self, *partitions: TP) -> None:
        self.sent_to_beginning.extend(partitions)

    async def drain(self) -> None:
        await self._drain_messages(SimpleNamespace(should_stop=False))


async def test_records_left_in_a_batch_when_the_flow_stops_are_fetched_again() -> None:
    consumer = _Scripted({RAW: [5, 6, 7]})
    consumer.on_delivery[6] = lambda: setattr(consumer, "flow_active", False)
    await consumer.drain()
    assert consumer.delivered == [(RAW, 5), (RAW, 6)]
    assert consumer.sought == [(RAW, 7)]


async def test_a_record_whose_hand_over_was_cut_short_is_fetched_again() -> None:
    consumer = _Scripted({RAW: [5, 6, 7]})
    consumer.cut_short.add(6)
    await consumer.drain()
    assert consumer.delivered == [(RAW, 5), (RAW, 6)]  # 7 is never handed over before 6
    assert consumer._read_offset[RAW] == 5
    assert consumer.sought == [(RAW, 6)]


async def test_records_after_a_generation_change_are_fetched_again() -> None:
    consumer = _Scripted({RAW: [5, 6, 7], OTHER: [3]})
    consumer.on_delivery[5] = lambda: setattr(consumer.app, "consumer_generation_id", 2)
    await consumer.drain()
    assert consumer.delivered == [(RAW, 5)]
    assert sorted(consumer.sought) == [(RAW, 6), (OTHER, 3)]


async def test_records_of_a_partition_paused_during_the_fetch_are_fetched_again() -> None:
    consumer = _Scripted({OTHER: [3, 4], RAW: [5]}, {OTHER: [5]}, active={RAW})
    await consumer.drain()
    assert consumer.delivered == [(RAW, 5)]
    assert consumer.sought == [(OTHER, 3), (OTHER, 5)]


async def test_a_partition_with_nothing_committed_starts_over_and_stays_there() -> None:
    # Records fetched before the seek to committed offsets come back after it: the
    # re-fetch must not move the partition forward past records no agent saw.
    consumer = _Scripted()
    consumer.committed = {RAW: None, OTHER: 12, CHANGELOG: 7}
    await consumer.perform_seek()
    assert consumer.sent_to_beginning == [RAW]
    assert consumer._read_offset[RAW] == -1
    assert consumer._read_offset[OTHER] == 11
    await consumer._fetch_again({RAW: 40, OTHER: 30})
    assert consumer.sought == [(RAW, 0), (OTHER, 12)]


async def test_no_fetch_again_while_a_seek_is_under_way() -> None:
    # Seen in the batched recovery test: offset 74 was delivered, the seek to the
    # committed 74 began, and the next batch (75 on) came back overtaken while "last
    # read" still said 74. Fetching again from 75 overrode the seek and lost 74.
    consumer = _Scripted()
    consumer._read_offset[RAW] = 74
    consumer._count_seeks({RAW})  # perform_seek has started, not finished
    await consumer._fetch_again({RAW: 75})
    assert consumer.sought == []
    consumer._count_seeks({RAW})  # finished
    consumer._read_offset[RAW] = 73
    await consumer._fetch_again({RAW: 76})
    assert consumer.sought == [(RAW, 74)]
    assert consumer._waiting == {}


async def test_a_partition_overtaken_during_a_seek_is_fetched_again_when_it_ends() -> None:
    # Seen in the batched recovery test: the seek to committed had already moved raw/0
    # to 66 when a fetch from there came back overtaken (the seek was still under way
    # for other partitions). Skipping the fetch-again left the position after the batch,
    # and 66-132 were never delivered.
    consumer = _Scripted({RAW: [66, 67]}, {}, {})  # after the seek: the end of the log
    consumer._read_offset[RAW] = 65
    consumer._seeks_at_fetch = {}
    consumer._count_seeks({RAW})  # under way: the first batch comes back overtaken
    fetch = consumer._wait_next_records
    fetches = 0

    async def fetch_during_the_seek(timeout: float) -> Any:
        nonlocal fetches
        fetches += 1
        result = await fetch(timeout)
        if fetches == 1:
            consumer._seeks_at_fetch = {}  # fetched before the seek started
        if fetches == 2:
            consumer._count_seeks({RAW})  # the seek ends after the second fetch
        return result

    consumer._wait_next_records = fetch_during_the_seek  # type: ignore[method-assign]
    await consumer.drain()
    assert consumer.delivered == []
    assert consumer.sought == [(RAW, 66)]  # once the seek had ended


def _stall_then_resume(consumer: _Scripted) -> Callable[[], None]:
    """The agent stops taking records; at the next hook recovery resumes the flow,
    which empties the queues."""

    def hook() -> None:
        if consumer.agent_takes:
            consumer.agent_takes = False
        else:
            consumer.flow_control.resume()
            consumer.agent_takes = True

    return hook


async def test_records_a_clear_takes_from_the_queue_are_fetched_again() -> None:
    # Seen in the batched recovery test: recovery seeks to the committed offsets and then
    # resumes flow control, which empties the stream queues. Offset 66, handed over in
    # between, went with them while "last read" said 66; re-story-1 was never output.
    consumer = _Scripted({RAW: [65, 66, 67], OTHER: [3]}, {RAW: [66, 67], OTHER: [3]})
    hook = _stall_then_resume(consumer)
    consumer.on_delivery[65] = hook  # taken by the agent; 66 is not
    consumer.on_delivery[66] = lambda: (hook(), consumer.on_delivery.clear())
    await consumer.drain()
    assert consumer.delivered == [(RAW, 65), (RAW, 66), (RAW, 66), (RAW, 67), (OTHER, 3)]
    assert consumer.sought == [(RAW, 66), (RAW, 66), (OTHER, 3)]
    assert consumer._read_offset[RAW] == 67


async def test_a_clear_that_takes_nothing_sends_nothing_back() -> None:
    consumer = _Scripted({RAW: [5, 6, 7]})
    consumer.on_delivery[6] = consumer.flow_control.resume
    await consumer.drain()
    assert consumer.delivered == [(RAW, 5), (RAW, 6), (RAW, 7)]
    assert consumer.sought == []


async def test_a_batch_fetched_across_a_clear_waits_for_the_records_it_took() -> None:
    consumer = _Scripted({RAW: [4]}, {RAW: [5]}, {RAW: [4, 5]})
    consumer.agent_takes = False  # 4 waits in the queue
    fetch = consumer._wait_next_records

    async def fetch_then_clear(timeout: float) -> Any:
        result = await fetch(timeout)
        if [r.offset for r in result[0].get(RAW, [])] == [5]:
            consumer.flow_control.resume()  # takes 4
        return result

    consumer._wait_next_records = fetch_then_clear  # type: ignore[method-assign]
    await consumer.drain()
    assert consumer.delivered == [(RAW, 4), (RAW, 4), (RAW, 5)]
    assert consumer.sought[0] == (RAW, 4)


async def test_a_rewind_that_fails_is_tried_again() -> None:
    consumer = _Scripted({RAW: [5]}, {RAW: [6]}, {RAW: [5, 6]})
    consumer.agent_takes = False
    consumer.on_delivery[5] = consumer.flow_control.resume
    consumer.seek_fails = 1
    await consumer.drain()
    assert consumer.sought[0] == (RAW, 5)  # the second attempt
    assert consumer.delivered[-2:] == [(RAW, 5), (RAW, 6)]
