"""Whatever bytes arrive, the pipeline returns exactly one output and never raises."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.models import DeadLetter
from service.metrics import Metrics
from service.pipeline import Origin, Output, Pipeline
from service.settings import Settings

PIPELINE = Pipeline(Settings(max_body_bytes=64 * 1024, max_record_bytes=128 * 1024), Metrics())
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
GOOD = {"source": "s.example", "fetched_at": "2024-11-13T10:00:00Z", "body": "Title\n\nSome text."}
FIELDS = [
    "id",
    "url",
    "source",
    "fetched_at",
    "published_at",
    "content_type",
    "body",
    "language",
    "metadata",
    "schema_version",
]


def _check(value: bytes, headers: tuple[tuple[str, bytes | None], ...] = ()) -> Output:
    out = PIPELINE.process(
        Origin(topic="raw", partition=0, offset=1, value=value, headers=headers), {}
    )
    if isinstance(out.record, DeadLetter):
        assert base64.b64decode(out.record.value_b64) == value
        assert out.record.reason
    return out


@FAST
@given(st.binary(max_size=4096))
def test_any_bytes(value: bytes) -> None:
    _check(value)


@FAST
@given(st.binary(max_size=2048), st.sampled_from([b"text/plain", b"text/html", b"x/y"]))
def test_any_bytes_as_a_bare_body(value: bytes, content_type: bytes) -> None:
    _check(value, (("content-type", content_type), ("source", b"s")))


@FAST
@given(json_values)
def test_any_json_value(value: Any) -> None:
    out = _check(orjson.dumps(value))
    assert isinstance(out.record, DeadLetter) or isinstance(value, dict)


@FAST
@given(st.sampled_from(FIELDS), json_values)
def test_a_field_of_any_type(field: str, value: Any) -> None:
    _check(orjson.dumps({**GOOD, field: value}))


@FAST
@given(st.integers(min_value=0, max_value=len(orjson.dumps(GOOD)) - 1))
def test_truncated_json(cut: int) -> None:
    out = _check(orjson.dumps(GOOD)[:cut])
    assert isinstance(out.record, DeadLetter)


@FAST
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=3000))
def test_any_text_body(body: str) -> None:
    _check(orjson.dumps({**GOOD, "body": body}))


@FAST
@given(st.integers(min_value=1, max_value=3000), st.sampled_from(["<div>", "<b><i>", "<ul><li>"]))
def test_deeply_nested_html(depth: int, tag: str) -> None:
    body = tag * depth + "Flood waters rose overnight in the valley."
    _check(orjson.dumps({**GOOD, "content_type": "text/html", "body": body}))


def test_integers_beyond_64_bits_are_rejected_not_raised() -> None:
    out = _check(
        b'{"source": "s", "fetched_at": "2024-11-13T10:00:00Z", "body": "b", "id": '
        + b"9" * 40
        + b"}"
    )
    assert isinstance(out.record, DeadLetter)
