"""Shared fixtures. Integration tests get a real broker that this session starts and stops."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.broker import free_port, local_broker
from service.runner import stop_process
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "service" / "data" / "examples"
SHARED = ROOT.parent / "shared"
_ids = itertools.count()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Kafka-protocol broker for the whole session: the same launcher as `newsstream run`."""
    log_file = tmp_path_factory.mktemp("broker") / "broker.log"
    server = local_broker(log_file=log_file)
    server.start()
    try:
        yield server.bootstrap
    finally:
        server.stop()


def isolated_settings(bootstrap: str, tmp_path: Path, **overrides: object) -> Settings:
    """Settings with topic names and group of their own, so tests never see each other's data."""
    n = next(_ids)
    prefix = f"t{os.getpid()}-{n}"
    values: dict[str, object] = {
        "broker_url": bootstrap,
        "app_id": f"newsstream-{prefix}",
        "topic_raw": f"{prefix}.articles.raw",
        "topic_enriched": f"{prefix}.articles.enriched",
        "topic_duplicates": f"{prefix}.articles.duplicates",
        "topic_deadletter": f"{prefix}.articles.deadletter",
        "web_port": free_port(),
        "data_dir": tmp_path / "state",
        "session_timeout_s": 6.0,
        "lag_interval_s": 0.5,
        "log_level": "info",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def settings_env(settings: Settings) -> dict[str, str]:
    """The same settings as NEWSSTREAM_* variables, for a worker in a child process."""
    env = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is not None:
            env[f"NEWSSTREAM_{name.upper()}"] = str(value)
    return env


class WorkerProcess:
    """``newsstream worker`` in a child process, as an operator would run it."""

    def __init__(
        self, settings: Settings, log_path: Path, command: list[str] | None = None
    ) -> None:
        self.settings = settings
        self.log_path = log_path
        self.command = command or ["-m", "service.cli", "worker"]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://{self.settings.web_host}:{self.settings.web_port}/metrics"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, *self.command],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **settings_env(self.settings)},
                cwd=ROOT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.metrics_url, timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"worker web server never came up:\n{self.log()}")

    def readiness(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body) of /readyz."""
        url = f"http://{self.settings.web_host}:{self.settings.web_port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def scrape(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            return str(response.read().decode("utf-8"))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def notable(self, limit: int = 40) -> str:
        """Warnings, errors and the consumer's offset notes, for a failure message."""
        keep = (
            "WARNING",
            "ERROR",
            "CRITICAL",
            "not in the log",
            "fetching again",
            "sought to",
            "Traceback",
        )
        skip = ("producer buffer full", "Timer commit is overlapping")
        lines = [
            line
            for line in self.log_path.read_text(errors="replace").splitlines()
            if any(k in line for k in keep) and not any(k in line for k in skip)
        ]
        return "\n".join(lines[-limit:])

    def tasks(self, wait: float = 5) -> str:
        """Every thread's stack and asyncio task of the running worker, for a failure
        message when it stalls (the worker prints them on SIGUSR1)."""
        if self.process is None or self.process.poll() is not None:
            return "(worker not running)"
        start = self.log_path.stat().st_size
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + wait
        seen = -1
        while time.monotonic() < deadline:
            time.sleep(0.5)
            size = self.log_path.stat().st_size
            if size == seen and size > start:
                break  # the dump has stopped growing
            seen = size
        with self.log_path.open("rb") as log:
            log.seek(start)
            return log.read().decode("utf-8", errors="replace")

    def stop(self, timeout: float = 30) -> int | None:
        if self.process is None:
            return None
        return stop_process(self.process, timeout)


# Accounting tables that reliability tests leave behind, printed after the run.
ACCOUNTING: list[tuple[str, dict[str, int]]] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not ACCOUNTING:
        return
    columns = ["inputs", "outputs", "accounted", "replayed", "lost", "mismatched"]
    terminalreporter.section("record accounting")
    terminalreporter.write_line(f"{'test':<48}" + "".join(f"{c:>11}" for c in columns))
    for name, row in ACCOUNTING:
        cells = "".join(f"{row.get(c, 0):>11}" for c in columns)
        terminalreporter.write_line(f"{name[:48]:<48}{cells}")
