"""The whole service on a real broker: a mixed batch in, every record accounted for once.

One worker process and one batch serve every test in this module; each test
checks one promise about the same run.
"""

from __future__ import annotations

import base64
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from service.batch import run_lines
from service.broker import ensure_topics
from service.feed import Feeder, Follower, records_from_paths
from service.pipeline import Pipeline
from service.settings import Settings
from service.topics import TopicNames
from tests.conftest import EXAMPLES, WorkerProcess, isolated_settings

pytestmark = pytest.mark.integration

MAX_BODY = 64 * 1024


def _raw(**fields: Any) -> bytes:
    base = {"source": "test.example", "fetched_at": "2024-11-13T10:00:00Z"}
    return orjson.dumps({**base, **fields})


# (name, value, expected output topic kind, expected dead-letter reason)
MALFORMED: list[tuple[str, bytes, str]] = [
    (
        "wrong schema",
        orjson.dumps({"title": "no source, no body", "fetched_at": 17}),
        "invalid_schema",
    ),
    (
        "truncated json",
        b'{"source": "x", "fetched_at": "2024-11-13T10:00:00Z", "bo',
        "invalid_json",
    ),
    ("empty body", _raw(body="   \n\t "), "empty_body"),
    ("empty record", b"", "empty_body"),
    ("binary garbage", bytes(range(256)) * 4, "undecodable"),
    ("over the size limit", _raw(body="كلمة " * (MAX_BODY // 4)), "body_too_large"),
    (
        "from the future",
        _raw(body="A future record.", schema_version="2.0"),
        "unsupported_schema_version",
    ),
    (
        "script only html",
        _raw(content_type="text/html", body="<html><script>x()</script></html>"),
        "no_content",
    ),
]


@dataclass
class Run:
    settings: Settings
    inputs: list[tuple[bytes | None, bytes]]
    outputs: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)
    metrics_text: str = ""
    committed: dict[int, int] = field(default_factory=dict)
    log_lines: list[str] = field(default_factory=list)

    def by_topic(self, topic: str) -> list[dict[str, Any]]:
        return [orjson.loads(v) for t, _k, v in self.outputs if t == topic]


def _inputs() -> list[tuple[bytes | None, bytes]]:
    examples = list(records_from_paths([EXAMPLES / "articles.jsonl"]))
    return examples + [(name.encode(), value) for name, value, _reason in MALFORMED]


@pytest.fixture(scope="module")
def run(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("e2e")
    settings = isolated_settings(broker, tmp, max_body_bytes=MAX_BODY, log_format="json")
    names = TopicNames.from_settings(settings)
    ensure_topics(settings.bootstrap_servers(), names.external(), settings.partitions)
    worker = WorkerProcess(settings, tmp / "worker.log")
    worker.start()
    result = Run(settings, _inputs())
    try:
        # One partition keeps the input order, so "first seen" is the same as in batch mode.
        with Feeder(settings) as feeder:
            feeder.send_all(result.inputs, names.raw, partition=0)
        result.outputs = _collect(settings, worker, expected=len(result.inputs))
        result.metrics_text = worker.scrape()
    finally:
        code = worker.stop()
    assert code == 0, f"worker did not stop cleanly ({code}):\n{worker.log()}"
    result.committed = _committed(settings)
    result.log_lines = worker.log_path.read_text().splitlines()
    return result


def _collect(
    settings: Settings, worker: WorkerProcess, expected: int, limit: float = 120.0
) -> list[tuple[str, bytes | None, bytes]]:
    """Read the output topics until every input is accounted for, then 3 s more for extras."""
    outputs: list[tuple[str, bytes | None, bytes]] = []
    follower = Follower(settings, TopicNames.from_settings(settings).outputs())
    deadline = time.monotonic() + limit
    quiet_until: float | None = None
    try:
        while True:
            batch = follower.poll(0.5)
            outputs.extend(batch)
            assert worker.process is not None
            assert worker.process.poll() is None, worker.log()
            now = time.monotonic()
            if len(outputs) > expected:
                return outputs
            if len(outputs) == expected:
                if batch or quiet_until is None:
                    quiet_until = now + 3
                elif now > quiet_until:
                    return outputs
            elif now > deadline:
                pytest.fail(
                    f"{len(outputs)} of {expected} outputs after {limit:.0f}s\n{worker.log()}"
                )
    finally:
        follower.close()


def _committed(settings: Settings) -> dict[int, int]:
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers())
    try:
        offsets = admin.list_group_offsets(settings.app_id)[settings.app_id]
    finally:
        admin.close()
    return {
        tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == settings.topic_raw
    }


def test_every_input_ends_on_exactly_one_output_topic(run: Run) -> None:
    s = run.settings
    enriched = run.by_topic(s.topic_enriched)
    duplicates = run.by_topic(s.topic_duplicates)
    letters = run.by_topic(s.topic_deadletter)
    assert len(enriched) + len(duplicates) + len(letters) == len(run.inputs)

    # Good examples: the Arabic sample, two English texts and an English HTML page are
    # enriched; the re-post of the sample is a duplicate.
    assert len(enriched) == 4
    assert {e["language"] for e in enriched} == {"ar", "en"}
    assert len({e["article_id"] for e in enriched}) == 4
    (notice,) = duplicates
    original = next(e for e in enriched if e["article_id"] == "syr-2024-11-13-0017")
    assert notice["duplicate_of"] == original["article_id"]
    assert notice["story_id"] == original["story_id"]
    assert notice["method"] == "exact"
    assert notice["source"] == "levant-wire.example"

    # Each bad record is in the dead-letter topic once, byte for byte, with its reason.
    sent = Counter(value for _key, value in run.inputs)
    kept = Counter(base64.b64decode(d["value_b64"]) for d in letters)
    expected_bad = [v for _k, v in run.inputs if v not in _good_values(run)]
    assert kept == Counter(expected_bad)
    assert all(sent[v] == 1 for v in kept)
    reasons = {base64.b64decode(d["value_b64"]): d["reason"] for d in letters}
    for name, value, reason in MALFORMED:
        assert reasons[value] == reason, name
    not_json = next(d for d in letters if base64.b64decode(d["value_b64"]).startswith(b"this line"))
    assert not_json["reason"] == "invalid_json"
    assert all(d["topic"] == s.topic_raw and d["partition"] == 0 for d in letters)


def _good_values(run: Run) -> set[bytes]:
    lines = (EXAMPLES / "articles.jsonl").read_bytes().splitlines()
    return {line for line in lines if line.startswith(b"{")}


def test_enriched_articles_are_parsed_and_classified(run: Run) -> None:
    enriched = {e["article_id"]: e for e in run.by_topic(run.settings.topic_enriched)}
    sample = enriched["syr-2024-11-13-0017"]
    assert sample["title"] == "التحالف الدولي يرسل تعزيزات عسكرية إلى قواعده بريف الحسكة ودير الزور"
    assert "زر الذهاب إلى الأعلى" not in sample["text"]
    assert sample["published_at"].startswith("2024-11-13")
    assert sample["topics"][0]["label"] == "conflict_security"
    for article in enriched.values():
        assert article["topics"], article["title"]
        for topic in article["topics"]:
            for ev in topic["evidence"]:
                assert article[ev["field"]][ev["start"] : ev["end"]] == ev["text"]
    html = next(e for e in enriched.values() if e["source"] == "tigrisdaily.example")
    assert html["title"] == "Floods force thousands from homes in northern Iraq"
    assert html["url"] == "https://tigrisdaily.example/news/2024/11/12/floods-northern-iraq"
    assert "cookie" not in html["text"].lower()
    assert "©" not in html["text"]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def test_metrics_agree_with_the_output_topics(run: Run) -> None:
    s = run.settings
    m = _samples(run.metrics_text)
    names = TopicNames.from_settings(s)
    assert m[("newsstream_records_consumed_total", (("topic", s.topic_raw),))] == len(run.inputs)
    good = len(run.inputs) - len(run.by_topic(s.topic_deadletter))
    # Decoded and parsed records pass through the internal repartition topic once each.
    decode_parse_letters = sum(
        1 for d in run.by_topic(s.topic_deadletter) if d["stage"] in ("decode", "parse")
    )
    assert m[("newsstream_records_consumed_total", (("topic", names.prepared),))] == (
        len(run.inputs) - decode_parse_letters
    )
    assert good == 5
    for topic in s.output_topics():
        produced = m.get(("newsstream_records_produced_total", (("topic", topic),)), 0.0)
        assert produced == len(run.by_topic(topic)), topic
    by_reason = Counter((d["stage"], d["reason"]) for d in run.by_topic(s.topic_deadletter))
    for (stage, reason), count in by_reason.items():
        key = ("newsstream_deadletters_total", (("reason", reason), ("stage", stage)))
        assert m[key] == count
    assert m[("newsstream_duplicates_total", (("method", "exact"),))] == 1
    assert m[("newsstream_ready", ())] == 1
    raw0 = (("partition", "0"), ("topic", s.topic_raw))
    assert m[("newsstream_consumer_lag_records", raw0)] == 0
    assert m[("newsstream_last_commit_timestamp_seconds", raw0)] > 1.7e9
    assert m[("newsstream_dedup_index_articles", ())] == 4
    for topic in s.output_topics():
        count = m[("newsstream_ingest_to_publish_seconds_count", (("topic", topic),))]
        assert count == len(run.by_topic(topic))
    assert m[("newsstream_fetch_to_publish_seconds_count", (("topic", s.topic_enriched),))] == 4
    parse_count = m[("newsstream_stage_duration_seconds_count", (("stage", "parse"),))]
    decode_letters = sum(1 for d in run.by_topic(s.topic_deadletter) if d["stage"] == "decode")
    assert parse_count == len(run.inputs) - decode_letters


_VOLATILE = {"processed_at", "failed_at", "partition"}


def _comparable(topic: str, key: bytes | str | None, value: dict[str, Any]) -> bytes:
    key_text = key.decode() if isinstance(key, bytes) else key
    stable = {k: v for k, v in value.items() if k not in _VOLATILE}
    return orjson.dumps(
        {"topic": topic, "key": key_text, "value": stable}, option=orjson.OPT_SORT_KEYS
    )


def test_batch_mode_gives_the_same_records(run: Run, tmp_path: Path) -> None:
    streamed = Counter(_comparable(t, k, orjson.loads(v)) for t, k, v in run.outputs)
    pipeline = Pipeline(run.settings)
    batch = Counter(
        _comparable(o.topic, o.key, o.record.model_dump(mode="json"))
        for o in run_lines(pipeline, [v for _k, v in run.inputs])
    )
    # Dead letters keep the original key; batch mode has none, so compare without it.
    assert _strip_letter_keys(batch, run.settings) == _strip_letter_keys(streamed, run.settings)


def _strip_letter_keys(records: Counter[bytes], settings: Settings) -> Counter[bytes]:
    out: Counter[bytes] = Counter()
    for raw, n in records.items():
        record = orjson.loads(raw)
        if record["topic"] == settings.topic_deadletter:
            record["key"] = None
            record["value"]["key_b64"] = None
        out[orjson.dumps(record, option=orjson.OPT_SORT_KEYS)] += n
    return out


def test_offsets_are_committed_on_shutdown(run: Run) -> None:
    """A clean stop commits everything consumed: a restart replays nothing."""
    assert run.committed.get(0) == len(run.inputs)


def test_a_restarted_worker_recovers_the_dedup_index(run: Run, tmp_path: Path) -> None:
    """The index comes back from its changelog: a re-post after a restart is still a copy,
    and nothing consumed before the restart is processed again."""
    sample = next(
        orjson.loads(v) for _k, v in run.inputs if v.startswith(b'{"id": "syr-2024-11-13-0017"')
    )
    repost = {**sample, "id": "after-restart-1", "source": "late-outlet.example", "url": None}
    worker = WorkerProcess(run.settings, tmp_path / "worker2.log")
    worker.start()
    try:
        with Feeder(run.settings) as feeder:
            feeder.send_all([(None, orjson.dumps(repost))], run.settings.topic_raw, partition=1)
        follower = Follower(run.settings, TopicNames.from_settings(run.settings).outputs())
        new: list[tuple[str, bytes | None, bytes]] = []
        try:
            deadline = time.monotonic() + 90
            # Skip what the first worker wrote; wait for one new record, then 3 s for extras.
            while len(new) < 1 + len(run.outputs) and time.monotonic() < deadline:
                new.extend(follower.poll(0.5))
            quiet_until = time.monotonic() + 3
            while time.monotonic() < quiet_until:
                new.extend(follower.poll(0.5))
        finally:
            follower.close()
    finally:
        assert worker.stop() == 0, worker.log()
    fresh = Counter(new) - Counter(run.outputs)
    assert Counter(new) - fresh == Counter(run.outputs)
    assert sum(fresh.values()) == 1, fresh
    ((topic, _key, value),) = fresh
    notice = orjson.loads(value)
    assert topic == run.settings.topic_duplicates
    assert notice["article_id"] == "after-restart-1"
    assert notice["duplicate_of"] == "syr-2024-11-13-0017"


def test_worker_logs_are_json_with_stage_and_position(run: Run) -> None:
    lines = [orjson.loads(line) for line in run.log_lines if line.startswith("{")]
    assert len(lines) > 10
    assert len(lines) == len([line for line in run.log_lines if line.strip()])
    letters = [line for line in lines if line["message"].startswith("dead letter")]
    assert len(letters) == len(run.by_topic(run.settings.topic_deadletter))
    for line in letters:
        assert {"time", "level", "stage", "reason", "topic", "partition", "offset"} <= set(line)
        assert line["topic"] == run.settings.topic_raw
    assert {line["reason"] for line in letters} >= {"invalid_json", "undecodable"}
