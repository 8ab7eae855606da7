"""``newsstream``: run the service, feed it, watch it, or run its pipeline in batch."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson

from service.settings import Settings

if TYPE_CHECKING:
    from service.pipeline import Pipeline

EXAMPLES_DIR = Path(__file__).resolve().parent / "data" / "examples"


def _settings() -> Settings:
    return Settings()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="newsstream")
def main() -> None:
    """Parse, deduplicate and classify news articles on Kafka.

    Configuration comes from NEWSSTREAM_* environment variables (see the
    README). With NEWSSTREAM_BROKER_URL unset, commands use the embedded broker
    on 127.0.0.1:NEWSSTREAM_EMBEDDED_PORT (default 19092).
    """


# ---------------------------------------------------------------------- worker


@main.command()
@click.option("--web-port", type=int, help="Port of /metrics (default NEWSSTREAM_WEB_PORT).")
@click.option("--loglevel", "-l", default=None, help="Log level (default NEWSSTREAM_LOG_LEVEL).")
def worker(web_port: int | None, loglevel: str | None) -> None:
    """Start one worker; it joins the consumer group and serves /metrics.

    Run several (each with its own --web-port) to share the partitions.
    """
    overrides: dict[str, Any] = {}
    if web_port is not None:
        overrides["web_port"] = web_port
    if loglevel is not None:
        overrides["log_level"] = loglevel
    run_worker(Settings(**overrides))


def run_worker(settings: Settings, pipeline: Pipeline | None = None) -> None:
    """Create the topics this worker relies on, then run it until a signal stops it."""
    from faust.worker import Worker

    from service.app import build_app
    from service.broker import ensure_topics
    from service.logs import json_logging_config
    from service.topics import TopicNames

    ensure_topics(
        settings.bootstrap_servers(),
        TopicNames.from_settings(settings).external(),
        settings.partitions,
        settings.replication_factor,
        settings.topic_configs(),
        **settings.kafka_python_admin_config(),
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = build_app(settings, pipeline=pipeline)
    logging_config = (
        json_logging_config(settings.log_level) if settings.log_format == "json" else None
    )
    Worker(
        app, loglevel=settings.log_level, logging_config=logging_config
    ).execute_from_commandline()


# ---------------------------------------------------------------------- broker


@main.command()
@click.option("--port", type=int, help="Listen port (default NEWSSTREAM_EMBEDDED_PORT).")
@click.option("--no-topics", is_flag=True, help="Do not create the service's topics.")
def broker(port: int | None, no_topics: bool) -> None:
    """Run a local Kafka-protocol broker on 127.0.0.1 until Ctrl-C.

    The embedded broker (tansu, memory storage: data is gone when it stops), or
    Apache Kafka in KRaft mode when KAFKA_HOME points at a distribution.
    """
    from service.broker import ensure_topics, local_broker
    from service.topics import TopicNames

    settings = _settings()
    stop = _StopSignal()
    server = local_broker(port=port or settings.embedded_port)
    try:
        server.start()
        if not no_topics:
            ensure_topics(
                [server.bootstrap],
                TopicNames.from_settings(settings).external(),
                settings.partitions,
                settings.replication_factor,
                settings.topic_configs(),
            )
        click.echo(f"{server.name} listening on {server.bootstrap} (Ctrl-C to stop)")
        stop.wait()
    finally:
        server.stop()
        stop.restore()
        click.echo("broker stopped")


class _StopSignal:
    """SIGINT/SIGTERM set a flag instead of raising, from the moment it is created."""

    def __init__(self) -> None:
        self.stopped = False
        self._previous = {
            sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)
        }

    def _handle(self, signum: int, frame: Any) -> None:
        self.stopped = True

    def wait(self) -> None:
        while not self.stopped:
            time.sleep(0.2)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


# ---------------------------------------------------------------------- produce


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--topic", help="Target topic (default NEWSSTREAM_TOPIC_RAW).")
@click.option("--source", help="Source name for text/HTML files (default: the file name).")
@click.option("--partition", type=int, help="Send every record to this partition.")
def produce(
    paths: tuple[Path, ...], topic: str | None, source: str | None, partition: int | None
) -> None:
    """Send articles to the raw topic.

    A .jsonl file is sent line by line exactly as written (one RawArticle a line,
    so malformed lines reach the dead-letter topic as they are). Any other file
    is one article: .html/.htm as text/html, everything else as text/plain.
    """
    from service.feed import Feeder, records_from_paths

    settings = _settings()
    records = list(records_from_paths(paths, source=source))
    with Feeder(settings) as feeder:
        sent = feeder.send_all(
            records, topic or settings.topic_raw, partition=partition, progress=True
        )
    click.echo(f"sent {sent} records to {topic or settings.topic_raw}", err=True)


# ---------------------------------------------------------------------- tail


@main.command()
@click.argument("topics", nargs=-1)
@click.option("--from-beginning/--from-end", default=True, show_default=True)
@click.option("--max", "max_records", type=int, help="Stop after this many records.")
@click.option("--idle-timeout", type=float, help="Stop after this many seconds without a record.")
@click.option("--raw", "raw_json", is_flag=True, help="Print records as JSON lines.")
def tail(
    topics: tuple[str, ...],
    from_beginning: bool,
    max_records: int | None,
    idle_timeout: float | None,
    raw_json: bool,
) -> None:
    """Print records of output topics as they arrive (default: all three)."""
    from service.feed import follow
    from service.render import render

    settings = _settings()
    names = list(topics) or list(settings.output_topics())
    for count, (topic, key, value) in enumerate(
        follow(settings, names, from_beginning=from_beginning, idle_timeout=idle_timeout), 1
    ):
        if raw_json:
            line = {"topic": topic, "key": key.decode("utf-8", "replace") if key else None}
            click.echo(orjson.dumps({**line, "value": _json_or_text(value)}).decode())
        else:
            click.echo(render(settings, topic, value))
        if max_records is not None and count >= max_records:
            break


def _json_or_text(value: bytes) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value.decode("utf-8", "replace")


# ---------------------------------------------------------------------- process


@main.command()
@click.argument("input_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--output", "-o", "output_path", required=True, type=click.Path(dir_okay=False, path_type=Path)
)
def process(input_path: Path, output_path: Path) -> None:
    """Run the whole pipeline over a JSONL file of RawArticle, with no broker.

    Each output line is {"topic", "key", "value"}: exactly what the service
    would publish for the same input order.
    """
    from service.batch import process_file

    counts = process_file(_settings(), input_path, output_path)
    summary = ", ".join(f"{topic}: {n}" for topic, n in counts.items())
    click.echo(f"wrote {sum(counts.values())} records to {output_path} ({summary})", err=True)


# ---------------------------------------------------------------------- schemas


@main.command()
@click.option(
    "--output-dir", type=click.Path(file_okay=False, path_type=Path), help="Default: schemas/json."
)
@click.option("--check", is_flag=True, help="Exit 1 if the checked-in files are stale.")
def schemas(output_dir: Path | None, check: bool) -> None:
    """Export the JSON Schema of every record type."""
    from schemas.export import DEFAULT_DIR, render, write

    directory = output_dir or DEFAULT_DIR
    if check:
        stale = [
            name
            for name, text in render().items()
            if not (directory / name).is_file()
            or (directory / name).read_text(encoding="utf-8") != text
        ]
        if stale:
            raise click.ClickException("stale JSON Schema files: " + ", ".join(stale))
        click.echo("JSON Schema files are up to date")
        return
    for path in write(directory):
        click.echo(str(path))


# ---------------------------------------------------------------------- run


@main.command()
@click.option("--examples", type=click.Path(exists=True, path_type=Path), help="Articles to feed.")
@click.option("--exit-when-done", is_flag=True, help="Stop once every example is accounted for.")
def run(examples: Path | None, exit_when_done: bool) -> None:
    """Start the broker (embedded unless configured), a worker, feed the examples,
    and print every output record as it arrives. Ctrl-C stops everything."""
    from service.runner import run_demo

    code = run_demo(_settings(), examples or EXAMPLES_DIR / "articles.jsonl", exit_when_done)
    sys.exit(code)


if __name__ == "__main__":
    main()
