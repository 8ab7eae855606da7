"""A real Prometheus scrapes a worker that processed the bundled examples.

Prometheus (Debian's binary) runs on 127.0.0.1 with the repository's
``deploy/prometheus/prometheus.yml``, changed only where a test must: one-second
intervals, and the worker under test as the only target of the ``newsstream`` job. It
loads the real rule files. The tests then ask its HTTP API what an operator would:
the counts of a known batch, the recording rules, the alerts and the dashboard's queries.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from service import __version__
from service.broker import ensure_topics, free_port
from service.feed import Feeder, records_from_paths
from service.runner import stop_process
from service.settings import Settings
from service.topics import TopicNames
from tests.conftest import EXAMPLES, ROOT, WorkerProcess, isolated_settings

PROMETHEUS_BIN = shutil.which("prometheus")
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "newsstream.json"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        PROMETHEUS_BIN is None,
        reason="prometheus not installed (Debian package 'prometheus'; .ci/run installs it)",
    ),
]

# The bundled examples: 4 distinct articles, 1 re-post, 1 line that is not JSON.
EXPECTED = {"enriched": 4, "duplicates": 1, "deadletter": 1}
INPUTS = sum(EXPECTED.values())


class PrometheusServer:
    """``prometheus`` on a free port of 127.0.0.1 with its own storage directory."""

    def __init__(self, config: dict[str, Any], workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = workdir / "prometheus.yml"
        self.log_path = workdir / "prometheus.log"
        self.process: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")

    def start(self, timeout: float = 30) -> None:
        assert PROMETHEUS_BIN is not None
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    PROMETHEUS_BIN,
                    f"--config.file={self.config_path}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"prometheus never became ready:\n{self.log()}")

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=5) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read())
        assert body["status"] == "success", f"{path} {params}: {body}"
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", expr
        return list(data["result"])

    def value(self, expr: str) -> float:
        (sample,) = self.query(expr)
        return float(sample["value"][1])

    def by_label(self, expr: str, label: str) -> dict[str, float]:
        return {s["metric"][label]: float(s["value"][1]) for s in self.query(expr)}

    def wait_for(self, expr: str, timeout: float = 60) -> None:
        """Until the expression returns at least one sample."""
        deadline = time.monotonic() + timeout
        while not self.query(expr):
            if time.monotonic() > deadline:
                pytest.fail(f"no result for {expr!r} after {timeout:.0f}s\n{self.log()}")
            time.sleep(0.25)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self, timeout: float = 15) -> None:
        if self.process is not None:
            stop_process(self.process, timeout)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def prometheus_config(target: str) -> dict[str, Any]:
    """The repository's config with 1 s intervals, scraping only ``target`` as the worker."""
    config: dict[str, Any] = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [
        str(path)
        for pattern in config["rule_files"]
        for path in sorted(PROMETHEUS_DIR.glob(pattern))
    ]
    (job,) = (j for j in config["scrape_configs"] if j["job_name"] == "newsstream")
    job.pop("dns_sd_configs")
    job["static_configs"] = [{"targets": [target]}]
    config["scrape_configs"] = [job]
    return config


def rule_file_rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
        for group in load_yaml(path)["groups"]
        for rule in group["rules"]
    ]


@dataclass
class Scraped:
    settings: Settings
    names: TopicNames
    prometheus: PrometheusServer
    worker: WorkerProcess


