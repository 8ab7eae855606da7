"""The operations files: valid for their tools, and consistent with the code and each other.

Metric names come from the metric catalogue in ``service.metrics`` and the recording
rules, never from a list kept here, so a renamed metric breaks these tests and not a
dashboard in production. Checks that need promtool (Debian's ``prometheus`` package) or
docker-compose are skipped without them; ``.ci/run`` installs both.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from service.metrics import Metrics
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS_GUIDE = ROOT / "docs" / "operations.md"
DEPLOY = ROOT / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS / "prometheus.yml"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
GRAFANA = DEPLOY / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "newsstream.json"
K8S = DEPLOY / "k8s"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"

PROMTOOL = shutil.which("promtool")
DOCKER_COMPOSE = shutil.which("docker-compose")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not installed (Debian package 'prometheus'; .ci/run installs it)",
)
needs_docker_compose = pytest.mark.skipif(
    DOCKER_COMPOSE is None,
    reason="docker-compose not installed (Debian package; .ci/run installs it)",
)

# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"job", "instance"}
# Grafana's interval variables, replaced by plain durations to check the expressions.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}


def _promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


# ------------------------------------------------------------------ the metric catalogue

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}


@cache
def exported_series() -> dict[str, frozenset[str]]:
    """Every series name a worker exports, with its label names (Prometheus adds job/instance)."""
    metrics = Metrics()
    series: dict[str, frozenset[str]] = {}
    for collector in vars(metrics).values():
        if not isinstance(collector, MetricWrapperBase):
            continue
        for family in collector.collect():
            labels = set(collector._labelnames)
            labels |= {name for sample in family.samples for name in sample.labels}
            for suffix in _SUFFIXES[family.type]:
                extra = {"le"} if suffix == "_bucket" else set()
                series[family.name + suffix] = frozenset(labels | extra | TARGET_LABELS)
    series["up"] = frozenset(TARGET_LABELS)
    return series


def family_of(series_name: str) -> str:
    for suffix in ("_total", "_created", "_bucket", "_count", "_sum", "_info"):
        if series_name.endswith(suffix):
            return series_name[: -len(suffix)]
    return series_name


def catalogue_families() -> set[str]:
    return {family_of(name) for name in exported_series() if name != "up"}


# ------------------------------------------------------------------ PromQL, roughly

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_VARIABLE = re.compile(r"\$\{?\w+\}?")
_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")
_RANGE = re.compile(r"\[[^\]]*\]")
_OFFSET = re.compile(r"\boffset\s+-?\w+")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NUMBER = re.compile(r"(?<![\w:.])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_IDENTIFIER = re.compile(r"[A-Za-z_:][\w:]*")
_KEYWORDS = {
    *("and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"),
    *("by", "without", "on", "ignoring", "group_left", "group_right"),
}


def metric_names(expr: str) -> set[str]:
    """Series names an expression reads (function names, keywords and labels left out)."""
    text = _VARIABLE.sub("", _STRING.sub('""', expr))
    text = _SELECTOR.sub(lambda m: f" {m.group(1) or ''} ", text)
    text = _NUMBER.sub(" ", _GROUPING.sub(" ", _OFFSET.sub(" ", _RANGE.sub(" ", text))))
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name = match.group()
        if name.lower() in _KEYWORDS or text[match.end() :].lstrip().startswith("("):
            continue
        names.add(name)
    return names


def label_matchers(expr: str) -> Iterator[tuple[str, set[str]]]:
    """(series name, label names it is filtered on) for every ``name{...}`` selector."""
    text = _STRING.sub('""', expr)
    for match in _SELECTOR.finditer(text):
        if match.group(1):
            yield match.group(1), set(_MATCHER.findall(match.group(2)))


def test_the_promql_reader_finds_metrics_and_skips_the_rest() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (stage, le) (rate(a_bucket{le=~"30(\\\\.0)?"}[5m])))'
        " / on (stage) group_left b:c:d - time() + count by (version) (up offset 1m)"
        ' and sum(e{x="by (f)"}[$__rate_interval]) > 1e3 or vector(0)'
    )
    assert metric_names(expr) == {"a_bucket", "b:c:d", "up", "e"}
    assert dict(label_matchers(expr)) == {"a_bucket": {"le"}, "e": {"x"}}


# ------------------------------------------------------------------ rules


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules() -> list[dict[str, Any]]:
    return [
        rule for f in RULE_FILES for group in _load_yaml(f)["groups"] for rule in group["rules"]
    ]


def recording_rules() -> dict[str, str]:
    return {rule["record"]: rule["expr"] for rule in rules() if "record" in rule}


def alert_rules() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def known_series() -> set[str]:
    return set(exported_series()) | set(recording_rules())


def _check_expression(expr: str, where: str) -> None:
    unknown = metric_names(expr) - known_series()
    assert not unknown, f"{where}: unknown metrics {sorted(unknown)} in {expr!r}"
    for name, labels in label_matchers(expr):
        if name in exported_series():
            extra = labels - exported_series()[name]
            assert not extra, f"{where}: {name} has no label {sorted(extra)}"


def test_there_are_recording_and_alerting_rules() -> None:
    assert {f.name for f in RULE_FILES} == {"newsstream-recording.yml", "newsstream-alerts.yml"}
    assert len(recording_rules()) >= 10
    assert len(alert_rules()) >= 5


def test_rule_expressions_read_only_exported_or_recorded_series() -> None:
    for rule in rules():
        _check_expression(rule["expr"], rule.get("record") or rule["alert"])


def test_recorded_names_follow_level_metric_operation_and_are_unique() -> None:
    names = [rule["record"] for rule in rules() if "record" in rule]
    assert len(names) == len(set(names))
    for name in names:
        level, metric, operation = name.split(":")
        assert level, name
        assert operation, name
        assert metric.startswith(("newsstream_", "deadletter_", "workers_")), name


def test_every_alert_says_what_is_wrong_and_what_to_do() -> None:
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names))
    # The five situations the service must page for.
    assert {
        "NewsstreamWorkerDown",
        "NewsstreamConsumerLagGrowing",
        "NewsstreamCommitStalled",
        "NewsstreamDeadLetterRateHigh",
        "NewsstreamLatencySLOBreach",
    } <= set(names)
    for rule in alert_rules():
        annotations = rule.get("annotations", {})
        assert annotations.get("summary", "").strip(), rule["alert"]
        runbook = annotations.get("runbook", "").strip()
        assert runbook, f"{rule['alert']}: no runbook"
        assert "\n" not in runbook, f"{rule['alert']}: runbook must be one line"
        assert rule.get("labels", {}).get("severity") in {"warning", "critical"}, rule["alert"]
        assert "for" in rule, f"{rule['alert']}: a single bad scrape must not page"


def test_worker_alerts_select_the_scrape_job() -> None:
    config = _load_yaml(PROMETHEUS_CONFIG)
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    for rule in rules():
        for job in re.findall(r'job\s*=\s*"([^"]+)"', rule["expr"]):
            assert job in jobs, f"{rule.get('alert') or rule['record']} selects job {job!r}"


def _rule_tests() -> list[dict[str, Any]]:
    return [case for f in RULE_TESTS for case in _load_yaml(f)["tests"]]


def test_every_alert_has_a_unit_test_that_fires_and_one_that_stays_quiet() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in _rule_tests():
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = {rule["alert"] for rule in alert_rules()}
    assert alerts <= fires, f"never seen firing: {sorted(alerts - fires)}"
    assert alerts <= quiet, f"never seen quiet: {sorted(alerts - quiet)}"


def test_rule_unit_tests_load_the_real_rule_files() -> None:
    loaded = set()
    for path in RULE_TESTS:
        for name in _load_yaml(path)["rule_files"]:
            target = (path.parent / name).resolve()
            assert target.is_file(), f"{path.name}: {name} does not exist"
            loaded.add(target)
    assert loaded == {f.resolve() for f in RULE_FILES}


@needs_promtool
def test_promtool_accepts_the_rule_files() -> None:
    result = _promtool("check", "rules", *RULE_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_rule_unit_tests_pass() -> None:
    result = _promtool("test", "rules", *RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS), result.stdout


@needs_promtool
def test_promtool_rule_unit_tests_can_fail(tmp_path: Path) -> None:
    """The unit tests compare values: a wrong expectation is reported, not ignored."""
    source = RULE_TESTS[0]
    broken = yaml.safe_load(source.read_text(encoding="utf-8"))
    broken["rule_files"] = [str((source.parent / f).resolve()) for f in broken["rule_files"]]
    firing = next(
        check
        for case in broken["tests"]
        for check in case.get("alert_rule_test", [])
        if check.get("exp_alerts")
    )
    firing["exp_alerts"] = []
    path = tmp_path / "broken_test.yml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    result = _promtool("test", "rules", path)
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


# ------------------------------------------------------------------ prometheus.yml


def test_prometheus_config_scrapes_the_workers_and_loads_every_rule_file() -> None:
    config = _load_yaml(PROMETHEUS_CONFIG)
    (job,) = (j for j in config["scrape_configs"] if j["job_name"] == "newsstream")
    assert job.get("metrics_path", "/metrics") == "/metrics"
    (discovery,) = job["dns_sd_configs"]
    compose = compose_services()
    worker_env = environment(compose["worker"])
    assert discovery["names"] == ["worker"]
    assert "worker" in compose
    assert discovery["port"] == int(worker_env["NEWSSTREAM_WEB_PORT"])
    matched = {p for pattern in config["rule_files"] for p in PROMETHEUS.glob(pattern)}
    assert matched == set(RULE_FILES)


@needs_promtool
def test_promtool_accepts_the_prometheus_config() -> None:
    # rule_files are relative to the config file, so promtool resolves them from here too.
    result = _promtool("check", "config", PROMETHEUS_CONFIG)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"{len(RULE_FILES)} rule files found" in output
    for path in RULE_FILES:
        assert path.name in output


# ------------------------------------------------------------------ grafana


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def query_panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def dashboard_expressions() -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in query_panels() for t in p["targets"]]


def provisioned_datasource() -> dict[str, Any]:
    (path,) = (GRAFANA / "provisioning" / "datasources").glob("*.yml")
    data = _load_yaml(path)
    assert data["apiVersion"] == 1
    (source,) = data["datasources"]
    return dict(source)


def test_dashboard_is_a_grafana_dashboard() -> None:
    board = dashboard()
    assert board["uid"]
    assert board["title"]
    assert isinstance(board["schemaVersion"], int)
    assert board["schemaVersion"] >= 36
    assert board["panels"]


def test_panel_ids_are_unique_and_the_layout_fits_the_grid() -> None:
    panels = dashboard()["panels"]
    ids = [p["id"] for p in panels]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        grid = panel["gridPos"]
        x, y, w, h = (grid[k] for k in ("x", "y", "w", "h"))
        assert all(isinstance(v, int) for v in (x, y, w, h)), panel["title"]
        assert min(x, y) >= 0, panel["title"]
        assert min(w, h) > 0, panel["title"]
        assert x + w <= 24, panel["title"]
        for cx in range(x, x + w):
            for cy in range(y, y + h):
                assert (cx, cy) not in cells, f"{panel['title']} overlaps {cells[(cx, cy)]}"
                cells[(cx, cy)] = panel["title"]


def test_every_panel_queries_the_provisioned_datasource() -> None:
    source = provisioned_datasource()
    assert source["type"] == "prometheus"
    expected = {"type": "prometheus", "uid": source["uid"]}
    for panel in query_panels():
        assert panel["datasource"] == expected, panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target.get("datasource", expected) == expected, panel["title"]


def test_dashboard_queries_read_only_exported_or_recorded_series() -> None:
    for title, expr in dashboard_expressions():
        _check_expression(expr, f"panel {title!r}")


def _families_behind(expr: str, seen: frozenset[str] = frozenset()) -> set[str]:
    """Catalogue families an expression reads, through any recording rules it uses."""
    recorded = recording_rules()
    families = set()
    for name in metric_names(expr):
        if name in recorded and name not in seen:
            families |= _families_behind(recorded[name], seen | {name})
        elif name in exported_series():
            families.add(family_of(name))
    return families


def test_dashboard_shows_every_metric_and_every_recording_rule() -> None:
    shown = set().union(*(_families_behind(expr) for _title, expr in dashboard_expressions()))
    assert catalogue_families() | {"up"} <= shown, sorted(catalogue_families() - shown)
    used = set().union(*(metric_names(expr) for _title, expr in dashboard_expressions()))
    used |= set().union(*(metric_names(rule["expr"]) for rule in alert_rules()))
    unused = set(recording_rules()) - used
    assert not unused, f"recording rules nothing reads: {sorted(unused)}"


def test_dashboard_breaks_the_series_down_the_way_operators_need() -> None:
    exprs = " ".join(expr for _title, expr in dashboard_expressions())
    for quantile in ("p50", "p95", "p99"):
        assert f"stage:newsstream_stage_duration_seconds:{quantile}_5m" in exprs
        assert f"topic:newsstream_ingest_to_publish_seconds:{quantile}_5m" in exprs
    legends = [t.get("legendFormat", "") for p in query_panels() for t in p["targets"]]
    for label in ("topic", "partition", "stage", "reason", "method", "event_type", "language"):
        assert any(f"{{{{{label}}}}}" in legend for legend in legends), label
    assert any("{{topic}}/{{partition}}" in legend for legend in legends)


@needs_promtool
def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query (as a recording rule), Grafana's variables filled in."""
    recorded = []
    for n, (_title, expr) in enumerate(dashboard_expressions()):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, expr
        recorded.append({"record": f"dashboard:query_{n}:check", "expr": expr})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]}))
    result = _promtool("check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_provisioning_matches_compose() -> None:
    grafana = compose_services()["grafana"]
    mounts = dict(_bind_mounts(grafana))
    assert mounts["/etc/grafana/provisioning"] == GRAFANA / "provisioning"
    (provider_file,) = (GRAFANA / "provisioning" / "dashboards").glob("*.yml")
    (provider,) = _load_yaml(provider_file)["providers"]
    assert provider["type"] == "file"
    assert mounts[provider["options"]["path"]] == DASHBOARD.parent
    home = environment(grafana).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    assert home == f"{provider['options']['path']}/{DASHBOARD.name}"
    url = provisioned_datasource()["url"]
    assert url == "http://prometheus:9090"
    assert "prometheus" in compose_services()


# ------------------------------------------------------------------ kubernetes


@cache
def k8s_documents() -> tuple[dict[str, Any], ...]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                docs.append({**doc, "_file": path.name})
    return tuple(docs)


def k8s(kind: str) -> dict[str, Any]:
    (doc,) = (d for d in k8s_documents() if d["kind"] == kind)
    return doc


def worker_container() -> dict[str, Any]:
    (container,) = k8s("Deployment")["spec"]["template"]["spec"]["containers"]
    return dict(container)


def config_map_settings() -> dict[str, str]:
    return dict(k8s("ConfigMap")["data"])


def _settings_from_env(env: dict[str, str]) -> Settings:
    fields = {}
    for key, value in env.items():
        assert key.startswith("NEWSSTREAM_"), key
        name = key.removeprefix("NEWSSTREAM_").lower()
        assert name in Settings.model_fields, f"{key} is not a setting"
        fields[name] = value
    return Settings(**fields)  # type: ignore[arg-type]


def test_k8s_manifests_parse_and_have_every_kind() -> None:
    kinds = {d["kind"] for d in k8s_documents()}
    assert {"Deployment", "Service", "ConfigMap", "Secret", "HorizontalPodAutoscaler"} <= kinds
    assert kinds & {"PodMonitor", "ServiceMonitor"}
    for doc in k8s_documents():
        assert doc["apiVersion"], doc["_file"]
        if doc["kind"] != "Kustomization":
            assert doc["metadata"]["name"], doc["_file"]


def test_the_worker_runs_unprivileged_on_a_read_only_root() -> None:
    pod = k8s("Deployment")["spec"]["template"]["spec"]
    container = worker_container()
    security = {**pod.get("securityContext", {}), **container["securityContext"]}
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == dockerfile_uid() != 0
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    data_dir = config_map_settings()["NEWSSTREAM_DATA_DIR"]
    assert "emptyDir" in volumes[mounts[data_dir]]
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_probes_hit_the_health_endpoints_on_the_metrics_port() -> None:
    container = worker_container()
    settings = _settings_from_env(config_map_settings())
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert settings.web_host == "0.0.0.0"
    for probe, path in (
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
        ("startupProbe", "/healthz"),
    ):
        get = container[probe]["httpGet"]
        assert get["path"] == path, probe
        assert ports[get["port"]] == settings.web_port, probe
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind])


