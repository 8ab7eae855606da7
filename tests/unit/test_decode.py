from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from service.stages.decode import DecodeError, decode_record

LIMITS = {"max_record_bytes": 10_000, "max_body_bytes": 5_000}


def _decode(value: bytes | None, headers: dict[str, bytes] | None = None, **kw: object):
    return decode_record(value, headers or {}, **{**LIMITS, **kw})  # type: ignore[arg-type]


def _json(**fields: object) -> bytes:
    return orjson.dumps(
        {"source": "s", "fetched_at": "2024-11-13T10:00:00Z", "body": "b", **fields}
    )


def test_json_record_becomes_raw_article() -> None:
    article = _decode(_json(id="a1", url="https://x.example/a", language="ar"))
    assert article.id == "a1"
    assert article.url == "https://x.example/a"
    assert article.fetched_at == datetime(2024, 11, 13, 10, tzinfo=UTC)
    assert article.content_type == "text/plain"


def test_utf8_bom_and_leading_space_are_accepted() -> None:
    assert _decode(b"\xef\xbb\xbf  " + _json(body="نص")).body == "نص"


def test_unknown_fields_from_a_newer_minor_version_are_ignored() -> None:
    assert _decode(_json(schema_version="1.7", shiny_new_field=[1, 2])).body == "b"


def test_naive_timestamps_are_taken_as_utc() -> None:
    assert _decode(_json(fetched_at="2024-11-13T10:00:00")).fetched_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty_body"),
        (b"", "empty_body"),
        (b"  \n ", "empty_body"),
        (b'{"source": "s", "fetched_', "invalid_json"),
        (b"plain words with no content-type header", "invalid_json"),
        (b"\xff\xfe\x00garbage\x81", "undecodable"),
        (orjson.dumps({"body": "no source"}), "invalid_schema"),
        (orjson.dumps([1, 2, 3])[:-1] + b"]", "invalid_json"),
        (_json(content_type="application/pdf"), "invalid_schema"),
        (_json(schema_version="2.0"), "unsupported_schema_version"),
        (_json(body="x" * 6_000), "body_too_large"),
        (b"{" + b" " * 20_000 + b"}", "body_too_large"),
    ],
)
def test_bad_records_are_rejected_with_a_precise_reason(value: bytes | None, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        _decode(value)
    assert caught.value.reason == reason
    assert caught.value.detail


def test_json_array_is_not_an_article() -> None:
    with pytest.raises(DecodeError) as caught:
        _decode(b"[1, 2]")
    assert caught.value.reason == "invalid_json"


def test_bare_body_with_metadata_in_headers() -> None:
    headers = {
        "content-type": b"text/html; charset=utf-8",
        "source": b"outlet.example",
        "url": b"https://outlet.example/a",
        "fetched-at": b"2024-11-13T08:00:00+02:00",
        "section": b"world",
    }
    article = _decode("<p>مرحبا</p>".encode(), headers)
    assert article.content_type == "text/html"
    assert article.source == "outlet.example"
    assert article.url == "https://outlet.example/a"
    assert article.fetched_at == datetime(2024, 11, 13, 6, tzinfo=UTC)
    assert article.metadata == {"section": "world"}


def test_bare_body_without_fetch_time_uses_the_record_timestamp() -> None:
    stamp = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    article = _decode(b"text", {"content-type": b"text/plain"}, now=stamp)
    assert article.fetched_at == stamp
    assert article.source == "unknown"
