from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from schemas.models import DeadLetter, DuplicateNotice, EnrichedArticle
from service import pipeline as pipeline_module
from service.batch import output_line, read_lines, run_lines
from service.metrics import Metrics
from service.pipeline import Origin, Output, Pipeline, PreparedArticle
from service.settings import Settings
from tests.conftest import EXAMPLES

NOW = datetime(2024, 11, 13, 12, 0, tzinfo=UTC)


@pytest.fixture
def pipeline() -> Pipeline:
    return Pipeline(Settings(max_body_bytes=4096), Metrics(), clock=lambda: NOW)


def _origin(value: bytes, offset: int = 0, **kw: Any) -> Origin:
    return Origin(topic="articles.raw", partition=1, offset=offset, value=value, **kw)


def _article(body: str, **fields: Any) -> bytes:
    return orjson.dumps(
        {"source": "a.example", "fetched_at": "2024-11-13T09:00:00Z", "body": body, **fields}
    )


BODY = (
    "Heavy rain floods villages\n\nFlash floods forced hundreds of families from their homes "
    "on Tuesday after the river burst its banks, the civil defence said.\n\nRescue teams "
    "evacuated residents by boat."
)


def test_distinct_article_is_enriched(pipeline: Pipeline) -> None:
    out = pipeline.process(_origin(_article(BODY, id="x1")), pipeline.new_index())
    assert out.topic == "articles.enriched"
    record = out.record
    assert isinstance(record, EnrichedArticle)
    assert record.article_id == "x1"
    assert out.key == b"x1"
    assert record.story_id == "x1"
    assert record.title == "Heavy rain floods villages"
    assert record.language == "en"
    assert record.processed_at == NOW
    assert record.topics[0].label == "environment_disasters"


def test_copy_from_another_outlet_is_a_duplicate_sharing_the_story(pipeline: Pipeline) -> None:
    index = pipeline.new_index()
    first = pipeline.process(_origin(_article(BODY, url="https://a.example/1"), 0), index)
    copy = _article(
        BODY.replace("Heavy rain floods villages", "Villages under water"),
        url="https://b.example/9",
        source="b.example",
    )
    second = pipeline.process(_origin(copy, 1), index)
    assert isinstance(first.record, EnrichedArticle)
    assert isinstance(second.record, DuplicateNotice)
    assert second.topic == "articles.duplicates"
    assert second.record.duplicate_of == first.record.article_id
    assert second.record.story_id == first.record.story_id
    assert second.key == first.key
    assert second.record.source == "b.example"
    assert second.record.title == "Villages under water"


def test_two_outlets_reporting_one_strike_share_a_story(pipeline: Pipeline) -> None:
    index = pipeline.new_index()
    first = _article(
        "غارات أمريكية على البوكمال\n\nنفذت القوات الأمريكية فجر اليوم ضربات جوية على مخازن "
        "أسلحة تابعة للميليشيات الموالية لإيران في مدينة البوكمال بريف دير الزور الشرقي، "
        "وفق ما أفادت مصادر محلية تحدثت عن دوي انفجارات متتالية في المنطقة.",
        id="o1",
        source="outlet-one",
    )
    second = _article(
        "US strikes hit militia depots in Albukamal\n\nUS forces carried out air strikes on "
        "weapons depots used by Iran-backed militias in the Syrian town of Albukamal near the "
        "Iraqi border early on Wednesday, a US official said, after attacks on American troops.",
        id="o2",
        source="outlet-two",
        fetched_at="2024-11-13T15:00:00Z",
    )
    unrelated = _article(
        "New raid on Albukamal\n\nWarplanes of the US-led coalition launched an air strike on "
        "a headquarters of Iran-backed militias in Albukamal on Sunday, according to a war "
        "monitor, which reported damage to several buildings in the town centre.",
        id="o3",
        source="outlet-three",
        fetched_at="2024-11-17T09:00:00Z",  # four days later: another strike
    )
    outs = [pipeline.process(_origin(v, n), index) for n, v in enumerate([first, second])]
    records = [out.record for out in outs]
    assert all(isinstance(r, EnrichedArticle) for r in records)  # different words: no copy
    assert [r.story_id for r in records] == ["o1", "o1"]  # type: ignore[union-attr]
    later = pipeline.process(_origin(unrelated, 2), index).record
    assert isinstance(later, EnrichedArticle)
    assert "Air/drone strike" in {e.sub_event_type for e in later.events}
    assert later.story_id == "o3"


def test_replay_of_the_same_record_gives_the_same_output(pipeline: Pipeline) -> None:
    index = pipeline.new_index()
    value = _article(BODY, url="https://a.example/1")
    first = pipeline.process(_origin(value, 7), index)
    replay = pipeline.process(_origin(value, 7), index)
    assert replay == first


def test_article_ids_are_deterministic_without_a_producer_id(pipeline: Pipeline) -> None:
    by_url = [
        pipeline.process(_origin(_article(BODY, url="https://a.example/1")), pipeline.new_index())
        for _ in range(2)
    ]
    by_content = [pipeline.process(_origin(_article(BODY)), pipeline.new_index()) for _ in range(2)]
    assert by_url[0].record.article_id == by_url[1].record.article_id  # type: ignore[union-attr]
    assert by_content[0].record.article_id == by_content[1].record.article_id  # type: ignore[union-attr]
    assert by_url[0].record.article_id != by_content[0].record.article_id  # type: ignore[union-attr]