def test_config_map_holds_valid_settings_and_no_credentials() -> None:
    data = config_map_settings()
    settings = _settings_from_env(data)
    assert settings.data_dir == Path("/var/lib/newsstream")
    assert not {"NEWSSTREAM_SASL_PASSWORD", "NEWSSTREAM_SASL_USERNAME"} & set(data)
    sources = worker_container()["envFrom"]
    assert {"configMapRef": {"name": k8s("ConfigMap")["metadata"]["name"]}} in sources


def test_the_secret_template_carries_the_sasl_credentials() -> None:
    secret = k8s("Secret")
    assert set(secret["stringData"]) == {"NEWSSTREAM_SASL_USERNAME", "NEWSSTREAM_SASL_PASSWORD"}
    refs = [s["secretRef"] for s in worker_container()["envFrom"] if "secretRef" in s]
    assert refs == [{"name": secret["metadata"]["name"], "optional": True}]
    # A template, not a credential: nothing but placeholders in the repository.
    assert all(v.startswith("<") for v in secret["stringData"].values())


def test_the_autoscaler_scales_the_deployment_on_consumer_lag() -> None:
    hpa = k8s("HorizontalPodAutoscaler")
    deployment = k8s("Deployment")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        deployment["apiVersion"],
        "Deployment",
        deployment["metadata"]["name"],
    )
    (metric,) = hpa["spec"]["metrics"]
    source = metric[metric["type"].lower()]
    assert metric["type"] in {"External", "Pods"}
    assert source["metric"]["name"] == "newsstream_consumer_lag_records"
    assert source["metric"]["name"] in exported_series()
    settings = _settings_from_env(config_map_settings())
    assert source["metric"]["selector"]["matchLabels"]["topic"] == settings.topic_raw
    # More workers than raw partitions would sit idle.
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] <= settings.partitions
    assert deployment["spec"]["replicas"] <= settings.partitions


