"""The worker's consumer: offset bookkeeping that never commits past a record no agent
finished, a fetch wait that suits brokers without early answers, and end offsets
that stay right when a broker misreports them.

faust's consumer decides what to commit from three structures: the offsets agents
acked, "gaps" (offsets the log does not hold, such as transaction markers) and the
last offset it read per partition. Around a rebalance they disagree, and a run of
records can be committed without ever reaching an agent:

1. the fetch loop records the offset of a message it was delivering when the
   partitions were revoked *after* the revocation cleared that bookkeeping, so a
   partition assigned again starts with a stale "last read" offset far ahead;
2. messages below that stale offset are then dropped as already read;
3. the next message seen looks like the end of a gap, and a gap is committed as
   if acked; the gap also covers the message being delivered, before it is done;
4. and a hole of exactly one offset at the head of the acked offsets is let
   through, so the first dropped record is committed past as well.

Records a stream skips while a rebalance settles are never acked; faust counts on
the seek to the committed offsets that ends every rebalance to fetch them again.
That seek leaves alone a partition with nothing committed, so a record fetched
there just before it was lost to the stream; such a partition now starts over.
But records fetched *before* that seek kept flowing after it, moving "last read"
past the seek point, so the records fetched again were dropped as already read.

This consumer corrects each step: stale read offsets are dropped on assignment,
"last read" after a seek is the offset before the sought one, a record whose
partition was sought while it was being fetched is held back and fetched again
from the right place, a gap ends before the message that revealed it, and nothing
is committed while the offset at the committed position is neither acked nor a
known gap. Found on a two-worker rebalance that lost a few records in about one
run in four.

faust's fetch loop also dropped the rest of a batch, silently, when the flow
stopped or the generation changed while it was being delivered. Had no seek
followed, the next batch would have revealed the dropped offsets as a gap, and a
gap is committed. The fetch loop here sends a partition back to its first record
not delivered, whatever the reason.

Last, faust empties every stream queue whenever flow control resumes, and recovery
resumes it only *after* its seek to the committed offsets: records handed to a
queue in between vanished, with "last read" already past them. The app's flow
control notes the first record each clear takes per partition, and the fetch loop
sends that partition back to it before it delivers anything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Set
from typing import Any, ClassVar, cast

from aiokafka.structs import TopicPartition
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP
from faust.types.transports import ConsumerT
from mode.utils.queues import FlowControlEvent

log = logging.getLogger(__name__)


class _ConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # faust fixes the fetch wait at 1.5 s; the app carries the configured one.
        wait_s = getattr(self.app, "fetch_max_wait_s", None)
        if wait_s is not None:
            consumer._fetch_max_wait_ms = int(wait_s * 1000)
        return consumer

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        """End offsets as a fetch reports them, never below what ListOffsets says.

        Table recovery reads a changelog up to these. Some brokers (the embedded
        one) answer ListOffsets with the first offset of the last batch plus one,
        so a changelog written in batches would be recovered short; the high
        watermark in a fetch response is right on every broker.
        """
        listed = dict(await super()._highwaters(partitions))
        if self.consumer.in_transaction:
            return listed
        probe = [tp for tp, end in listed.items() if end]
        if probe:
            listed.update(await self._fetched_ends(probe, listed))
        return listed

    async def _fetched_ends(self, tps: list[TP], listed: Mapping[TP, int]) -> dict[TP, int]:
        """One fetch per partition at its last listed record, by a consumer outside the group."""
        consumer = self._create_client_consumer(cast("Any", self.transport))
        consumer._enable_auto_commit = False
        await consumer.start()
        ends: dict[TP, int] = {}
        try:
            by_kafka = {TopicPartition(tp.topic, tp.partition): tp for tp in tps}
            consumer.assign(list(by_kafka))
            for ktp, tp in by_kafka.items():
                consumer.seek(ktp, listed[tp] - 1)
            timeout_s = self.app.conf.broker_request_timeout
            deadline = asyncio.get_running_loop().time() + timeout_s
            pending = set(by_kafka)
            while pending and asyncio.get_running_loop().time() < deadline:
                await consumer.getmany(*pending, timeout_ms=200, max_records=1)
                for ktp in list(pending):
                    highwater = consumer.highwater(ktp)
                    if highwater is not None:
                        tp = by_kafka[ktp]
                        ends[tp] = max(highwater, listed[tp])
                        pending.discard(ktp)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
        return ends


class CountingFlowControl(FlowControlEvent):
    """faust's flow control, noting what it takes when it empties the stream queues."""

    clears = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dropped: dict[TP, int] = {}  # per partition, the first record a clear took

    def clear(self) -> None:
        for queue in self._queues:
            for item in list(queue._queue):  # type: ignore[attr-defined]
                message = getattr(item, "message", item)  # events carry their message
                tp, offset = getattr(message, "tp", None), getattr(message, "offset", None)
                if isinstance(tp, tuple) and isinstance(offset, int):
                    tp = TP(tp[0], tp[1])
                    self.dropped[tp] = min(offset, self.dropped.get(tp, offset))
        self.clears += 1
        super().clear()

    def take_dropped(self) -> dict[TP, int]:
        dropped, self.dropped = self.dropped, {}
        return dropped


