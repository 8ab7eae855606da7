"""The same work under other stacks: a bare aiokafka loop and a quixstreams app.

    python -m tests.bench.peers aiokafka|quixstreams identity|pipeline --bootstrap H:P \\
        --input T --enriched T --duplicates T --deadletter T --group G

``identity`` forwards each record's bytes to the enriched topic; ``pipeline`` runs
the service's own pure stages (``Pipeline.process``: decode, parse, classify,
fingerprint, dedup against an in-memory index) and writes each output where the
worker would. Runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from service.pipeline import Origin, Pipeline
from service.settings import Settings

Routed = tuple[str, bytes | None, bytes]
Route = Callable[[str, int, int, bytes | None, bytes, float | None], Routed]


def route_for(args: argparse.Namespace) -> Route:
    """(topic, partition, offset, key, value, timestamp s) → (output topic, key, value)."""
    if args.mode == "identity":

        def identity(
            topic: str, partition: int, offset: int, key: bytes | None, value: bytes, ts: Any
        ) -> tuple[str, bytes | None, bytes]:
            return args.enriched, key, value

        return identity
    settings = Settings(
        broker_url=args.bootstrap,
        topic_raw=args.input,
        topic_enriched=args.enriched,
        topic_duplicates=args.duplicates,
        topic_deadletter=args.deadletter,
    )
    pipeline = Pipeline(settings)
    index = pipeline.new_index()

    def process(
        topic: str, partition: int, offset: int, key: bytes | None, value: bytes, ts: Any
    ) -> tuple[str, bytes | None, bytes]:
        origin = Origin(
            topic=topic,
            partition=partition,
            offset=offset,
            key=key,
            value=value,
            timestamp=datetime.fromtimestamp(ts, UTC) if ts is not None else None,
        )
        output = pipeline.process(origin, index)
        return output.topic, output.key, output.value_bytes()

    return process


async def run_aiokafka(args: argparse.Namespace, route: Route) -> None:
    """getmany → send without awaiting each → wait for the batch → commit."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    consumer = AIOKafkaConsumer(
        args.input,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=args.bootstrap, linger_ms=5, max_request_size=4 * 1024 * 1024
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            if not batches:
                continue
            pending = []
            for tp, records in batches.items():
                for r in records:
                    topic, key, value = route(
                        tp.topic, tp.partition, r.offset, r.key, r.value or b"", r.timestamp / 1000
                    )
                    pending.append(await producer.send(topic, value, key=key))
            await asyncio.gather(*pending)
            await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


def run_quixstreams(args: argparse.Namespace, route: Route) -> None:
    """A StreamingDataFrame that applies the stages, then one branch per output topic."""
    from quixstreams import Application, message_context

    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=tempfile.mkdtemp(prefix="bench-quix-"),
        auto_create_topics=False,
        use_changelog_topics=False,
    )
    source = app.topic(args.input, key_deserializer="bytes", value_deserializer="bytes")

    def apply(value: bytes, key: Any, timestamp: int, headers: Any) -> Routed:
        ctx = message_context()
        return route(ctx.topic, ctx.partition, ctx.offset, key, value, timestamp / 1000)

    routed = app.dataframe(source).apply(apply, metadata=True)
    for name in (args.enriched, args.duplicates, args.deadletter):
        sink = app.topic(name, key_serializer="bytes", value_serializer="bytes")
        branch = routed.filter(lambda out, name=name: out[0] == name)
        branch = branch.apply(lambda out: out[2])
        branch.to_topic(sink)
    app.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stack", choices=["aiokafka", "quixstreams"])
    parser.add_argument("mode", choices=["identity", "pipeline"])
    for name in ("bootstrap", "input", "enriched", "duplicates", "deadletter", "group"):
        parser.add_argument(f"--{name}", required=True)
    args = parser.parse_args()
    route = route_for(args)
    if args.stack == "aiokafka":
        asyncio.run(run_aiokafka(args, route))
    else:
        run_quixstreams(args, route)


if __name__ == "__main__":
    main()
