"""The commands a newcomer types, run as subprocesses against a real broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest

from service.broker import ensure_topics, free_port, port_open
from service.feed import Follower
from service.topics import TopicNames
from tests.conftest import EXAMPLES, ROOT, isolated_settings, settings_env

pytestmark = pytest.mark.integration


def _newsstream(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_run_prints_every_example_and_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    """`newsstream run`: its own broker, topics, worker and examples; Ctrl-C stops it all."""
    env = {
        "NEWSSTREAM_EMBEDDED_PORT": str(free_port()),
        "NEWSSTREAM_WEB_PORT": str(free_port()),
        "NEWSSTREAM_DATA_DIR": str(tmp_path / "state"),
        "NEWSSTREAM_SESSION_TIMEOUT_S": "6",
    }
    base_env = {k: v for k, v in os.environ.items() if k != "NEWSSTREAM_BROKER_URL"}
    out_path = tmp_path / "run.out"
    with (
        out_path.open("w") as out_file,
        subprocess.Popen(
            [sys.executable, "-m", "service.cli", "run"],
            stdout=out_file,
            stderr=subprocess.STDOUT,
            env={**base_env, **env},
            cwd=ROOT,
        ) as process,
    ):
        deadline = time.monotonic() + 120
        while "accounted for" not in out_path.read_text():
            assert process.poll() is None, out_path.read_text()
            assert time.monotonic() < deadline, out_path.read_text()
            time.sleep(0.2)
        metrics_url = f"http://127.0.0.1:{env['NEWSSTREAM_WEB_PORT']}/metrics"
        with urllib.request.urlopen(metrics_url, timeout=5) as response:
            assert b"newsstream_records_consumed_total" in response.read()
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0, out_path.read_text()
    out = out_path.read_text()
    assert out.count("✔  ENRICHED") == 4, out
    assert out.count("≡  DUPLICATE") == 1, out
    assert out.count("✘  DEAD LETTER [decode/invalid_json]") == 1, out
    assert "exact copy of syr-2024-11-13-0017" in out
    assert "all 6 examples accounted for" in out
    assert "[6/6] enriched 4 · duplicates 1 · dead letters 1" in out
    assert "worker stopped (exit code 0)" in out
    assert "broker stopped" in out
    assert not port_open("127.0.0.1", int(env["NEWSSTREAM_EMBEDDED_PORT"]))
    assert not port_open("127.0.0.1", int(env["NEWSSTREAM_WEB_PORT"]))


def test_process_writes_one_output_line_per_input(tmp_path: Path) -> None:
    out_path = tmp_path / "out.jsonl"
    log = _newsstream("process", str(EXAMPLES / "articles.jsonl"), "--output", str(out_path))
    lines = [orjson.loads(line) for line in out_path.read_bytes().splitlines()]
    assert [line["topic"] for line in lines] == [
        "articles.enriched",
        "articles.duplicates",
        "articles.enriched",
        "articles.enriched",
        "articles.enriched",
        "articles.deadletter",
    ]
    assert lines[1]["value"]["duplicate_of"] == lines[0]["value"]["article_id"]
    assert lines[1]["key"] == lines[0]["key"] == lines[0]["value"]["story_id"]
    assert lines[5]["value"]["offset"] == 5
    assert "wrote 6 records" in log


def test_schemas_check_passes_on_the_checked_in_files() -> None:
    assert "up to date" in _newsstream("schemas", "--check")


def test_schemas_check_fails_on_a_stale_directory(tmp_path: Path) -> None:
    _newsstream("schemas", "--output-dir", str(tmp_path))
    (tmp_path / "raw-article.schema.json").write_text("{}\n")
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "schemas", "--check", "--output-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 1
    assert "raw-article.schema.json" in result.stderr


def test_every_command_has_useful_help() -> None:
    for command in ("run", "worker", "broker", "produce", "tail", "process", "schemas"):
        text = _newsstream(command, "--help")
        assert f"Usage: python -m service.cli {command}" in text
        assert len(text.splitlines()) > 4, command


def test_produce_and_tail_round_trip(broker: str, tmp_path: Path) -> None:
    settings = isolated_settings(broker, tmp_path)
    names = TopicNames.from_settings(settings)
    ensure_topics(settings.bootstrap_servers(), names.external(), settings.partitions)
    env = settings_env(settings)
    html = tmp_path / "page.html"
    html.write_text("<html><body><article><p>Hello there.</p></article></body></html>")
    text = tmp_path / "note.txt"
    text.write_text("A title\n\nSome text.")
    log = _newsstream("produce", str(EXAMPLES / "articles.jsonl"), str(html), str(text), env=env)
    assert f"sent 8 records to {names.raw}" in log

    follower = Follower(settings, [names.raw])
    got = []
    deadline = time.monotonic() + 30
    while len(got) < 8 and time.monotonic() < deadline:
        got.extend(follower.poll(0.5))
    follower.close()
    values = [orjson.loads(v) for _t, _k, v in got if v.startswith(b"{")]
    assert {v.get("content_type") for v in values} == {"text/plain", "text/html"}
    assert {v["source"] for v in values} >= {"page", "note", "syria-local.example"}

    tailed = _newsstream(
        "tail", names.raw, "--raw", "--max", "8", "--idle-timeout", "10", env=env
    ).splitlines()
    assert len([line for line in tailed if line.startswith("{")]) == 8


def test_broker_command_starts_and_stops_on_interrupt() -> None:
    port = free_port()
    with subprocess.Popen(
        [sys.executable, "-m", "service.cli", "broker", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    ) as process:
        assert process.stdout is not None
        banner = ""
        for line in process.stdout:
            banner += line
            if "listening on" in line:
                break
        assert f"listening on 127.0.0.1:{port}" in banner
        assert port_open("127.0.0.1", port)
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
        assert "broker stopped" in process.stdout.read()
    assert not port_open("127.0.0.1", port)
