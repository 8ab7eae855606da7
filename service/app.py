"""The faust application: two thin agents around the pipeline, a table, and ``/metrics``.

    articles.raw ──prepare──► <app>-articles.prepared (keyed by content hash)
                                    │
                              resolve (dedup table) ──► enriched | duplicates | deadletter
    any rejected record ──────────────────────────────► deadletter

Agents only move bytes, count and time; every decision is in ``pipeline``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any, cast

import faust
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent
from pydantic import ValidationError

from service.broker import ensure_topics
from service.consumer import CountingFlowControl, SafeOffsetsTransport
from service.metrics import CONTENT_TYPE, Children, Metrics
from service.pipeline import Origin, Output, Pipeline
from service.settings import Settings
from service.stages.dedup_index import DedupIndex, Entry
from service.table import dedup_table
from service.topics import DEDUP_TABLE, SEQUENCER_PARTITIONS, TopicNames, declare

log = logging.getLogger(__name__)


def _headers(
    raw: Iterable[tuple[str, bytes | None]] | Mapping[str, bytes] | None,
) -> tuple[tuple[str, bytes | None], ...]:
    if not raw:
        return ()
    items = raw.items() if isinstance(raw, Mapping) else raw
    return tuple((str(k), None if v is None else bytes(v)) for k, v in items)


def origin_of(message: Any) -> Origin:
    timestamp = (
        datetime.fromtimestamp(message.timestamp, UTC) if message.timestamp is not None else None
    )
    return Origin(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value if message.value is not None else b"",
        headers=_headers(message.headers),
        timestamp=timestamp,
    )


def faust_options(settings: Settings) -> dict[str, Any]:
    """faust settings that matter on a real cluster and on the embedded broker alike."""
    options: dict[str, Any] = {
        "broker": settings.faust_broker_url(),
        "store": "memory://",
        "autodiscover": False,
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        "broker_session_timeout": settings.session_timeout_s,
        "broker_heartbeat_interval": settings.heartbeat_interval_s,
        "consumer_auto_offset_reset": "earliest",
        "web_enabled": True,
        "web_bind": settings.web_host,
        "web_host": settings.web_host,
        "web_port": settings.web_port,
        "datadir": str(settings.data_dir),
        "producer_linger": settings.producer_linger_s,
        "producer_max_batch_size": settings.producer_max_batch_bytes,
        # A dead letter holds a whole input record in base64: over the 1 MB defaults.
        "producer_max_request_size": settings.max_message_bytes(),
        "consumer_max_fetch_size": settings.max_message_bytes(),
        "processing_guarantee": settings.processing_guarantee,
        # The leader-election topic serves features this app does not use.
        "topic_disable_leader": True,
    }
    if settings.security_protocol != "PLAINTEXT":
        options["broker_credentials"] = _credentials(settings)
    return options


def _credentials(settings: Settings) -> Any:
    import ssl

    context = None
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(
            cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None
        )
    if settings.sasl_mechanism is None:
        return faust.SSLCredentials(context)
    password = settings.sasl_password.get_secret_value() if settings.sasl_password else ""
    if settings.sasl_mechanism == "PLAIN":
        return faust.SASLCredentials(
            username=settings.sasl_username, password=password, ssl_context=context
        )
    return faust.SASLCredentials(
        username=settings.sasl_username,
        password=password,
        ssl_context=context,
        mechanism=settings.sasl_mechanism,
    )


class CommitWatch:
    """Turns the consumer's view of its partitions into lag and commit-age gauges.

    Lag is the high watermark minus the committed offset, both as the broker
    reports them: right on Apache Kafka. A partition whose committed offset has
    not moved while its lag is above zero is stalled, which the commit
    timestamp shows (alert on ``time() - newsstream_last_commit_timestamp_seconds``).
    """

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.last_offsets: dict[tuple[str, int], int | None] = {}

    def observe(self, app: Any, now: float | None = None) -> None:
        now = time.time() if now is None else now
        consumer = app.consumer
        assignment = consumer.assignment()
        seen = set()
        for tp in assignment:
            key = (tp.topic, tp.partition)
            seen.add(key)
            labels = (tp.topic, str(tp.partition))
            # faust keeps the last committed offset per partition; it has no public accessor.
            committed = consumer._committed_offset.get(tp)
            if key not in self.last_offsets or committed != self.last_offsets[key]:
                self.last_offsets[key] = committed
                self.metrics.last_commit.labels(*labels).set(now)
            highwater = consumer.highwater(tp)
            if highwater is not None:
                self.metrics.lag.labels(*labels).set(max(0, highwater - (committed or 0)))
        for key in set(self.last_offsets) - seen:  # revoked: stop reporting it
            del self.last_offsets[key]
            for gauge in (self.metrics.lag, self.metrics.last_commit):
                with contextlib.suppress(KeyError):
                    gauge.remove(key[0], str(key[1]))


class TableStore(MutableMapping[str, bytes]):
    """Entry bytes in the changelog-backed table, base64 in its JSON values."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def __getitem__(self, key: str) -> bytes:
        value = self.table[key]
        if value is None:
            raise KeyError(key)
        return base64.b64decode(value)

    def __setitem__(self, key: str, value: bytes) -> None:
        self.table[key] = base64.b64encode(value).decode("ascii")

    def __delitem__(self, key: str) -> None:
        del self.table[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.table)

    def __len__(self) -> int:
        return len(self.table)


