"""The stages composed once, for the worker's agents and for batch mode alike.

Work is split in two halves around the one piece of shared state, the dedup index:

* ``prepare`` (decode → parse → classify → fingerprint) needs nothing but the
  record, so it runs in parallel on whichever partition the producer chose and
  holds nearly all the CPU work;
* ``resolve`` (dedup → output) needs the index, so the worker runs it on a
  single-partition internal topic: every article meets the one index in one
  total order, whatever the raw partitioning or the number of workers.

Classification happens before deduplication so that it runs in the parallel
half; a duplicate's labels are computed and then dropped, a small price next to
serialising all classification work behind the index.

Batch mode calls both back to back with a dict as the index, which is why the
two paths cannot drift apart.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
from pydantic import BaseModel, ConfigDict

from schemas.models import (
    Actor,
    DatePrecision,
    DateSource,
    DeadLetter,
    DeadLetterReason,
    DuplicateNotice,
    EnrichedArticle,
    EventLabel,
    Figure,
    Header,
    Location,
    RawArticle,
    Stage,
    TopicLabel,
)
from service import __version__
from service.budget import BudgetExceeded, time_budget
from service.metrics import Children, Metrics
from service.settings import Settings
from service.stages.classify import classify, configure_classifier
from service.stages.decode import DecodeError, decode_record, decode_text
from service.stages.dedup_index import MAX_EVENT_KEYS, DedupIndex, Entry
from service.stages.fingerprint import Fingerprint, event_key, fingerprint
from service.stages.normalize import normalize_for_matching
from service.stages.parse import ParseError, parse_article

PIPELINE_VERSION = __version__
log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Origin(BaseModel):
    """Where a record was read, with its bytes untouched: what a dead letter must keep."""

    # Bytes travel as base64 on the internal topic: any byte sequence survives JSON.
    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    topic: str
    partition: int | None
    offset: int | None
    key: bytes | None = None
    value: bytes
    headers: tuple[tuple[str, bytes | None], ...] = ()
    timestamp: datetime | None = None

    @property
    def position(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"

    def header_map(self) -> dict[str, bytes]:
        return {k.lower(): v for k, v in self.headers if v is not None}


class PreparedArticle(BaseModel):
    """Internal record between the two halves (the repartition topic carries it)."""

    model_config = ConfigDict(frozen=True)

    origin: Origin
    raw: RawArticle
    article_id: str
    content_hash: str
    fingerprint: dict[str, Any]
    title: str
    lead: str
    text: str
    url: str | None
    author: str | None
    published_at: datetime
    date_precision: DatePrecision
    date_source: DateSource
    language: str
    language_confidence: float
    warnings: tuple[str, ...] = ()
    topics: tuple[TopicLabel, ...] = ()
    events: tuple[EventLabel, ...] = ()
    actors: tuple[Actor, ...] = ()
    locations: tuple[Location, ...] = ()
    figures: tuple[Figure, ...] = ()


OutputRecord = EnrichedArticle | DuplicateNotice | DeadLetter


@dataclass(frozen=True, slots=True)
class Output:
    """One record for one output topic: exactly what the worker publishes."""

    topic: str
    key: bytes | None
    record: OutputRecord
    ingested_at: datetime | None = None
    fetched_at: datetime | None = None

    def value_bytes(self) -> bytes:
        return self.record.model_dump_json().encode("utf-8")


def derive_article_id(raw: RawArticle, url: str | None, digest: str) -> str:
    """The producer's id, else stable across replays: from the URL, else from the content."""
    if raw.id:
        return raw.id
    basis = f"url:{url}" if url else f"content:{raw.source}:{digest}"
    return "a-" + hashlib.blake2b(basis.encode("utf-8"), digest_size=10).hexdigest()


def story_events(events: Sequence[EventLabel]) -> frozenset[str]:
    """The event keys dedup joins stories on: the most confident located events."""
    located = sorted(
        (e for e in events if e.location and e.sub_event_type),
        key=lambda e: -e.confidence,
    )
    return frozenset(
        event_key(e.sub_event_type or "", e.location or "") for e in located[:MAX_EVENT_KEYS]
    )


_WARM_UP_AR: Final = (
    "تعزيزات عسكرية إلى دير الزور\n\nأرسلت قوات التحالف الدولي اليوم تعزيزات عسكرية إلى "
    "قواعدها في ريف الحسكة، وقالت مصادر محلية إن الرتل ضم خمسين سيارة."
)
_WARM_UP_EN: Final = (
    "Floods hit the coast\n\nHeavy rain flooded villages on Tuesday, officials said, and "
    "rescue teams evacuated hundreds of residents by boat."
)