class SafeOffsetsConsumer(aiokafka_driver.Consumer):
    # Seeks per partition, started or finished. A record whose partition was sought
    # while its batch was being fetched may come from either side of that seek.
    _seeks: dict[TP, int] | None = None
    _seeks_at_fetch: dict[TP, int] | None = None
    _clears_seen = 0  # the flow control's clears this fetch loop has rewound for
    _waiting: dict[TP, int] | None = None  # see ``_fetch_again``

    def _new_consumer_thread(self) -> Any:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def _count_seeks(self, tps: Set[TP]) -> None:
        if self._seeks is None:
            self._seeks = {}
        for tp in tps:
            self._seeks[tp] = self._seeks.get(tp, 0) + 1

    async def on_partitions_assigned(self, assigned: Set[TP], generation_id: int = 0) -> None:
        for tp in assigned:  # (1) a read offset left over from before the revocation
            self._read_offset.pop(tp, None)
            self._gap.pop(tp, None)
            self._waiting_for_seek().pop(tp, None)  # the seek to committed covers it
        await super().on_partitions_assigned(assigned, generation_id)

    async def perform_seek(self) -> None:
        partitions = self.assignment()
        self._count_seeks(partitions)
        try:
            committed = await self._committed_seek(partitions)
            # aiokafka seeks only where the committed offset is above 0; elsewhere the
            # position is wherever fetches before this seek left it, past records no
            # agent saw. Such a partition starts again from its beginning.
            fresh = [tp for tp, offset in committed.items() if offset is None or offset <= 0]
            if fresh:
                await self._thread.seek_to_beginning(*fresh)
        finally:
            self._count_seeks(partitions)
        # Where every partition (re)starts: the first thing to read when records go missing.
        log.info(
            "sought to committed offsets: %s",
            " ".join(f"{tp.topic}/{tp.partition}={o}" for tp, o in sorted(committed.items())),
        )
        for tp_, offset in committed.items():
            tp = TP(tp_.topic, tp_.partition)
            if offset is None or offset < 0:
                # Sent back to its beginning above: nothing read since.
                self._read_offset[tp] = -1
                continue
            # Kafka's committed offset is the next one to read, so the last one read is
            # the one before: a hole right at the committed offset then shows as a gap.
            self._read_offset[tp] = offset - 1
            self._committed_offset[tp] = offset

    async def _committed_seek(self, partitions: Set[TP]) -> Mapping[TP, int | None]:
        """aiokafka's seek to the committed offsets, of these partitions only."""
        consumer = self._thread._ensure_consumer()
        wanted = [TopicPartition(tp.topic, tp.partition) for tp in partitions]
        committed: Mapping[TP, int | None] = await self._thread.call_thread(
            consumer.seek_to_committed, *wanted
        )
        return committed

    def _queues_cleared(self) -> bool:
        return cast("int", getattr(self.app.flow_control, "clears", 0)) != self._clears_seen

    def _dropped_pending(self) -> bool:
        return bool(getattr(self.app.flow_control, "dropped", None))

    async def _rewind(self) -> None:
        """Stream queues were emptied: each stream partition whose records went with them
        is fetched again from the first of those (the changelogs belong to recovery)."""
        flow_control = cast("CountingFlowControl", self.app.flow_control)
        self._clears_seen = flow_control.clears
        changelogs = self.app.tables.changelog_topics
        assigned = self.assignment()
        dropped = flow_control.take_dropped()
        for tp, offset in sorted(dropped.items()):
            if tp not in assigned or tp.topic in changelogs:
                continue  # revoked: its next owner starts from the committed offset
            try:
                await self.seek(tp, offset)
            except Exception as exc:  # a rebalance or an outage: tried again next round
                log.warning("%s: could not fetch again from %d: %r", tp, offset, exc)
                flow_control.dropped[tp] = min(offset, flow_control.dropped.get(tp, offset))
                flow_control.clears += 1  # so that the next round tries again
                continue
            log.info("%s: fetching again from %d, records were dropped from a queue", tp, offset)

    async def seek(self, partition: TP, offset: int) -> None:
        tp = TP(partition.topic, partition.partition)
        self._count_seeks({tp})
        try:
            await self._seek(partition, offset)
        finally:
            self._count_seeks({tp})
        self._read_offset[tp] = offset - 1

    async def _getmany(self, active_partitions: set[TP] | None, timeout: float) -> Any:
        self._seeks_at_fetch = dict(self._seeks or {})
        return await super()._getmany(active_partitions, timeout)

    async def _drain_messages(self, fetcher: Any) -> None:
        """faust's fetch loop, where every fetched record is delivered or fetched again.

        faust's ``getmany`` drops the rest of a batch without a trace when the flow
        stops or the group generation changes mid-batch, and drops records of a
        partition paused while they were fetched; whether they come back depends on a
        later seek. Here a record not delivered, for whatever reason, sends its
        partition back to it, and nothing after it in that partition is delivered out
        of order.
        """
        callback = self.callback
        read = self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        to_message = self._to_message
        since_yield = 0
        try:
            while not (self.should_stop or fetcher.should_stop):
                await asyncio.sleep(0)
                if self._queues_cleared():
                    await self._rewind()
                if self._waiting:
                    await self._fetch_again(dict(self._waiting))
                records, active = await self._wait_next_records(1.0)
                if not records or self.should_stop:
                    continue
                if self._queues_cleared():
                    await self._rewind()  # records it sends back are overtaken in this batch
                if not self.flow_active:
                    # As faust does: the flow stopped during the fetch, so a rebalance is
                    # under way and everything goes back to the committed offsets.
                    with contextlib.suppress(Exception):
                        await self.perform_seek()
                    continue
                generation = self.app.consumer_generation_id
                undelivered: dict[TP, int] = {}
                halted = False  # a clear happened: rewind before anything else is delivered
                for tp, record in self.scheduler.iterate(records):
                    offset = record.offset
                    if tp in undelivered:
                        continue
                    if (
                        halted
                        or (self._waiting and tp in self._waiting)
                        or self._overtaken(tp)
                        or not self._deliverable(tp, active, generation)
                    ):
                        undelivered[tp] = offset
                        continue
                    since_yield += 1
                    if since_yield > 100:
                        since_yield = 0
                        await asyncio.sleep(0)
                    last = read[tp]
                    if last is not None and offset <= last:
                        continue  # delivered already, since the last seek
                    if last is not None and offset > last + 1 and acks_enabled_for(tp.topic):
                        await self._add_gap(tp, last + 1, offset)
                    every = self._commit_every
                    if every is not None and self._n_acked >= every:
                        self._n_acked = 0
                        await self.commit()
                    self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                    delivery = callback(to_message(tp, record))
                    result = await self.wait_first(delivery, self.suspend_flow.wait())
                    if delivery not in result.done:
                        undelivered[tp] = offset  # the flow stopped while it was handed over
                        continue
                    read[tp] = offset
                    halted = self._queues_cleared() and self._dropped_pending()
                if self._queues_cleared():
                    await self._rewind()
                await self._fetch_again(undelivered)
        except self.consumer_stopped_errors:
            if not self.transport.app.should_stop:
                raise
        except asyncio.CancelledError:
            if not self.transport.app.should_stop:
                raise

    def _overtaken(self, tp: TP) -> bool:
        """Whether a seek on the partition started or ended since its batch was fetched."""
        seeks, fetched = self._seeks or {}, self._seeks_at_fetch or {}
        return seeks.get(tp, 0) != fetched.get(tp, 0)

    def _deliverable(self, tp: TP, active: Set[TP] | None, generation: int) -> bool:
        return (
            self.flow_active
            and self.app.consumer_generation_id == generation
            and (active is None or tp in active or tp in self._buffered_partitions)
        )

    async def _fetch_again(self, undelivered: dict[TP, int]) -> None:
        """Records not delivered: fetch from the earlier of the first of them and the
        record after the last one delivered. A record from before a seek that overtook
        its fetch thus never moves "last read" past the seek point, and one from after
        it is fetched again rather than skipped.

        While a seek is under way on the partition (counted when it starts and when it
        ends) "last read" is stale, and the seek may already have moved the position
        that later fetches then advanced: the partition waits, delivering nothing, until
        the seek ends, and is fetched again from there."""
        if not undelivered:
            return
        assigned = self.assignment()
        seeks = self._seeks or {}
        waiting = self._waiting_for_seek()
        for tp, first in undelivered.items():
            if tp not in assigned:
                waiting.pop(tp, None)
                continue
            first = min(first, waiting.get(tp, first))
            if seeks.get(tp, 0) % 2:
                waiting[tp] = first
                continue
            waiting.pop(tp, None)
            last = self._read_offset[tp]
            target = first if last is None else min(first, last + 1)
            log.info("%s: fetching again from %d, records were not delivered", tp, target)
            await self._seek(tp, target)

    def _waiting_for_seek(self) -> dict[TP, int]:
        """Partitions to fetch again once the seek under way on them ends: the first
        record not delivered."""
        if self._waiting is None:
            self._waiting = {}
        return self._waiting

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        # (3) the fetch loop passes the offset of the message it is about to deliver
        # as the end: that message is not missing, it still has to be acked.
        offset_to -= 1
        committed = self._committed_offset[tp]
        if committed is not None:
            offset_from = max(offset_from, committed)
        if offset_from <= offset_to:
            # Rare outside compacted or transactional topics, so worth a line when it happens.
            log.info("%s: offsets %d-%d are not in the log", tp, offset_from, offset_to)
            gaps = self._gap[tp]
            gaps.addi(offset_from, offset_to + 1)
            gaps.merge_overlaps()

    def _new_offset(self, tp: TP) -> int | None:
        acked: list[int] = self._acked[tp]
        if not acked:
            return None
        top = max(acked)
        gaps = self._gap[tp]
        if gaps:
            for interval in gaps.overlap(0, top + 1):
                acked.extend(range(interval.begin, min(interval.end, top + 1)))
            gaps.chop(0, top + 1)
        acked[:] = sorted(set(acked))
        committed: int | None = self._committed_offset[tp]
        # (4) The record at the committed offset is still in flight or was never
        # delivered: committing past it would lose it. (A real hole there is a known gap:
        # after a seek "last read" is the offset before, so the fetch loop books it.)
        if committed is not None and acked[0] > committed:
            return None
        end = 1
        while end < len(acked) and acked[end] == acked[end - 1] + 1:
            end += 1
        run = acked[:end]
        del acked[:end]
        self._acked_index[tp].difference_update(run)
        return int(run[-1]) + 1


class SafeOffsetsTransport(aiokafka_driver.Transport):
    Consumer: ClassVar[type[ConsumerT]] = SafeOffsetsConsumer