class IndexState:
    """The in-memory dedup index, derived from the table that survives restarts."""

    def __init__(self, pipeline: Pipeline, table: Any) -> None:
        self.pipeline = pipeline
        self.store = TableStore(table)
        self.index = pipeline.new_index()

    async def rebuild(self) -> None:
        """Off the event loop: a million entries take seconds, longer than a heartbeat."""
        started = time.perf_counter()
        values = list(self.store.table.values())

        def build() -> DedupIndex:
            index = self.pipeline.new_index()
            index.add_many(Entry.from_bytes(base64.b64decode(v)) for v in values)
            return index

        index = await asyncio.get_running_loop().run_in_executor(None, build)
        self.index = index
        self.pipeline.metrics.index_articles.set(len(index))
        log.info(
            "dedup index rebuilt from its table: %d articles in %.2f s",
            len(index),
            time.perf_counter() - started,
        )


class BrokerDataLostError(RuntimeError):
    """The broker restarted empty; this process's offsets no longer mean anything."""


def _list_topics(settings: Settings) -> set[str] | None:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(**settings.kafka_python_config(), request_timeout_ms=5000)
    except KafkaError:
        return None
    try:
        return set(admin.list_topics())
    except KafkaError:
        return None
    finally:
        admin.close()


class BrokerWatch:
    """Whether any bootstrap server accepts a connection, logged once per change.

    The Kafka clients retry on their own; this only makes an outage visible in
    /readyz, in ``newsstream_broker_up`` and in one log line each way.
    """

    def __init__(
        self,
        servers: list[str],
        metrics: Metrics,
        on_recovered: Callable[[], Awaitable[None]] | None = None,
        timeout: float = 1.0,
    ) -> None:
        self.servers = servers
        self.on_recovered = on_recovered
        self.metrics = metrics
        self.timeout = timeout
        self.up = True
        metrics.broker_up.set(1)

    async def _reachable(self, server: str) -> bool:
        host, _, port = server.rpartition(":")
        try:
            _reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, int(port)), self.timeout
            )
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def probe(self) -> bool:
        up = False
        for server in self.servers:
            if await self._reachable(server):
                up = True
                break
        if up != self.up:
            if up:
                log.info("broker reachable again at %s", ",".join(self.servers))
                if self.on_recovered is not None:
                    await self.on_recovered()
            else:
                log.warning(
                    "broker unreachable at %s; clients keep retrying", ",".join(self.servers)
                )
        self.up = up
        self.metrics.broker_up.set(1 if up else 0)
        return up


def _warn_if_undelivered(delivery: asyncio.Future[Any]) -> None:
    """A record the producer gave up on after its retries, logged as faust logs it."""
    if not delivery.cancelled() and delivery.exception() is not None:
        log.warning("a record was not delivered: %r", delivery.exception())


class ServiceApp(faust.App):
    """faust's app with a consumer that cannot commit past unfinished records."""

    fetch_max_wait_s: float | None = None  # read by the consumer; faust's own is fixed

    def _new_transport(self) -> Any:
        return SafeOffsetsTransport(self.conf.broker_consumer, self)

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        # Counted, so that the consumer knows when the stream queues were emptied.
        return CountingFlowControl(loop=self.loop)


