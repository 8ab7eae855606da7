"""The contract between producers, the service and its consumers.

Every model carries ``schema_version``. Within a major version, changes are
additive only, so readers ignore fields they do not know (``extra="ignore"``)
and a newer minor version from a producer still validates here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

SCHEMA_VERSION = "1.1"
SUPPORTED_MAJOR = 1

ContentType = Literal["text/html", "text/plain"]
DatePrecision = Literal["second", "minute", "day", "month", "year"]
DateSource = Literal["producer", "metadata", "dateline", "fetched_at"]
DuplicateMethod = Literal["exact", "near", "url"]
Stage = Literal["decode", "parse", "dedup", "classify", "publish"]
DeadLetterReason = Literal[
    "undecodable",
    "invalid_json",
    "invalid_schema",
    "unsupported_schema_version",
    "empty_body",
    "body_too_large",
    "no_content",
    "timeout",
    "internal_error",
]
"""Bounded reason codes: they are Prometheus label values, so never free text.

``timeout`` (since 1.1): the record took longer than the worker's per-record budget."""


def _as_utc(value: datetime) -> datetime:
    """Naive timestamps are taken as UTC so that ordering and windows are well defined."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _iso_only(value: object) -> object:
    """The JSON Schema says an ISO 8601 string; a bare number is a producer bug, not epoch time."""
    if isinstance(value, int | float):
        raise ValueError("timestamps must be ISO 8601 strings, not numbers")
    return value


UtcDatetime = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(_as_utc)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=False)


class _Versioned(_Model):
    schema_version: str = Field(
        default=SCHEMA_VERSION,
        pattern=r"^\d+\.\d+$",
        description="MAJOR.MINOR of the contract this record follows.",
    )

    @field_validator("schema_version")
    @classmethod
    def _known_major(cls, value: str) -> str:
        major = int(value.split(".", 1)[0])
        if major != SUPPORTED_MAJOR:
            raise ValueError(
                f"schema major version {major} is not supported (this service reads "
                f"{SUPPORTED_MAJOR}.x)"
            )
        return value


# --------------------------------------------------------------------------- input


class RawArticle(_Versioned):
    """What a scraper sends to ``articles.raw``."""

    id: str | None = Field(default=None, max_length=512, description="Producer's article id.")
    url: str | None = Field(default=None, max_length=4096)
    source: str = Field(min_length=1, max_length=256, description="Outlet or feed name.")
    fetched_at: UtcDatetime = Field(description="When the scraper fetched the page.")
    published_at: UtcDatetime | None = Field(
        default=None, description="Publish time if the producer knows it."
    )
    content_type: ContentType = "text/plain"
    body: str = Field(description="The page: HTML or plain text.")
    language: str | None = Field(
        default=None, max_length=16, description="Producer's language hint (ISO 639-1)."
    )
    metadata: dict[str, str] = Field(default_factory=dict, max_length=64)


# --------------------------------------------------------------------------- labels


class Evidence(_Model):
    """The text span that supports a label: the reason a reader can trust it."""

    text: str
    field: Literal["title", "text"] = "text"
    start: int = Field(ge=0, description="Character offset in the field.")
    end: int = Field(ge=0)


class TopicLabel(_Model):
    label: str
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: list[Evidence] = Field(default_factory=list)


class EventLabel(_Model):
    """One event the article reports, coded as ACLED does (CAMEO root where it maps)."""

    event_type: str
    sub_event_type: str | None = None
    cameo_root: str | None = Field(default=None, pattern=r"^\d{2}$")
    confidence: float = Field(ge=0.0, le=1.0)
    actor1: str | None = Field(default=None, description="Actor id (see ``actors``).")
    actor2: str | None = None
    location: str | None = Field(default=None, description="Location id (see ``locations``).")
    evidence: list[Evidence] = Field(default_factory=list)


class Actor(_Model):
    id: str
    name_en: str
    name_ar: str | None = None
    actor_type: str | None = Field(default=None, description="ACLED actor type.")
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: list[Evidence] = Field(default_factory=list)


class Location(_Model):
    id: str
    name_en: str
    name_ar: str | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2.")
    admin1: str | None = None
    geonames_id: int | None = None
    precision: Literal["site", "town", "district", "governorate", "country"] | None = None
    is_event_location: bool = False
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: list[Evidence] = Field(default_factory=list)


class Figure(_Model):
    kind: Literal[
        "fatalities", "injured", "detained", "troops", "vehicles", "sites", "displaced", "other"
    ]
    value: int = Field(ge=0)
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: list[Evidence] = Field(default_factory=list)


# --------------------------------------------------------------------------- outputs


class EnrichedArticle(_Versioned):
    """One distinct article, parsed and classified: the record downstream consumers act on."""

    article_id: str = Field(description="Producer's id, else derived from URL or content.")
    story_id: str = Field(description="Shared by every article about the same story.")
    url: str | None = None
    source: str
    fetched_at: UtcDatetime
    title: str
    lead: str
    text: str
    author: str | None = None
    published_at: UtcDatetime
    date_precision: DatePrecision
    date_source: DateSource
    language: str
    language_confidence: float = Field(ge=0.0, le=1.0)
    content_hash: str = Field(description="Hash of the normalised body (exact-duplicate key).")
    topics: list[TopicLabel] = Field(default_factory=list)
    events: list[EventLabel] = Field(default_factory=list)
    actors: list[Actor] = Field(default_factory=list)
    locations: list[Location] = Field(default_factory=list)
    figures: list[Figure] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    pipeline_version: str
    processed_at: UtcDatetime


class DuplicateNotice(_Versioned):
    """An article already seen as another one: linked to it, not republished."""

    article_id: str
    duplicate_of: str = Field(description="article_id of the first-seen copy.")
    story_id: str
    similarity: float = Field(ge=0.0, le=1.0)
    method: DuplicateMethod
    url: str | None = None
    source: str
    fetched_at: UtcDatetime
    title: str | None = None
    pipeline_version: str
    processed_at: UtcDatetime


class Header(_Model):
    key: str
    value_b64: str | None


class DeadLetter(_Versioned):
    """Input the service could not use, kept byte for byte with where it came from and why."""

    key_b64: str | None = Field(description="Original record key, base64.")
    value_b64: str = Field(description="Original record value, base64, untouched.")
    headers: list[Header] = Field(default_factory=list)
    topic: str
    partition: int | None = Field(description="None in batch mode.")
    offset: int | None = Field(description="Offset, or line number in batch mode.")
    stage: Stage
    error_type: str = Field(description="Exception class that rejected the record.")
    reason: DeadLetterReason
    detail: str = Field(max_length=2000, description="Human-readable explanation.")
    pipeline_version: str
    failed_at: UtcDatetime
