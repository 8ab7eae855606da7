"""Who, where, what happened and how many: the entity half of the classify stage.

Each extractor is a pure function of the tokens and its data file
(``actors.toml``, ``places.toml`` with GeoNames behind it, ``events.toml``,
the figure rules); this module runs them over the title and the text and
turns what they found into the contract's models, with evidence spans and
confidences. The event coder runs last because it places triggers among the
actors and places found in the same sentence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

from schemas.models import Actor, EventLabel, Evidence, Figure, Location
from service.stages.actors import ActorBook, ActorBookError
from service.stages.datafiles import parse_data_toml, read_data_text
from service.stages.events import EventRules, EventRulesError, FieldFindings
from service.stages.figures import FigureFinder, FigureMention
from service.stages.gazetteer import (
    Gazetteer,
    GazetteerError,
    PlaceMention,
    build_gazetteer,
    data_digest_inputs,
)
from service.stages.phrases import Tokens, tokenize

RULES_VERSION: Final = 1
"""Bump when extraction rules change in code; data file changes are hashed in."""

MAX_EVIDENCE: Final = 3
DATA_FILES: Final = ("topics.toml", "actors.toml", "events.toml", "places.toml")

FieldName = Literal["title", "text"]
K = TypeVar("K")
M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class Entities:
    events: tuple[EventLabel, ...]
    actors: tuple[Actor, ...]
    locations: tuple[Location, ...]
    figures: tuple[Figure, ...]


class Enricher:
    """The compiled data of the entity extractors; ``extract`` is pure given it."""

    def __init__(self, data_dir: str | PathLike[str] | None = None) -> None:
        directory = Path(data_dir) if data_dir is not None else None
        # Each file is read once: parsed here and hashed into the version.
        read: dict[str, tuple[str, str]] = {}
        for name, error in (
            ("topics.toml", ValueError),
            ("actors.toml", ActorBookError),
            ("events.toml", EventRulesError),
            ("places.toml", GazetteerError),
        ):
            chosen = directory / name if directory and (directory / name).is_file() else None
            read[name] = read_data_text(name, chosen, error)

        def table(name: str, error: type[ValueError]) -> tuple[dict[str, Any], str]:
            source, text = read[name]
            return parse_data_toml(text, source, error), source

        self.actors: ActorBook = ActorBook(*table("actors.toml", ActorBookError))
        self.events: EventRules = EventRules(*table("events.toml", EventRulesError))
        self.figures = FigureFinder()
        self.gazetteer: Gazetteer = build_gazetteer(*table("places.toml", GazetteerError))
        digest = hashlib.sha256(repr(RULES_VERSION).encode())
        for name in DATA_FILES:
            digest.update(read[name][1].encode())
        for part in data_digest_inputs():
            digest.update(part)
        self.version = digest.hexdigest()[:10]

    def extract(
        self, title: str, text: str, title_tokens: Tokens | None = None,
        text_tokens: Tokens | None = None,
    ) -> Entities:  # fmt: skip
        fields: list[FieldFindings] = []
        figures: list[tuple[FieldName, FigureMention]] = []
        for name, value, tokens in (
            ("title", title, title_tokens),
            ("text", text, text_tokens),
        ):
            tokens = tokenize(value) if tokens is None else tokens
            field_name: FieldName = "title" if name == "title" else "text"
            fields.append(
                FieldFindings(
                    field_name,
                    tokens,
                    self.actors.find(tokens),
                    self.gazetteer.find(tokens),
                )
            )
            figures.extend((field_name, m) for m in self.figures.find(tokens))
        coded = self.events.code(fields)
        originals = {"title": title, "text": text}

        def evidence(spans: Iterable[tuple[FieldName, int, int]]) -> list[Evidence]:
            out: list[Evidence] = []
            for field_name, start, end in spans:
                if len(out) >= MAX_EVIDENCE:
                    break
                item = Evidence(
                    text=originals[field_name][start:end], field=field_name, start=start, end=end
                )
                if item not in out:
                    out.append(item)
            return out

        event_places = {e.place.place.id for e in coded if e.place is not None}
        places = _group(
            (f.name, m.place.id, m, m.hit.start, m.hit.end) for f in fields for m in f.places
        )
        locations = tuple(
            Location(
                id=mentions[0].place.id,
                name_en=mentions[0].place.name_en,
                name_ar=mentions[0].place.name_ar,
                latitude=round(mentions[0].place.latitude, 5),
                longitude=round(mentions[0].place.longitude, 5),
                country=mentions[0].place.country,
                admin1=mentions[0].place.admin1,
                geonames_id=mentions[0].place.geonames_id,
                precision=mentions[0].place.precision,
                is_event_location=place_id in event_places,
                confidence=_place_confidence(mentions),
                evidence=evidence(spans),
            )
            for place_id, mentions, spans in places
        )
        actor_groups = _group(
            (f.name, m.actor.id, m, m.hit.start, m.hit.end) for f in fields for m in f.actors
        )
        named = {actor_id for actor_id, _, _ in actor_groups}
        actors = [
            Actor(
                id=actor_id,
                name_en=mentions[0].actor.name_en,
                name_ar=mentions[0].actor.name_ar,
                actor_type=mentions[0].actor.actor_type,
                confidence=0.9,
                evidence=evidence(spans),
            )
            for actor_id, mentions, spans in actor_groups
        ]
        for event in coded:  # default parties (protesters, civilians) appear as actors too
            for actor_id in (event.actor1, event.actor2):
                if actor_id and actor_id not in named and actor_id in self.actors.actors:
                    info = self.actors.actors[actor_id]
                    named.add(actor_id)
                    actors.append(
                        Actor(
                            id=info.id,
                            name_en=info.name_en,
                            name_ar=info.name_ar,
                            actor_type=info.actor_type,
                            confidence=0.5,
                        )
                    )
        events = tuple(
            EventLabel(
                event_type=e.sub_event.event_type,
                sub_event_type=e.sub_event.sub_event_type,
                cameo_root=e.sub_event.cameo_root,
                confidence=round(e.confidence, 4),
                actor1=e.actor1,
                actor2=e.actor2,
                location=e.place.place.id if e.place is not None else None,
                evidence=evidence(e.spans),
            )
            for e in coded
        )
        figure_groups = _group(
            ((name, (m.kind, m.value), m, m.start, m.end) for name, m in figures)
        )
        return Entities(
            events=events,
            actors=tuple(actors),
            locations=locations,
            figures=tuple(
                Figure(
                    kind=kind,
                    value=value,
                    confidence=max(m.confidence for m in mentions),
                    evidence=evidence(spans),
                )
                for (kind, value), mentions, spans in figure_groups
            ),
        )


def _place_confidence(mentions: Sequence[PlaceMention]) -> float:
    place = mentions[0].place
    if place.curated or not any(m.ambiguous for m in mentions):
        return 0.9
    return 0.6


def _group(
    items: Iterable[tuple[FieldName, K, M, int, int]],
) -> list[tuple[K, list[M], list[tuple[FieldName, int, int]]]]:
    """Mentions grouped by key in order of first appearance, with their spans."""
    groups: dict[K, tuple[list[M], list[tuple[FieldName, int, int]]]] = {}
    for field_name, key, mention, start, end in items:
        mentions, spans = groups.setdefault(key, ([], []))
        mentions.append(mention)
        spans.append((field_name, start, end))
    return [(key, mentions, spans) for key, (mentions, spans) in groups.items()]


_active: Enricher | None = None


def configure(data_dir: str | PathLike[str] | None = None) -> Enricher:
    """Compile the extractors' data (from ``data_dir`` where it has a file) and use it."""
    global _active
    _active = Enricher(data_dir)
    return _active


def active_enricher() -> Enricher:
    return _active if _active is not None else configure()


def extract(
    title: str, text: str, title_tokens: Tokens | None = None, text_tokens: Tokens | None = None
) -> Entities:
    return active_enricher().extract(title, text, title_tokens, text_tokens)
