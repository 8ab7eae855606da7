"""The parse fixture set: hand-written articles with hand-written expectations.

Each case in ``tests/fixtures/parse`` is ``<id>.json`` (the record's fields and the
expected result) plus its body, ``<id>.txt``/``.html`` (UTF-8) or ``<id>.bin`` (bytes
exactly as a scraper sent them, in whatever encoding). Every case goes through the
same two stages as in the worker: ``decode_record`` (a ``RawArticle`` JSON record,
or the bare bytes with their Kafka headers) and then ``parse_article``. See
``tests/fixtures/parse/README.md`` for the format.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest

from service.stages.decode import DecodeError, decode_record
from service.stages.parse import WARNING_CODES, ParsedArticle, ParseError, parse_article
from tests.conftest import EXAMPLES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "parse"
BODY_SUFFIXES = (".txt", ".html", ".bin")
LIMITS = {"max_record_bytes": 4_000_000, "max_body_bytes": 2_000_000}
EXPECTED_KEYS = frozenset(
    {
        "title",
        "lead_prefix",
        "text_contains",
        "text_not_contains",
        "paragraphs",
        "published_at",
        "date_precision",
        "date_source",
        "language",
        "language_confidence_min",
        "url",
        "author",
        "warnings_include",
        "warnings_exclude",
        "detected_encoding",
        "reject",
    }
)


@dataclass(frozen=True)
class Case:
    id: str
    group: str
    kind: str
    spec: dict[str, Any]

    @property
    def expected(self) -> dict[str, Any]:
        result: dict[str, Any] = self.spec["expected"]
        return result

    def body_bytes(self) -> bytes:
        pointer = self.spec.get("body_file")
        if pointer is not None:
            return (EXAMPLES / pointer).read_bytes()
        for suffix in BODY_SUFFIXES:
            path = FIXTURES / f"{self.id}{suffix}"
            if path.exists():
                return path.read_bytes()
        raise FileNotFoundError(f"no body file for fixture {self.id}")

    def record(self) -> tuple[bytes, dict[str, bytes]]:
        """The Kafka record value and headers this case stands for."""
        body = self.body_bytes()
        if "kafka" in self.spec:
            headers = {k: v.encode("utf-8") for k, v in self.spec["kafka"]["headers"].items()}
            return body, headers
        fields = {**self.spec["raw"], "body": body.decode("utf-8")}
        return orjson.dumps(fields), {}


def _load() -> list[Case]:
    cases = []
    for path in sorted(FIXTURES.glob("*.json")):
        spec = orjson.loads(path.read_bytes())
        cases.append(Case(path.stem, spec["group"], spec["kind"], spec))
    return cases


CASES = _load()


@dataclass(frozen=True)
class Outcome:
    article: ParsedArticle | None
    metadata: dict[str, str]
    rejected: tuple[str, str] | None  # (stage, reason)


@cache
def outcome(case_id: str) -> Outcome:
    case = next(c for c in CASES if c.id == case_id)
    value, headers = case.record()
    limits = {**LIMITS, **case.spec.get("limits", {})}
    try:
        raw = decode_record(value, headers, **limits)
    except DecodeError as exc:
        return Outcome(None, {}, ("decode", exc.reason))
    try:
        article = parse_article(raw)
    except ParseError as exc:
        return Outcome(None, dict(raw.metadata), ("parse", exc.reason))
    return Outcome(article, dict(raw.metadata), None)


def parsed(case: Case) -> ParsedArticle:
    result = outcome(case.id)
    assert result.rejected is None, f"{case.id} was rejected: {result.rejected}"
    assert result.article is not None
    return result.article


def having(key: str) -> list[Any]:
    return [pytest.param(c, id=c.id) for c in CASES if key in c.expected]


def _moment(value: str) -> datetime:
    if len(value) == 10:
        day = date.fromisoformat(value)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


# --------------------------------------------------------------------------- the set itself


def test_fixture_set_is_large_and_varied() -> None:
    by_group = Counter(c.group for c in CASES)
    assert by_group["ar"] >= 40
    assert by_group["en"] >= 20
    kinds = Counter((c.group, c.kind) for c in CASES)
    for group in ("ar", "en"):
        for kind in ("text", "html", "bytes"):
            assert kinds[group, kind] >= 1, (group, kind)
    encodings = {c.expected.get("detected_encoding") for c in CASES} - {None}
    assert {"windows-1256", "iso-8859-6", "windows-1252"} <= encodings
    sources = {c.expected.get("date_source") for c in CASES}
    assert sources >= {"producer", "metadata", "dateline", "fetched_at"}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_fixture_is_well_formed(case: Case) -> None:
    assert case.group in ("ar", "en", "other")
    assert case.kind in ("text", "html", "bytes")
    assert ("raw" in case.spec) != ("kafka" in case.spec)
    assert (case.kind == "bytes") == ("kafka" in case.spec)
    assert set(case.expected) <= EXPECTED_KEYS, set(case.expected) - EXPECTED_KEYS
    assert case.spec.get("note"), "say what the case exercises"
    assert set(case.expected.get("warnings_include", [])) <= WARNING_CODES
    assert set(case.expected.get("warnings_exclude", [])) <= WARNING_CODES
    case.body_bytes()


# --------------------------------------------------------------------------- one test per field


@pytest.mark.parametrize("case", having("reject"))
def test_reject(case: Case) -> None:
    stage, reason = case.expected["reject"].split("/")
    assert outcome(case.id).rejected == (stage, reason)


@pytest.mark.parametrize("case", having("title"))
def test_title(case: Case) -> None:
    assert parsed(case).title == case.expected["title"]


@pytest.mark.parametrize("case", having("lead_prefix"))
def test_lead(case: Case) -> None:
    article = parsed(case)
    assert article.lead.startswith(case.expected["lead_prefix"]), article.lead[:200]
    assert article.lead == article.text.split("\n\n")[0]


@pytest.mark.parametrize("case", having("text_contains"))
def test_text_keeps_the_story(case: Case) -> None:
    article = parsed(case)
    missing = [s for s in case.expected["text_contains"] if s not in article.text]
    assert not missing


@pytest.mark.parametrize("case", having("text_not_contains"))
def test_text_is_clean(case: Case) -> None:
    article = parsed(case)
    leaked = [s for s in case.expected["text_not_contains"] if s in article.text]
    assert not leaked
    assert not [s for s in case.expected["text_not_contains"] if s in article.title]


@pytest.mark.parametrize("case", having("paragraphs"))
def test_paragraphs(case: Case) -> None:
    assert len(parsed(case).text.split("\n\n")) == case.expected["paragraphs"]


@pytest.mark.parametrize("case", having("published_at"))
def test_published_at(case: Case) -> None:
    article = parsed(case)
    assert article.published_at == _moment(case.expected["published_at"])
    assert article.published_at.tzinfo is not None


@pytest.mark.parametrize("case", having("date_precision"))
def test_date_precision(case: Case) -> None:
    assert parsed(case).date_precision == case.expected["date_precision"]


@pytest.mark.parametrize("case", having("date_source"))
def test_date_source(case: Case) -> None:
    assert parsed(case).date_source == case.expected["date_source"]


@pytest.mark.parametrize("case", having("language"))
def test_language(case: Case) -> None:
    article = parsed(case)
    assert article.language == case.expected["language"]
    floor = case.expected.get("language_confidence_min", 0.5)
    assert article.language_confidence >= floor


@pytest.mark.parametrize("case", having("url"))
def test_url(case: Case) -> None:
    assert parsed(case).url == case.expected["url"]


@pytest.mark.parametrize("case", having("author"))
def test_author(case: Case) -> None:
    assert parsed(case).author == case.expected["author"]


@pytest.mark.parametrize("case", having("warnings_include"))
def test_warnings_present(case: Case) -> None:
    warnings = parsed(case).warnings
    assert set(case.expected["warnings_include"]) <= set(warnings), warnings


@pytest.mark.parametrize("case", having("warnings_exclude"))
def test_warnings_absent(case: Case) -> None:
    warnings = parsed(case).warnings
    assert not set(case.expected["warnings_exclude"]) & set(warnings), warnings


@pytest.mark.parametrize("case", having("detected_encoding"))
def test_detected_encoding(case: Case) -> None:
    result = outcome(case.id)
    assert result.metadata.get("detected_encoding") == case.expected["detected_encoding"]