def test_service_and_monitor_select_the_worker_pods() -> None:
    pod_labels = k8s("Deployment")["spec"]["template"]["metadata"]["labels"]
    port_names = {p["name"] for p in worker_container()["ports"]}
    service = k8s("Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    monitor = next(d for d in k8s_documents() if d["kind"] in {"PodMonitor", "ServiceMonitor"})
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    endpoints = monitor["spec"].get("podMetricsEndpoints") or monitor["spec"]["endpoints"]
    for endpoint in endpoints:
        assert endpoint["port"] in port_names
        assert endpoint["path"] == "/metrics"
    # The alert rules select job="newsstream".
    assert pod_labels[monitor["spec"]["jobLabel"]] == "newsstream"


def test_kustomization_applies_everything_but_the_secret_template() -> None:
    kustomization = k8s("Kustomization")
    resources = set(kustomization["resources"])
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert resources == files - {"secret.template.yaml"}


# ------------------------------------------------------------------ docker-compose.yml

_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def _interpolate(value: Any) -> Any:
    """Compose's ${NAME:-default} with nothing set, and $$ for a literal $."""
    if isinstance(value, str):
        return _INTERPOLATION.sub(lambda m: m.group(2) or "", value).replace("$$", "$")
    if isinstance(value, list):
        return [_interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: _interpolate(v) for k, v in value.items()}
    return value


@cache
def _compose() -> dict[str, Any]:
    data: dict[str, Any] = _interpolate(_load_yaml(COMPOSE))
    return data


def compose_services() -> dict[str, Any]:
    return dict(_compose()["services"])


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _bind_mounts(service: dict[str, Any]) -> Iterator[tuple[str, Path]]:
    """(container path, host path) of the service's bind mounts."""
    for volume in service.get("volumes", []):
        source, target, *_mode = volume.split(":")
        if source.startswith("."):
            yield target, (ROOT / source).resolve()


@needs_docker_compose
def test_docker_compose_accepts_the_file() -> None:
    assert DOCKER_COMPOSE is not None
    result = subprocess.run(
        [DOCKER_COMPOSE, "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_kafka_the_workers_and_their_monitoring() -> None:
    services = compose_services()
    assert {"kafka", "topics", "worker", "producer", "prometheus", "grafana"} <= set(services)
    assert "zookeeper" not in services
    kafka = environment(services["kafka"])
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"]
    for name, service in services.items():
        if "image" in service and "build" not in service:
            image = service["image"]
            assert re.search(r"(:v?\d+\.\d+\.\d+|@sha256:[0-9a-f]{64})$", image), (name, image)


def test_workers_scale_and_run_locked_down() -> None:
    worker = compose_services()["worker"]
    assert "ports" not in worker
    assert "container_name" not in worker
    settings = _settings_from_env(environment(worker))
    assert settings.web_host == "0.0.0.0"
    assert settings.broker_url is not None
    assert "kafka:9092" in settings.broker_url
    assert worker["read_only"] is True
    assert str(settings.data_dir) in worker["tmpfs"]
    assert worker["cap_drop"] == ["ALL"]
    assert worker["build"]["dockerfile"] == "deploy/Dockerfile"


def test_the_topics_job_creates_what_the_workers_expect() -> None:
    services = compose_services()
    job = services["topics"]
    script = " ".join(job["command"])
    settings = _settings_from_env(environment(services["worker"]))
    for topic in settings.all_topics():
        assert topic in script, topic
    assert environment(job)["PARTITIONS"] == str(settings.partitions)
    worker_deps = services["worker"]["depends_on"]
    assert worker_deps["topics"]["condition"] == "service_completed_successfully"


def test_the_producer_loads_the_examples_shipped_in_the_image() -> None:
    producer = compose_services()["producer"]
    command, path = producer["command"]
    assert command == "produce"
    copies = [args for instruction, args in dockerfile() if instruction == "COPY"]
    assert any(
        args.split()[-1].rstrip("/") == str(Path(path).parent) and "service/data/examples" in args
        for args in copies
    ), copies
    assert (ROOT / "service" / "data" / "examples" / Path(path).name).is_file()


def test_prometheus_and_grafana_mount_the_repository_config() -> None:
    services = compose_services()
    prometheus = services["prometheus"]
    mounts = dict(_bind_mounts(prometheus))
    config = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    config_path = Path(config.split("=", 1)[1])
    assert mounts[str(config_path.parent)] / config_path.name == PROMETHEUS_CONFIG
    for name, service in services.items():
        for published in service.get("ports", []):
            assert published.startswith("127.0.0.1:"), f"{name} is published on all interfaces"


# ------------------------------------------------------------------ Dockerfile


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, args = line.strip().partition(" ")
            out.append((instruction.upper(), args.strip()))
    return out


def dockerfile_uid() -> int:
    users = [args for instruction, args in dockerfile() if instruction == "USER"]
    return int(users[-1].split(":")[0])


def test_dockerfile_is_multi_stage_on_a_pinned_base() -> None:
    steps = dockerfile()
    args = dict(a.split("=", 1) for instruction, a in steps if instruction == "ARG" and "=" in a)
    bases = [a.split()[0] for instruction, a in steps if instruction == "FROM"]
    assert len(bases) >= 2
    stages = {a.split()[-1] for instruction, a in steps if instruction == "FROM" and " AS " in a}
    for base in bases:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
        if image in stages:
            continue
        assert ":latest" not in image
        assert re.search(r"(:\d+\.\d+\.\d+[\w.-]*|@sha256:[0-9a-f]{64})$", image), image


def test_dockerfile_runs_as_a_non_root_user_with_a_health_check() -> None:
    steps = dockerfile()
    final = steps[max(i for i, (instruction, _) in enumerate(steps) if instruction == "FROM") :]
    users = [a for instruction, a in final if instruction == "USER"]
    assert users
    assert users[-1] not in {"root", "0", "0:0"}
    assert dockerfile_uid() > 0
    (healthcheck,) = [a for instruction, a in final if instruction == "HEALTHCHECK"]
    assert "/healthz" in healthcheck
    env = " ".join(a for instruction, a in final if instruction == "ENV")
    assert "NEWSSTREAM_WEB_HOST=0.0.0.0" in env
    port = Settings.model_fields["web_port"].default
    assert f"NEWSSTREAM_WEB_PORT={port}" in env
    exposed = [a for instruction, a in final if instruction == "EXPOSE"]
    assert exposed == [str(port)]
    assert not any(instruction == "ADD" for instruction, _ in steps)


def test_dockerfile_exec_forms_are_valid_json() -> None:
    """Docker silently runs a malformed exec form (``["a", b]``) through a shell instead."""
    forms = [a for instruction, a in dockerfile() if instruction in {"CMD", "ENTRYPOINT"}]
    forms += [
        a.split(" CMD ", 1)[1] for instruction, a in dockerfile() if instruction == "HEALTHCHECK"
    ]
    assert len(forms) >= 3
    for form in forms:
        assert form.startswith("["), form
        assert all(isinstance(part, str) for part in json.loads(form)), form


# ------------------------------------------------------------------ docs/operations.md


def test_the_operations_guide_covers_alerts_manifests_and_security_settings() -> None:
    text = OPERATIONS_GUIDE.read_text(encoding="utf-8")
    for rule in alert_rules():
        assert f"`{rule['alert']}`" in text, rule["alert"]
    for path in K8S.glob("*.yaml"):
        if path.name != "kustomization.yaml":
            assert f"`{path.name}`" in text, path.name
    security = [n for n in Settings.model_fields if n.startswith(("security", "sasl", "ssl"))]
    assert len(security) >= 4
    for name in security:
        assert f"NEWSSTREAM_{name.upper()}" in text, name
    assert "(../README.md#metrics)" in text


def test_compose_topics_have_room_for_the_largest_dead_letter() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    assert f"max.message.bytes={Settings().max_message_bytes()}" in text
