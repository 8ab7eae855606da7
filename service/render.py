"""One readable line per output record, for people watching a terminal."""

from __future__ import annotations

import base64

from pydantic import ValidationError

from schemas.models import DeadLetter, DuplicateNotice, EnrichedArticle
from service.settings import Settings


def _clip(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render(settings: Settings, topic: str, value: bytes) -> str:
    try:
        if topic == settings.topic_enriched:
            return render_enriched(EnrichedArticle.model_validate_json(value))
        if topic == settings.topic_duplicates:
            return render_duplicate(DuplicateNotice.model_validate_json(value))
        if topic == settings.topic_deadletter:
            return render_dead_letter(DeadLetter.model_validate_json(value))
    except ValidationError as exc:
        return f"?  {topic}: unreadable record ({exc.error_count()} schema errors)"
    return f"·  {topic}: {_clip(value.decode('utf-8', 'replace'))}"


def render_enriched(a: EnrichedArticle) -> str:
    topics = ", ".join(f"{t.label} {t.confidence:.2f}" for t in a.topics[:3]) or "no topic"
    evidence = next((t.evidence[0].text for t in a.topics if t.evidence), None)
    lines = [
        f"✔  ENRICHED   [{a.language} {a.language_confidence:.2f}] {_clip(a.title)}",
        f"   {a.source} · published {a.published_at:%Y-%m-%d} ({a.date_source}, "
        f"{a.date_precision}) · story {a.story_id}",
        f"   topics: {topics}" + (f" · evidence: “{_clip(evidence, 40)}”" if evidence else ""),
    ]
    if a.events:
        lines.append("   events: " + ", ".join(e.sub_event_type or e.event_type for e in a.events))
    if a.locations:
        lines.append("   places: " + ", ".join(loc.name_en for loc in a.locations[:6]))
    return "\n".join(lines)


def render_duplicate(d: DuplicateNotice) -> str:
    return (
        f"≡  DUPLICATE  {_clip(d.title or d.article_id)}\n"
        f"   {d.source}: {d.method} copy of {d.duplicate_of} (similarity {d.similarity:.2f})"
    )


def render_dead_letter(d: DeadLetter) -> str:
    size = len(base64.b64decode(d.value_b64))
    return (
        f"✘  DEAD LETTER [{d.stage}/{d.reason}] {size} bytes from "
        f"{d.topic}/{d.partition}@{d.offset}\n   {_clip(d.detail, 100)}"
    )