def build_app(
    settings: Settings, metrics: Metrics | None = None, pipeline: Pipeline | None = None
) -> faust.App:
    """The worker's app. ``pipeline`` replaces the stages (a benchmark runs them as identity)."""
    if pipeline is None:
        pipeline = Pipeline(settings, metrics if metrics is not None else Metrics())
    metrics = pipeline.metrics
    names = TopicNames.from_settings(settings)
    app = ServiceApp(settings.app_id, **faust_options(settings))
    app.fetch_max_wait_s = settings.fetch_max_wait_s
    topics = declare(app, settings)
    table = dedup_table(app, DEDUP_TABLE, partitions=SEQUENCER_PARTITIONS)
    dedup = IndexState(pipeline, table)

    stage_publish = metrics.stage_duration.labels("publish")
    produced = Children(metrics.produced.labels)
    ingest_latency = Children(metrics.ingest_latency.labels)
    fetch_latency = Children(metrics.fetch_latency.labels)

    async def send(topic: str, key: bytes | None, value: bytes) -> None:
        """Hand a record to faust's producer.

        ``Topic.send`` wraps each record in a pending message, a promise and sensor
        calls, and ends in this same call; nothing here reads what they keep. What
        makes at-least-once hold is unchanged: a commit flushes this producer first.
        """
        delivery = await app.producer.send(topic, key, value, None, None, None)
        cast("asyncio.Future[Any]", delivery).add_done_callback(_warn_if_undelivered)

    async def publish(output: Output) -> None:
        start = time.perf_counter()
        await send(output.topic, output.key, output.value_bytes())
        stage_publish.observe(time.perf_counter() - start)
        produced[output.topic].inc()
        now = time.time()
        if output.ingested_at is not None:
            ingest_latency[output.topic].observe(max(0.0, now - output.ingested_at.timestamp()))
        if output.fetched_at is not None:
            fetch_latency[output.topic].observe(max(0.0, now - output.fetched_at.timestamp()))

    # Acks are manual (``noack``): an input counts as done, and its offset may be
    # committed, only once its output has been handed to the producer. With faust's
    # automatic acks, an agent cancelled mid-record (a stop, a rebalance) acks that
    # record as its stream closes, and the commit that follows skips it.

    @app.agent(topics[names.raw], name="prepare")
    async def prepare(stream: faust.StreamT[bytes]) -> None:
        source = cast("faust.Stream[bytes]", stream).noack()
        consumed = metrics.consumed.labels(names.raw)
        async for event in source.events():
            consumed.inc()
            result = pipeline.prepare(origin_of(event.message))
            if isinstance(result, Output):
                await publish(result)
            else:
                key, value = pipeline.encode_prepared(result)
                await send(names.prepared, key, value)
            await source.ack(event)

    @app.agent(topics[names.prepared], name="resolve")
    async def resolve(stream: faust.StreamT[bytes]) -> None:
        source = cast("faust.Stream[bytes]", stream).noack()
        consumed = metrics.consumed.labels(names.prepared)
        async for event in source.events():
            consumed.inc()
            try:
                article = pipeline.decode_prepared(event.value)
            except ValidationError as exc:
                # Only this service writes the internal topic: a record it cannot read comes
                # from an incompatible version. Keep it, with where it was, in the dead letters.
                origin = origin_of(event.message)
                log.error("unreadable internal record at %s: %s", origin.position, exc)
                await publish(pipeline.dead_letter(origin, "dedup", "internal_error", exc))
                await source.ack(event)
                continue
            if len(dedup.index) != len(table):
                await dedup.rebuild()  # after recovery or a rebalance: the table is the truth
            await publish(pipeline.resolve(article, dedup.index, dedup.store))
            await table.send_unsent()  # the entries this input added, after its output
            await source.ack(event)

    commit_watch = CommitWatch(metrics)

    async def after_outage() -> None:
        """A broker that comes back without our topics lost its data (the embedded one does on
        every restart). Offsets this worker holds in memory then point past the new records,
        so it recreates the topics with the partition counts we rely on and stops with an
        error: its supervisor restarts it, and the new process reads from the start."""
        ours = [*topics.values(), table.changelog_topic]
        existing = await asyncio.to_thread(_list_topics, settings)
        if existing is None or all(t.get_topic_name() in existing for t in ours):
            return
        servers, security = settings.bootstrap_servers(), settings.kafka_python_admin_config()
        replicas = settings.replication_factor
        for group, partitions, configs in (
            (names.external(), settings.partitions, settings.topic_configs()),
            ([names.prepared], SEQUENCER_PARTITIONS, settings.topic_configs()),
            (
                [names.dedup_changelog],
                SEQUENCER_PARTITIONS,
                {**settings.topic_configs(), "cleanup.policy": "compact"},
            ),
        ):
            await asyncio.to_thread(
                ensure_topics, servers, group, partitions, replicas, configs, **security
            )
        log.error("the broker came back without this service's topics: it lost its data")
        await app.crash(BrokerDataLostError("broker lost its data; restart to resynchronise"))

    broker = BrokerWatch(settings.bootstrap_servers(), metrics, after_outage)

    def ready() -> tuple[bool, list[str]]:
        assigned = sorted(f"{tp.topic}/{tp.partition}" for tp in app.consumer.assignment())
        return bool(assigned) and not app.rebalancing and broker.up, assigned

    @app.timer(interval=settings.lag_interval_s)  # type: ignore[untyped-decorator]
    async def observe_consumer() -> None:
        await broker.probe()
        commit_watch.observe(app)
        metrics.ready.set(1 if ready()[0] else 0)

    @app.task  # type: ignore[untyped-decorator]
    async def log_settings() -> None:
        """Once at start-up, after logging is configured: what this worker runs with."""
        log.info("settings: %s", settings.masked())

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        """Alive: the event loop answers."""
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        """Ready: broker reachable, in the group, partitions assigned (else 503)."""
        is_ready, assigned = ready()
        return web.json(
            {
                "status": "ready" if is_ready else "not ready",
                "broker": broker.up,
                "assigned": assigned,
            },
            status=200 if is_ready else 503,
        )

    return app