@pytest.fixture(scope="module")
def scraped(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    tmp = tmp_path_factory.mktemp("prometheus")
    settings = isolated_settings(broker, tmp)
    names = TopicNames.from_settings(settings)
    ensure_topics(settings.bootstrap_servers(), names.external(), settings.partitions)
    worker = WorkerProcess(settings, tmp / "worker.log")
    worker.start()
    target = f"{settings.web_host}:{settings.web_port}"
    prometheus = PrometheusServer(prometheus_config(target), tmp / "prometheus")
    try:
        prometheus.start()
        # Scraped at least once before any record: the stage histograms start at zero,
        # so their rates (and the percentiles recorded from them) see every observation.
        prometheus.wait_for('newsstream_ready{job="newsstream"} == 1')
        with Feeder(settings) as feeder:
            records = list(records_from_paths([EXAMPLES / "articles.jsonl"]))
            assert feeder.send_all(records, names.raw, partition=0) == INPUTS
        prometheus.wait_for(f"sum(newsstream_records_produced_total) == {INPUTS}")
        # Recording rules have run on at least two scrapes of every new series.
        prometheus.wait_for("count(topic:newsstream_records_produced:rate1m) == 3", timeout=20)
        prometheus.wait_for("stage_reason:newsstream_deadletters:rate5m", timeout=20)
        prometheus.wait_for("language_event_type:newsstream_enriched_articles:rate5m", timeout=20)
        yield Scraped(settings, names, prometheus, worker)
    finally:
        prometheus.stop()
        code = worker.stop()
    assert code == 0, f"worker did not stop cleanly ({code}):\n{worker.log()}"


def test_prometheus_scrapes_the_worker(scraped: Scraped) -> None:
    p = scraped.prometheus
    target = f"{scraped.settings.web_host}:{scraped.settings.web_port}"
    (sample,) = p.query('up{job="newsstream"}')
    assert sample["metric"]["instance"] == target
    assert float(sample["value"][1]) == 1
    (active,) = p.api("targets", state="active")["activeTargets"]
    assert active["health"] == "up", active
    assert p.value("newsstream_ready") == 1
    assert p.by_label("newsstream_build_info", "version") == {__version__: 1}


def test_counts_of_the_known_batch(scraped: Scraped) -> None:
    p, names = scraped.prometheus, scraped.names
    assert p.value("sum(newsstream_records_produced_total)") == INPUTS
    assert p.by_label("sum by (topic) (newsstream_records_produced_total)", "topic") == {
        names.enriched: EXPECTED["enriched"],
        names.duplicates: EXPECTED["duplicates"],
        names.deadletter: EXPECTED["deadletter"],
    }
    assert p.value(f'newsstream_records_consumed_total{{topic="{names.raw}"}}') == INPUTS
    # The line that is not JSON is rejected while decoding; the rest reach the sequencer.
    (letter,) = p.query('newsstream_deadletters_total{reason="invalid_json"}')
    assert letter["metric"]["stage"] == "decode"
    assert float(letter["value"][1]) == 1
    assert p.value("sum(newsstream_deadletters_total)") == EXPECTED["deadletter"]
    assert p.value(f'newsstream_records_consumed_total{{topic="{names.prepared}"}}') == 5
    assert p.value('newsstream_duplicates_total{method="exact"}') == EXPECTED["duplicates"]
    assert p.value('sum(newsstream_stage_outcomes_total{stage="dedup"})') == 5
    assert p.value("sum(newsstream_enriched_articles_total)") == EXPECTED["enriched"]
    languages = p.by_label("sum by (language) (newsstream_enriched_articles_total)", "language")
    assert set(languages) == {"ar", "en"}
    assert sum(languages.values()) == EXPECTED["enriched"]
    assert p.value("newsstream_dedup_index_articles") == EXPECTED["enriched"]
    assert p.value('newsstream_stage_duration_seconds_count{stage="parse"}') == 5
    assert (
        p.value(f'newsstream_ingest_to_publish_seconds_count{{topic="{names.enriched}"}}')
        == EXPECTED["enriched"]
    )


def test_the_rule_files_are_loaded_and_evaluate_without_error(scraped: Scraped) -> None:
    groups = scraped.prometheus.api("rules")["groups"]
    loaded = {(rule["name"], rule["type"]) for group in groups for rule in group["rules"]}
    expected = {
        (rule.get("record") or rule["alert"], "recording" if "record" in rule else "alerting")
        for rule in rule_file_rules()
    }
    assert loaded == expected
    for group in groups:
        for rule in group["rules"]:
            assert rule["health"] == "ok", rule


def test_recording_rules_compute_from_the_scraped_series(scraped: Scraped) -> None:
    p, names = scraped.prometheus, scraped.names
    produced = p.by_label("topic:newsstream_records_produced:rate1m", "topic")
    assert set(produced) == {names.enriched, names.duplicates, names.deadletter}
    assert all(rate >= 0 for rate in produced.values())
    consumed = p.by_label("topic:newsstream_records_consumed:rate1m", "topic")
    assert {names.raw, names.prepared} <= set(consumed)
    # Five articles were parsed after a scrape of the empty histogram: a real percentile.
    p99 = p.value('stage:newsstream_stage_duration_seconds:p99_5m{stage="parse"}')
    assert 0 < p99 <= 1.0
    assert p.value("newsstream:workers_up:sum") == 1
    assert p.value("newsstream:workers_ready:sum") == 1
    (letters,) = p.query("stage_reason:newsstream_deadletters:rate5m")
    assert letters["metric"] == {
        "__name__": "stage_reason:newsstream_deadletters:rate5m",
        "stage": "decode",
        "reason": "invalid_json",
    }
    enriched = p.query("language_event_type:newsstream_enriched_articles:rate5m")
    assert {s["metric"]["language"] for s in enriched} <= {"ar", "en"}
    age = p.value(
        f'topic_partition:newsstream_commit_age_seconds:max{{topic="{names.raw}", partition="0"}}'
    )
    assert 0 <= age < 120


def test_alert_conditions_are_quiet_on_a_healthy_worker(scraped: Scraped) -> None:
    """Each alert's expression, evaluated on the live series, selects nothing."""
    for rule in rule_file_rules():
        if "alert" in rule:
            assert scraped.prometheus.query(rule["expr"]) == [], rule["alert"]
    firing = [a for a in scraped.prometheus.api("alerts")["alerts"] if a["state"] == "firing"]
    assert firing == []


def _dashboard_targets() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [
        (panel["title"], target["expr"])
        for panel in board["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def test_every_dashboard_query_runs_and_every_panel_has_data(scraped: Scraped) -> None:
    p = scraped.prometheus
    with_data: set[str] = set()
    titles: set[str] = set()
    for title, expr in _dashboard_targets():
        titles.add(title)
        for variable, duration in {"$__rate_interval": "1m", "$__range": "5m"}.items():
            expr = expr.replace(variable, duration)
        result = p.query(expr)  # fails on an invalid query
        if result:
            with_data.add(title)
            for sample in result:
                value = float(sample["value"][1])
                assert math.isnan(value) or value >= 0, (title, sample)
    assert titles == with_data, f"panels without data: {sorted(titles - with_data)}"


def _image_health_check() -> list[str]:
    """The Dockerfile's HEALTHCHECK command, with this interpreter as ``python``."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    match = re.search(r"^HEALTHCHECK .*? CMD (\[.*\])$", text, re.MULTILINE)
    assert match, "no exec-form HEALTHCHECK in the Dockerfile"
    command: list[str] = json.loads(match.group(1))
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


def test_the_image_health_check_passes_on_a_live_worker_only(scraped: Scraped) -> None:
    command = _image_health_check()
    alive = {**os.environ, "NEWSSTREAM_WEB_PORT": str(scraped.settings.web_port)}
    assert subprocess.run(command, env=alive, timeout=10, check=False).returncode == 0
    nobody = {**os.environ, "NEWSSTREAM_WEB_PORT": str(free_port())}
    result = subprocess.run(command, env=nobody, capture_output=True, timeout=10, check=False)
    assert result.returncode != 0
