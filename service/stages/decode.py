"""Kafka record → ``RawArticle``: the boundary where untrusted bytes become a typed value.

Producers send either ``RawArticle`` JSON or a bare text/HTML body with its
metadata in headers (``source``, ``url``, ``fetched-at``, ``content-type``). A
value that starts with ``{`` is always read as JSON, so a broken JSON record is
reported as such instead of being mistaken for a text article.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import orjson
from pydantic import ValidationError

from schemas.models import DeadLetterReason, RawArticle

BARE_CONTENT_TYPES = {"text/plain", "text/html"}
_UTF8_BOM = b"\xef\xbb\xbf"


class DecodeError(Exception):
    """The record cannot become a ``RawArticle``; ``reason`` is a bounded code."""

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: DeadLetterReason = reason
        self.detail = detail


def _text(value: bytes, what: str) -> str:
    if value.startswith(_UTF8_BOM):
        value = value[len(_UTF8_BOM) :]
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(
            "undecodable", f"{what} is not valid UTF-8 ({exc.reason} at byte {exc.start})"
        ) from exc


def _validation_reason(exc: ValidationError) -> DeadLetterReason:
    for error in exc.errors():
        if error["loc"] and error["loc"][0] == "schema_version":
            return "unsupported_schema_version"
    return "invalid_schema"


def _summarise(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "record"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def decode_record(
    value: bytes | None,
    headers: Mapping[str, bytes],
    *,
    max_record_bytes: int,
    max_body_bytes: int,
    now: datetime | None = None,
) -> RawArticle:
    """Raises ``DecodeError`` for anything that is not a usable article record."""
    if value is None or not value.strip():
        raise DecodeError("empty_body", "record value is empty")
    if len(value) > max_record_bytes:
        raise DecodeError(
            "body_too_large", f"record is {len(value)} bytes, the limit is {max_record_bytes}"
        )
    stripped = value.lstrip(_UTF8_BOM).lstrip()
    if stripped.startswith(b"{"):
        try:
            data = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            raise DecodeError("invalid_json", f"value is not valid JSON: {exc}") from exc
        try:
            article = RawArticle.model_validate(data)
        except ValidationError as exc:
            raise DecodeError(_validation_reason(exc), _summarise(exc)) from exc
    else:
        article = _bare_article(value, headers, now=now)
    body_bytes = len(article.body.encode("utf-8"))
    if body_bytes > max_body_bytes:
        raise DecodeError(
            "body_too_large", f"body is {body_bytes} bytes, the limit is {max_body_bytes}"
        )
    return article


def _bare_article(
    value: bytes, headers: Mapping[str, bytes], *, now: datetime | None
) -> RawArticle:
    content_type = headers.get("content-type", b"").decode("latin-1").split(";")[0].strip()
    if content_type not in BARE_CONTENT_TYPES:
        _text(value, "value")  # binary garbage is reported as undecodable, not as bad JSON
        raise DecodeError(
            "invalid_json",
            "value is not a JSON object and no 'content-type' header marks it as a "
            "text/plain or text/html body",
        )
    meta = {k: _text(v, f"header {k!r}") for k, v in headers.items() if k != "content-type"}
    fetched_at = meta.pop("fetched-at", None) or (now or datetime.now(UTC)).isoformat()
    try:
        return RawArticle.model_validate(
            {
                "id": meta.pop("id", None),
                "url": meta.pop("url", None),
                "source": meta.pop("source", None) or "unknown",
                "fetched_at": fetched_at,
                "content_type": content_type,
                "body": _text(value, "body"),
                "language": meta.pop("language", None),
                "metadata": meta,
            }
        )
    except ValidationError as exc:
        raise DecodeError(_validation_reason(exc), _summarise(exc)) from exc