def test_dead_letter_keeps_the_original_bytes_key_and_headers(pipeline: Pipeline) -> None:
    value = b"\x00\x01 not an article \xff"
    origin = _origin(value, 42, key=b"k-1", headers=(("source", b"x"), ("trace", None)))
    out = pipeline.process(origin, pipeline.new_index())
    letter = out.record
    assert isinstance(letter, DeadLetter)
    assert out.topic == "articles.deadletter"
    assert out.key == b"k-1"
    assert base64.b64decode(letter.value_b64) == value
    assert letter.key_b64 is not None
    assert base64.b64decode(letter.key_b64) == b"k-1"
    assert [(h.key, h.value_b64) for h in letter.headers] == [
        ("source", base64.b64encode(b"x").decode()),
        ("trace", None),
    ]
    assert (letter.topic, letter.partition, letter.offset) == ("articles.raw", 1, 42)
    assert (letter.stage, letter.reason, letter.error_type) == (
        "decode",
        "undecodable",
        "DecodeError",
    )
    assert letter.failed_at == NOW


def test_parse_rejection_is_a_parse_stage_dead_letter(pipeline: Pipeline) -> None:
    out = pipeline.process(_origin(_article("   ")), pipeline.new_index())
    assert isinstance(out.record, DeadLetter)
    assert (out.record.stage, out.record.reason) == ("parse", "empty_body")


def test_a_classifier_bug_dead_letters_the_record_instead_of_crashing(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(pipeline_module, "classify", broken)
    out = pipeline.process(_origin(_article(BODY)), pipeline.new_index())
    assert isinstance(out.record, DeadLetter)
    assert (out.record.stage, out.record.reason, out.record.error_type) == (
        "classify",
        "internal_error",
        "ZeroDivisionError",
    )
    assert out.record.detail == "boom"


def test_prepared_article_survives_the_internal_topic(pipeline: Pipeline) -> None:
    value = _article(BODY, id="x1")
    prepared = pipeline.prepare(_origin(value, key=b"\xff\x00", headers=(("h", b"\x80"),)))
    assert isinstance(prepared, PreparedArticle)
    again = PreparedArticle.model_validate_json(prepared.model_dump_json())
    assert again == prepared
    assert again.origin.value == value
    assert again.raw.body == ""  # the parsed text travels instead of the body


def test_metrics_count_stages_and_rejections(pipeline: Pipeline) -> None:
    index = pipeline.new_index()
    pipeline.process(_origin(_article(BODY)), index)
    pipeline.process(_origin(_article(BODY), 1), index)
    pipeline.process(_origin(b"{broken"), pipeline.new_index())
    r = pipeline.metrics.registry
    assert r.get_sample_value("newsstream_duplicates_total", {"method": "exact"}) == 1
    assert (
        r.get_sample_value(
            "newsstream_enriched_articles_total", {"language": "en", "event_type": "none"}
        )
        == 1
    )
    assert (
        r.get_sample_value(
            "newsstream_deadletters_total", {"stage": "decode", "reason": "invalid_json"}
        )
        == 1
    )
    assert r.get_sample_value("newsstream_stage_duration_seconds_count", {"stage": "decode"}) == 3
    assert r.get_sample_value("newsstream_stage_duration_seconds_count", {"stage": "parse"}) == 2
    # Classification runs in the parallel half, before dedup: the copy is classified too.
    assert r.get_sample_value("newsstream_stage_duration_seconds_count", {"stage": "classify"}) == 2
    assert r.get_sample_value("newsstream_stage_duration_seconds_count", {"stage": "dedup"}) == 2
    outcomes = {
        (stage, outcome): r.get_sample_value(
            "newsstream_stage_outcomes_total", {"stage": stage, "outcome": outcome}
        )
        for stage, outcome in [
            ("decode", "ok"),
            ("decode", "rejected"),
            ("parse", "ok"),
            ("classify", "ok"),
            ("dedup", "original"),
            ("dedup", "duplicate"),
        ]
    }
    assert outcomes == {
        ("decode", "ok"): 2,
        ("decode", "rejected"): 1,
        ("parse", "ok"): 2,
        ("classify", "ok"): 2,
        ("dedup", "original"): 1,
        ("dedup", "duplicate"): 1,
    }


def test_batch_output_lines_follow_the_contract(pipeline: Pipeline) -> None:
    outputs = list(
        run_lines(pipeline, read_lines(EXAMPLES / "articles.jsonl"), pipeline.new_index())
    )
    assert len(outputs) == 6
    for output in outputs:
        line = orjson.loads(output_line(output))
        assert set(line) == {"topic", "key", "value"}
        assert line["topic"] == output.topic
        assert isinstance(output, Output)


def test_dead_letters_are_logged_with_stage_reason_and_article_id(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="service.pipeline"):
        pipeline.process(_origin(_article("   ", id="x-9"), 42), pipeline.new_index())
    (record,) = [r for r in caplog.records if r.getMessage().startswith("dead letter")]
    assert record.__dict__["stage"] == "parse"
    assert record.__dict__["reason"] == "empty_body"
    assert record.__dict__["article_id"] == "x-9"
    assert record.__dict__["offset"] == 42