class Pipeline:
    def __init__(
        self, settings: Settings, metrics: Metrics | None = None, clock: Clock = _utcnow
    ) -> None:
        self.settings = settings
        self.metrics = metrics if metrics is not None else Metrics()
        self._stage_durations = Children(self.metrics.stage_duration.labels)
        self.clock = clock
        self.dedup_config = settings.dedup_config()
        self.version = f"{PIPELINE_VERSION}+{configure_classifier(settings.classifier_data_dir)}"
        self._stream_time: datetime | None = None
        self._stage: Stage = "decode"  # where prepare is, for a timeout's dead letter
        self._raw_id: str | None = None
        self._warm_up()

    def _warm_up(self) -> None:
        """Run each stage once, unbudgeted and uncounted, so the lazy loads inside them
        (language models, tokenizer tables, charset tables) happen now. Otherwise the
        first records would pay for them, and a record budget would interrupt the load
        on every record, dead-lettering them all."""
        for body in (_WARM_UP_AR, _WARM_UP_EN):
            value = orjson.dumps(
                {"source": "warm-up", "fetched_at": "2024-01-01T00:00:00Z", "body": body}
            )
            raw = decode_record(
                value,
                {},
                max_record_bytes=self.settings.max_record_bytes,
                max_body_bytes=self.settings.max_body_bytes,
            )
            parsed = parse_article(raw)
            classify(parsed.title, parsed.text, parsed.language)
            fingerprint(normalize_for_matching(parsed.text), None, self.dedup_config)
            decode_text(body.encode("cp1256", errors="replace"))

    @contextmanager
    def _timed(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self._observe(stage, time.perf_counter() - start)

    def _observe(self, stage: str, seconds: float) -> None:
        self._stage_durations[stage].observe(seconds)

    # ------------------------------------------------------------------ halves

    def prepare(self, origin: Origin) -> PreparedArticle | Output:
        """decode → parse → classify → fingerprint; a rejected record becomes its dead letter.

        The whole half runs under ``record_budget_s``: a record that takes longer is
        dead-lettered with reason ``timeout`` and the stage it was in.
        """
        self._stage, self._raw_id = "decode", None
        try:
            with time_budget(self.settings.record_budget_s):
                return self._prepare(origin)
        except BudgetExceeded as exc:
            return self.dead_letter(origin, self._stage, "timeout", exc, self._raw_id)

    def _prepare(self, origin: Origin) -> PreparedArticle | Output:
        s = self.settings
        try:
            with self._timed("decode"):
                raw = decode_record(
                    origin.value,
                    origin.header_map(),
                    max_record_bytes=s.max_record_bytes,
                    max_body_bytes=s.max_body_bytes,
                    now=origin.timestamp,
                )
        except DecodeError as exc:
            return self.dead_letter(origin, "decode", exc.reason, exc)
        self.metrics.outcome("decode", "ok")
        self._stage, self._raw_id = "parse", raw.id
        try:
            with self._timed("parse"):
                parsed = parse_article(raw)
        except ParseError as exc:
            return self.dead_letter(origin, "parse", exc.reason, exc, raw.id)
        except Exception as exc:  # a parser bug must not lose the record
            return self.dead_letter(origin, "parse", "internal_error", exc, raw.id)
        self.metrics.outcome("parse", "ok")
        self._stage = "classify"
        try:
            with self._timed("classify"):
                labels = classify(parsed.title, parsed.text, parsed.language)
        except Exception as exc:
            return self.dead_letter(origin, "classify", "internal_error", exc, raw.id)
        self.metrics.outcome("classify", "ok")
        self._stage = "dedup"
        try:
            with self._timed("fingerprint"):
                fp = fingerprint(
                    normalize_for_matching(parsed.text), parsed.url or raw.url, self.dedup_config
                )
                fp = replace(fp, entities=story_events(labels.events))
        except Exception as exc:
            return self.dead_letter(origin, "dedup", "internal_error", exc, raw.id)
        return PreparedArticle(
            origin=origin,
            raw=raw.model_copy(update={"body": ""}),
            article_id=derive_article_id(raw, parsed.url, fp.content_hash),
            content_hash=fp.content_hash,
            fingerprint=fp.to_json_dict(),
            title=parsed.title,
            lead=parsed.lead,
            text=parsed.text,
            url=parsed.url,
            author=parsed.author,
            published_at=parsed.published_at,
            date_precision=parsed.date_precision,
            date_source=parsed.date_source,
            language=parsed.language,
            language_confidence=parsed.language_confidence,
            warnings=parsed.warnings,
            topics=labels.topics,
            events=labels.events,
            actors=labels.actors,
            locations=labels.locations,
            figures=labels.figures,
        )

    def resolve(
        self,
        article: PreparedArticle,
        index: DedupIndex,
        store: MutableMapping[str, bytes] | None = None,
    ) -> Output:
        """dedup → the one output record for this article.

        ``store`` mirrors the index as entry bytes by article id: the worker's
        changelog-backed table, from which a restarted worker rebuilds the index.
        """
        now = self.clock()
        origin = article.origin.position
        fetched_at = article.raw.fetched_at
        try:
            with self._timed("dedup"):
                fp = Fingerprint.from_json_dict(article.fingerprint)
                verdict = index.check(fp, article.article_id, origin, fetched_at)
                if not verdict.is_duplicate and not verdict.replay:
                    entry = Entry(article.article_id, verdict.story_id, origin, fetched_at, fp)
                    index.add(entry)
                    if store is not None:
                        store[article.article_id] = entry.to_bytes()
                self._expire(index, store, fetched_at, now)
        except Exception as exc:
            return self.dead_letter(
                article.origin, "dedup", "internal_error", exc, article.article_id
            )
        if verdict.original is not None:
            assert verdict.method is not None
            notice = DuplicateNotice(
                article_id=article.article_id,
                duplicate_of=verdict.original.article_id,
                story_id=verdict.story_id,
                similarity=verdict.similarity,
                method=verdict.method,
                url=article.url,
                source=article.raw.source,
                fetched_at=article.raw.fetched_at,
                title=article.title,
                pipeline_version=self.version,
                processed_at=now,
            )
            self.metrics.duplicates.labels(verdict.method).inc()
            self.metrics.outcome("dedup", "duplicate")
            return Output(
                self.settings.topic_duplicates,
                verdict.story_id.encode(),
                notice,
                article.origin.timestamp,
                article.raw.fetched_at,
            )
        enriched = EnrichedArticle(
            article_id=article.article_id,
            story_id=verdict.story_id,
            url=article.url,
            source=article.raw.source,
            fetched_at=article.raw.fetched_at,
            title=article.title,
            lead=article.lead,
            text=article.text,
            author=article.author,
            published_at=article.published_at,
            date_precision=article.date_precision,
            date_source=article.date_source,
            language=article.language,
            language_confidence=article.language_confidence,
            content_hash=article.content_hash,
            topics=list(article.topics),
            events=list(article.events),
            actors=list(article.actors),
            locations=list(article.locations),
            figures=list(article.figures),
            warnings=list(article.warnings),
            pipeline_version=self.version,
            processed_at=now,
        )
        event_type = article.events[0].event_type if article.events else "none"
        self.metrics.enriched.labels(article.language, event_type).inc()
        self.metrics.outcome("dedup", "original")
        return Output(
            self.settings.topic_enriched,
            verdict.story_id.encode(),
            enriched,
            article.origin.timestamp,
            article.raw.fetched_at,
        )

    def _expire(
        self,
        index: DedupIndex,
        store: MutableMapping[str, bytes] | None,
        fetched_at: datetime,
        now: datetime,
    ) -> None:
        """Forget articles older than the window, by stream time so replays expire alike."""
        # A producer with a clock far ahead must not expire the whole index at once.
        fetched_at = min(fetched_at, now + timedelta(hours=1))
        if self._stream_time is None or fetched_at > self._stream_time:
            self._stream_time = fetched_at
        for article_id in index.expire(self._stream_time):
            if store is not None:
                store.pop(article_id, None)
        self.metrics.index_articles.set(len(index))

    def encode_prepared(self, article: PreparedArticle) -> tuple[bytes, bytes]:
        """(key, value) on the internal topic: keyed by content so a re-post meets its twin."""
        return article.content_hash.encode("ascii"), article.model_dump_json().encode("utf-8")

    def decode_prepared(self, value: bytes) -> PreparedArticle:
        """Raises ``pydantic.ValidationError`` for a record of an incompatible version."""
        return PreparedArticle.model_validate_json(value)

    def new_index(self) -> DedupIndex:
        return DedupIndex(self.dedup_config)

    def process(self, origin: Origin, index: DedupIndex) -> Output:
        """Both halves in one call: batch mode."""
        prepared = self.prepare(origin)
        if isinstance(prepared, Output):
            return prepared
        return self.resolve(prepared, index)

    # ------------------------------------------------------------------ rejects

    def dead_letter(
        self,
        origin: Origin,
        stage: Stage,
        reason: DeadLetterReason,
        exc: BaseException,
        article_id: str | None = None,
    ) -> Output:
        detail = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
        letter = DeadLetter(
            key_b64=_b64(origin.key),
            value_b64=_b64(origin.value) or "",
            headers=[Header(key=k, value_b64=_b64(v)) for k, v in origin.headers],
            topic=origin.topic,
            partition=origin.partition,
            offset=origin.offset,
            stage=stage,
            error_type=type(exc).__name__,
            reason=reason,
            detail=detail[:2000],
            pipeline_version=self.version,
            failed_at=self.clock(),
        )
        log.log(
            logging.WARNING if reason == "internal_error" else logging.INFO,
            "dead letter: %s",
            detail[:200],
            extra={
                "stage": stage,
                "article_id": article_id,
                "reason": reason,
                "error_type": type(exc).__name__,
                "topic": origin.topic,
                "partition": origin.partition,
                "offset": origin.offset,
            },
        )
        self.metrics.deadletters.labels(stage, reason).inc()
        self.metrics.outcome(stage, "error" if reason == "internal_error" else "rejected")
        return Output(self.settings.topic_deadletter, origin.key, letter, origin.timestamp)


def _b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode("ascii")
