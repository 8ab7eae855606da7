"""Who: armed and political actors named in an article, from a curated dictionary.

``service/data/actors.toml`` lists each actor once with its canonical id,
display names, ACLED actor type and the forms writers use for it in Arabic
and English; users extend it by editing the file (or pointing the service at
a copy). A dictionary rather than a statistical tagger because coding an
actor means naming the canonical party ("Iran-backed militias", not whatever
span a tagger returns), and an analyst can read and correct every entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from service.stages.datafiles import load_data_toml
from service.stages.phrases import Hit, PhraseError, PhraseIndex, Tokens

ACTOR_TYPES: Final = (
    "State forces",
    "Rebel groups",
    "Political militias",
    "Identity militias",
    "Rioters",
    "Protesters",
    "Civilians",
    "External/Other forces",
)
"""ACLED's actor types, in the order of its interaction codes (1-8)."""

ARMED_TYPES: Final = frozenset((*ACTOR_TYPES[:4], "External/Other forces"))


class ActorBookError(ValueError):
    """The actors file cannot be used; the message names the entry."""


@dataclass(frozen=True, slots=True)
class ActorInfo:
    id: str
    name_en: str
    name_ar: str
    actor_type: str
    country: str | None = None
    parent: str | None = None
    air_power: bool = False

    @property
    def armed(self) -> bool:
        return self.actor_type in ARMED_TYPES

    @property
    def state(self) -> bool:
        return self.actor_type == "State forces"


@dataclass(frozen=True, slots=True)
class ActorMention:
    actor: ActorInfo
    hit: Hit


class ActorBook:
    """A compiled actor dictionary. Build it with ``load_actors``."""

    def __init__(self, data: Mapping[str, object], source: str) -> None:
        self.source = source
        unknown = set(data) - {"actors"}
        if unknown:
            raise ActorBookError(f"{source}: unknown table(s) {sorted(unknown)}")
        table = data.get("actors")
        if not isinstance(table, Mapping) or not table:
            raise ActorBookError(f"{source}: missing [actors] table")
        self._index = PhraseIndex()
        self._by_phrase: dict[int, ActorInfo] = {}
        self.actors: dict[str, ActorInfo] = {}
        for key, entry in table.items():
            where = f"{source}: [actors.{key}]"
            if not isinstance(entry, Mapping):
                raise ActorBookError(f"{where} must be a table")
            actor = _parse_actor(key, entry, where)
            self.actors[key] = actor
            for language in ("en", "ar"):
                forms = entry.get(language, [])
                if not isinstance(forms, list) or not all(isinstance(f, str) for f in forms):
                    raise ActorBookError(f"{where}: {language} must be a list of strings")
                for form in [actor.name_en if language == "en" else actor.name_ar, *forms]:
                    try:
                        phrase = self._index.add(
                            form.removeprefix("="), language, exact=form.startswith("=")
                        )
                    except PhraseError:
                        raise ActorBookError(f"{where}: form {form!r} has no word") from None
                    other = self._by_phrase.setdefault(phrase, actor)
                    if other is not actor:
                        raise ActorBookError(
                            f"{where}: form {form!r} already stands for {other.id!r}"
                        )
        for actor in self.actors.values():
            if actor.parent is not None and actor.parent not in self.actors:
                raise ActorBookError(
                    f"{source}: [actors.{actor.id}] parent {actor.parent!r} is not an actor"
                )

    def __len__(self) -> int:
        return len(self.actors)

    def find(self, tokens: Tokens) -> list[ActorMention]:
        return [ActorMention(self._by_phrase[hit.phrase], hit) for hit in self._index.find(tokens)]


def _parse_actor(key: str, entry: Mapping[str, object], where: str) -> ActorInfo:
    def text(name: str, *, required: bool = True) -> str | None:
        value = entry.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ActorBookError(f"{where}: {name} must be a non-empty string")
        return value

    actor_type = text("actor_type")
    if actor_type not in ACTOR_TYPES:
        raise ActorBookError(f"{where}: actor_type {actor_type!r} is not one of {ACTOR_TYPES}")
    air_power = entry.get("air_power", False)
    if not isinstance(air_power, bool):
        raise ActorBookError(f"{where}: air_power must be true or false")
    known = {"name_en", "name_ar", "actor_type", "country", "parent", "air_power", "en", "ar"}
    extra = set(entry) - known
    if extra:
        raise ActorBookError(f"{where}: unknown key(s) {sorted(extra)}")
    return ActorInfo(
        id=key,
        name_en=text("name_en") or "",
        name_ar=text("name_ar") or "",
        actor_type=actor_type,
        country=text("country", required=False),
        parent=text("parent", required=False),
        air_power=air_power,
    )


def load_actors(path: str | Path | None = None) -> ActorBook:
    """Compile an actors file; ``None`` loads the shipped ``service/data/actors.toml``."""
    source, data = load_data_toml("actors.toml", path, ActorBookError)
    return ActorBook(data, source)
