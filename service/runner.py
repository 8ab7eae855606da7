"""``newsstream run``: the whole service on one machine, fed with the bundled examples."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import FrameType

import click

from service.broker import BrokerError, ensure_topics, local_broker
from service.feed import Feeder, Follower, records_from_paths
from service.render import render
from service.settings import Settings
from service.topics import TopicNames


class _StopRequestedError(Exception):
    """SIGTERM, turned into an exception so the same cleanup runs as for Ctrl-C."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _StopRequestedError


def spawn_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """A worker in its own process and session, logging to a file."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "service.cli", "worker"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **env},
            start_new_session=True,
        )


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_demo(settings: Settings, examples: Path, exit_when_done: bool) -> int:
    started = time.monotonic()
    echo = click.echo
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    # Set both explicitly: a shell starting us in the background may have ignored SIGINT.
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    broker = None
    worker = None
    try:
        if settings.uses_embedded_broker:
            server = local_broker(port=settings.embedded_port, log_file=data_dir / "broker.log")
            try:
                server.start()
                broker = server
            except BrokerError as exc:
                echo(
                    f"cannot start the broker: {exc}. Set NEWSSTREAM_EMBEDDED_PORT or "
                    "NEWSSTREAM_BROKER_URL.",
                    err=True,
                )
                return 1
            echo(f"● {server.name} on {server.bootstrap}")
            settings = settings.model_copy(update={"broker_url": server.bootstrap})
        names = TopicNames.from_settings(settings)
        ensure_topics(
            settings.bootstrap_servers(),
            names.external(),
            settings.partitions,
            settings.replication_factor,
            settings.topic_configs(),
            **settings.kafka_python_admin_config(),
        )
        echo(f"● topics: {', '.join(names.external())} ({settings.partitions} partitions each)")

        worker_log = data_dir / "worker.log"
        env = {"NEWSSTREAM_BROKER_URL": settings.faust_broker_url()}
        worker = spawn_worker(env, worker_log)
        echo(
            f"● worker pid {worker.pid} (log: {worker_log}); "
            f"metrics at http://{settings.web_host}:{settings.web_port}/metrics"
        )

        records = list(records_from_paths([examples]))
        with Feeder(settings) as feeder:
            # One partition keeps the file's order, so the outlet that published first is
            # the original and its re-post the duplicate, as a reader of the file expects.
            feeder.send_all(records, names.raw, partition=0)
        echo(f"● produced {len(records)} example records from {examples} to {names.raw}")
        echo("  waiting for the worker to join its group and process them …\n")

        return _watch(settings, names, worker, worker_log, len(records), started, exit_when_done)
    except (KeyboardInterrupt, _StopRequestedError):
        echo("\n● stopping …")
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        if worker is not None:
            code = stop_process(worker)
            echo(f"● worker stopped (exit code {code})")
        if broker is not None:
            broker.stop()
            echo("● broker stopped")


def _watch(
    settings: Settings,
    names: TopicNames,
    worker: subprocess.Popen[bytes],
    worker_log: Path,
    expected: int,
    started: float,
    exit_when_done: bool,
) -> int:
    labels = {
        names.enriched: "enriched",
        names.duplicates: "duplicates",
        names.deadletter: "dead letters",
    }
    counts: Counter[str] = Counter()
    follower = Follower(settings, names.outputs())
    try:
        while True:
            if worker.poll() is not None:
                click.echo(
                    f"worker exited with code {worker.returncode}; last log lines:\n"
                    f"{_tail(worker_log)}",
                    err=True,
                )
                return 1
            for topic, _key, value in follower.poll(0.3):
                counts[topic] += 1
                click.echo(render(settings, topic, value))
                done = sum(counts.values())
                summary = " · ".join(f"{labels[t]} {counts[t]}" for t in names.outputs())
                click.secho(
                    f"   [{done}/{expected}] {summary} · {time.monotonic() - started:.1f} s\n",
                    dim=True,
                )
                if done == expected:
                    click.echo(
                        f"● all {expected} examples accounted for in "
                        f"{time.monotonic() - started:.1f} s."
                    )
                    if exit_when_done:
                        return 0
                    click.echo(
                        "  The worker keeps running: produce more with `newsstream produce "
                        "FILE` in another terminal. Ctrl-C to stop.\n"
                    )
    finally:
        follower.close()
