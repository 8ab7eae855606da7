from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from schemas import DeadLetter, EnrichedArticle, RawArticle
from schemas.export import DEFAULT_DIR, TOP_LEVEL, render


def test_checked_in_json_schemas_are_up_to_date() -> None:
    """Fails when a model changed without `make schemas`: non-Python consumers read these files."""
    for name, text in render().items():
        path = DEFAULT_DIR / name
        assert path.is_file(), f"{name} missing: run `make schemas`"
        assert path.read_text(encoding="utf-8") == text, f"{name} is stale: run `make schemas`"


def test_every_top_level_schema_names_its_version_field() -> None:
    for name in TOP_LEVEL:
        schema = json.loads((DEFAULT_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
        assert "schema_version" in schema["properties"], name


def test_raw_article_rejects_unknown_content_type() -> None:
    with pytest.raises(ValidationError):
        RawArticle.model_validate(
            {"source": "s", "fetched_at": "2024-01-01T00:00:00Z", "body": "b", "content_type": "x"}
        )


def test_models_are_frozen() -> None:
    article = RawArticle(source="s", fetched_at="2024-01-01T00:00:00Z", body="b")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        article.body = "changed"  # type: ignore[misc]


def test_dead_letter_reason_is_a_bounded_code() -> None:
    with pytest.raises(ValidationError):
        DeadLetter.model_validate(
            {
                "key_b64": None,
                "value_b64": "",
                "topic": "t",
                "partition": 0,
                "offset": 0,
                "stage": "decode",
                "error_type": "E",
                "reason": "something free-form",
                "detail": "d",
                "pipeline_version": "0",
                "failed_at": "2024-01-01T00:00:00Z",
            }
        )


def test_enriched_article_round_trips_through_json() -> None:
    fields = {
        "article_id": "a",
        "story_id": "a",
        "source": "s",
        "fetched_at": "2024-11-13T09:30:00Z",
        "title": "t",
        "lead": "l",
        "text": "l",
        "published_at": "2024-11-13T00:00:00Z",
        "date_precision": "day",
        "date_source": "dateline",
        "language": "ar",
        "language_confidence": 0.99,
        "content_hash": "0" * 32,
        "topics": [{"label": "conflict_security", "confidence": 0.9, "evidence": []}],
        "pipeline_version": "0.1.0",
        "processed_at": "2024-11-13T09:30:01Z",
    }
    article = EnrichedArticle.model_validate(fields)
    assert EnrichedArticle.model_validate_json(article.model_dump_json()) == article


@pytest.mark.parametrize("stamp", [17, 1731492000, 1.5e9])
def test_timestamps_must_be_strings_not_numbers(stamp: float) -> None:
    with pytest.raises(ValidationError, match="ISO 8601"):
        RawArticle.model_validate({"source": "s", "fetched_at": stamp, "body": "b"})
