"""What happened: ACLED event types and sub-event types, coded by rule from trigger phrases.

``service/data/events.toml`` lists trigger phrases for each of ACLED's 25
sub-event types, with the CAMEO root code each maps to. Coding works sentence
by sentence, because that is where a trigger's actors and place are:

* a strong trigger ("غارة جوية", "roadside bomb") reports its sub-event alone;
  a weak one ("ضربات", "strike", "سيطرة") only with an armed actor from the
  actor dictionary in the same sentence, so a sports "strike" is no event;
* a sentence with a historical or hypothetical marker ("ذكرى", "threatened",
  "نفى") reports nothing: anniversaries, threats and denials are not events;
  a historical marker in the headline silences the whole article;
* seizing territory is "Government regains territory" when the acting party
  is a state force and "Non-state actor overtakes territory" otherwise;
* actor1 is the nearest actor before the trigger, actor2 the first other
  actor after it; the event's place is the first place after the trigger in
  the sentence, else the last before it.

One event per sub-event type per article: its evidence is every sentence
that reported it (up to a few spans), its confidence grows with them.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from service.stages.actors import ActorMention
from service.stages.datafiles import load_data_toml
from service.stages.gazetteer import PlaceMention
from service.stages.phrases import Hit, PhraseError, PhraseIndex, Tokens

EVENT_TYPES: Final[Mapping[str, tuple[str, ...]]] = {
    "Battles": (
        "Armed clash",
        "Government regains territory",
        "Non-state actor overtakes territory",
    ),
    "Explosions/Remote violence": (
        "Chemical weapon",
        "Air/drone strike",
        "Suicide bomb",
        "Shelling/artillery/missile attack",
        "Remote explosive/landmine/IED",
        "Grenade",
    ),
    "Violence against civilians": ("Sexual violence", "Attack", "Abduction/forced disappearance"),
    "Protests": (
        "Peaceful protest",
        "Protest with intervention",
        "Excessive force against protesters",
    ),
    "Riots": ("Violent demonstration", "Mob violence"),
    "Strategic developments": (
        "Agreement",
        "Arrests",
        "Change to group/activity",
        "Disrupted weapons use",
        "Headquarters or base established",
        "Looting/property destruction",
        "Non-violent transfer of territory",
        "Other",
    ),
}
"""ACLED's 6 event types and 25 sub-event types."""

_AIR_STRIKE: Final = "Air/drone strike"
_GOVERNMENT_REGAINS: Final = "Government regains territory"
_NON_STATE_OVERTAKES: Final = "Non-state actor overtakes territory"
_DEFAULT_ACTORS: Final[Mapping[str, tuple[str | None, str | None]]] = {
    "Protests": ("protesters", None),
    "Riots": ("rioters", None),
    "Violence against civilians": (None, "civilians"),
}
"""Who ACLED codes when the text names no one: protesters protest, civilians are the victims."""

ContextKind = Literal["historical", "hypothetical"]
# A run of newlines, or a stop not after a capital (initials) before a space or the
# end. Each pattern opens with one character class so that the engine skips to
# candidates in C instead of trying the whole pattern at every character (~5x faster).
_SENTENCE_END: Final = re.compile(r"[\n.!?؟؛](?:(?<=\n)\n*|(?<![A-Z].)(?=\s|$))")
_CLAUSE_END: Final = re.compile(r"[\n.!?؟؛،,](?:(?<=\n)\n*|(?<![A-Z].)(?=\s|$))")


class EventRulesError(ValueError):
    """The events file cannot be used; the message names the entry."""


@dataclass(frozen=True, slots=True)
class SubEvent:
    event_type: str
    sub_event_type: str
    cameo_root: str | None


@dataclass(slots=True)
class EventMention:
    """One coded sub-event of an article, with what supports it."""

    sub_event: SubEvent
    confidence: float
    actor1: str | None
    actor2: str | None
    place: PlaceMention | None
    spans: list[tuple[Literal["title", "text"], int, int]] = field(default_factory=list)
    strong: bool = False


@dataclass(frozen=True, slots=True)
class FieldFindings:
    """What the other extractors found in one field, for the coder to place in sentences."""

    name: Literal["title", "text"]
    tokens: Tokens
    actors: Sequence[ActorMention]
    places: Sequence[PlaceMention]


class EventRules:
    """Compiled trigger and context phrases. Build with ``load_event_rules``."""

    def __init__(self, data: Mapping[str, object], source: str) -> None:
        self.source = source
        unknown = set(data) - {"events", "context"}
        if unknown:
            raise EventRulesError(f"{source}: unknown table(s) {sorted(unknown)}")
        entries = data.get("events")
        if not isinstance(entries, list) or not entries:
            raise EventRulesError(f"{source}: missing [[events]] entries")
        self._triggers = PhraseIndex()
        self._meaning: dict[int, list[tuple[SubEvent, bool]]] = {}
        self.sub_events: dict[str, SubEvent] = {}
        for n, entry in enumerate(entries, 1):
            where = f"{source}: [[events]] #{n}"
            if not isinstance(entry, Mapping):
                raise EventRulesError(f"{where} must be a table")
            sub_event = self._sub_event(entry, where)
            if sub_event.sub_event_type in self.sub_events:
                raise EventRulesError(f"{where}: {sub_event.sub_event_type!r} appears twice")
            self.sub_events[sub_event.sub_event_type] = sub_event
            for name, value in entry.items():
                if name in ("event_type", "sub_event_type", "cameo_root"):
                    continue
                language, _, tier = name.partition("_")
                if language not in ("en", "ar") or tier not in ("", "weak"):
                    raise EventRulesError(f"{where}: unknown key {name!r}")
                for cue in _cue_list(value, f"{where} {name}"):
                    key = self._add(self._triggers, cue, language, f"{where} {name}")
                    meanings = self._meaning.setdefault(key, [])
                    if all(m[0] is not sub_event for m in meanings):
                        meanings.append((sub_event, tier == ""))
        self._context = PhraseIndex()
        self._context_kind: dict[int, ContextKind] = {}
        context = data.get("context", {})
        if not isinstance(context, Mapping):
            raise EventRulesError(f"{source}: [context] must be a table")
        for name, value in context.items():
            kind, _, language = name.rpartition("_")
            if kind not in ("historical", "hypothetical") or language not in ("en", "ar"):
                raise EventRulesError(f"{source}: [context] unknown key {name!r}")
            for cue in _cue_list(value, f"{source}: [context] {name}"):
                key = self._add(self._context, cue, language, f"{source}: [context] {name}")
                self._context_kind[key] = "historical" if kind == "historical" else "hypothetical"

    @staticmethod
    def _sub_event(entry: Mapping[str, object], where: str) -> SubEvent:
        event_type = entry.get("event_type")
        sub_event_type = entry.get("sub_event_type")
        if event_type not in EVENT_TYPES or not isinstance(event_type, str):
            raise EventRulesError(f"{where}: event_type {event_type!r} is not an ACLED type")
        if sub_event_type not in EVENT_TYPES[event_type]:
            raise EventRulesError(
                f"{where}: {sub_event_type!r} is not a sub-event type of {event_type!r}"
            )
        cameo = entry.get("cameo_root")
        if cameo is not None and not (isinstance(cameo, str) and re.fullmatch(r"\d\d", cameo)):
            raise EventRulesError(f"{where}: cameo_root must be two digits")
        return SubEvent(event_type, str(sub_event_type), cameo)

    @staticmethod
    def _add(index: PhraseIndex, cue: str, language: str, where: str) -> int:
        try:
            return index.add(cue.removeprefix("="), language, exact=cue.startswith("="))
        except PhraseError:
            raise EventRulesError(f"{where}: cue {cue!r} has no word in it") from None

    def code(self, fields: Sequence[FieldFindings]) -> list[EventMention]:
        """The sub-events the article reports, in order of first report."""
        events: dict[str, EventMention] = {}
        title = next((f for f in fields if f.name == "title"), None)
        if title is not None and any(
            self._context_kind[hit.phrase] == "historical"
            or _EXERCISE.search(title.tokens.text[hit.start : hit.end])
            for hit in self._context.find(title.tokens)
        ):
            return []  # "يحيون ذكرى مجزرة", "naval drills": the whole article is not an event
        for findings in fields:
            tokens = findings.tokens
            if not len(tokens):
                continue
            sentence_of = _sentence_index(tokens, _SENTENCE_END)
            clause_of = _sentence_index(tokens, _CLAUSE_END)
            suppressed = {sentence_of(hit.first) for hit in self._context.find(tokens)}
            actors_by_sentence: dict[int, list[ActorMention]] = {}
            for actor in findings.actors:
                actors_by_sentence.setdefault(sentence_of(actor.hit.first), []).append(actor)
            places_by_sentence: dict[int, list[PlaceMention]] = {}
            for place in findings.places:
                places_by_sentence.setdefault(sentence_of(place.hit.first), []).append(place)
            by_clause: dict[int, list[tuple[Hit, SubEvent, bool]]] = {}
            for hit in self._triggers.find(tokens):
                sentence = sentence_of(hit.first)
                if sentence in suppressed:
                    continue
                actors = actors_by_sentence.get(sentence, [])
                armed = any(a.actor.armed for a in actors)
                for sub_event, strong in self._meaning[hit.phrase]:
                    if strong or armed:
                        by_clause.setdefault(clause_of(hit.first), []).append(
                            (hit, sub_event, strong)
                        )
                        break
            intercepted_in = {
                sentence_of(t[0].first)
                for triggers in by_clause.values()
                for t in _clause_triggers(triggers)
                if t[1].sub_event_type == "Disrupted weapons use"
            }
            for triggers in by_clause.values():
                sentence = sentence_of(triggers[0][0].first)
                actors = actors_by_sentence.get(sentence, [])
                places = places_by_sentence.get(sentence, [])
                for hit, sub_event, strong in _clause_triggers(triggers):
                    if (
                        strong
                        and sentence in intercepted_in
                        and sub_event.sub_event_type in _INTERCEPTED
                    ):
                        # the weapon the sentence names was stopped; an air force's
                        # "ضربات" in the same sentence (weak, upgraded below) still struck
                        continue
                    actor1, actor2 = _roles(hit, actors)
                    if (
                        not strong
                        and sub_event.sub_event_type == _AIR_STRIKE
                        and actor1 is not None
                        and actor1.actor.air_power
                    ):
                        strong = True  # "US forces carried out strikes": from the air
                    self._record(
                        events,
                        self._refine(sub_event, actor1, actors),
                        strong,
                        hit,
                        findings.name,
                        actor1,
                        actor2,
                        _event_place(hit, places),
                    )
        if any(e.strong for e in events.values()):
            # weak words ("attack", "هجوم") then refer back to the reported events
            events = {k: e for k, e in events.items() if e.strong}
        if len(events) > 1:
            events.pop("Other", None)  # "دوي انفجارات" beside a reported strike is that strike
        present = {e.sub_event.event_type for e in events.values()}
        for absorbed, by in _ABSORBED.items():
            if len(events) > 1 and present & by:
                events.pop(absorbed, None)
        return _one_protest_reading(list(events.values()))

    def _refine(
        self, sub_event: SubEvent, actor1: ActorMention | None, actors: Sequence[ActorMention]
    ) -> SubEvent:
        if sub_event.sub_event_type in (_GOVERNMENT_REGAINS, _NON_STATE_OVERTAKES):
            actor = actor1 or (actors[0] if actors else None)
            if actor is None:
                return sub_event  # no one named: the trigger's own wording decides
            wanted = _GOVERNMENT_REGAINS if actor.actor.state else _NON_STATE_OVERTAKES
            return self.sub_events.get(wanted, sub_event)
        return sub_event

    @staticmethod
    def _record(
        events: dict[str, EventMention],
        sub_event: SubEvent,
        strong: bool,
        hit: Hit,
        field_name: Literal["title", "text"],
        actor1: ActorMention | None,
        actor2: ActorMention | None,
        place: PlaceMention | None,
    ) -> None:
        default1, default2 = _DEFAULT_ACTORS.get(sub_event.event_type, (None, None))
        id1 = actor1.actor.id if actor1 else default1
        id2 = actor2.actor.id if actor2 else default2
        if id2 == id1:
            id2 = None
        base = 0.8 if strong else 0.6
        event = events.get(sub_event.sub_event_type)
        if event is None:
            events[sub_event.sub_event_type] = EventMention(
                sub_event, base, id1, id2, place, [(field_name, hit.start, hit.end)], strong
            )
            return
        event.strong = event.strong or strong
        event.confidence = min(0.95, max(event.confidence, base) + 0.05)
        event.spans.append((field_name, hit.start, hit.end))
        # the first report sets the roles; later ones fill what it lacked
        event.actor1 = event.actor1 or id1
        event.actor2 = event.actor2 or (id2 if id2 != event.actor1 else None)
        event.place = event.place or place


_INTERCEPTED: Final = frozenset(
    {
        "Air/drone strike",
        "Shelling/artillery/missile attack",
        "Remote explosive/landmine/IED",
        "Suicide bomb",
    }
)
"""Weapons a sentence reports as intercepted ("Disrupted weapons use") did not strike."""


def _clause_triggers(
    triggers: Sequence[tuple[Hit, SubEvent, bool]],
) -> list[tuple[Hit, SubEvent, bool]]:
    """The triggers a clause's events come from.

    Strong triggers each code their sub-event; weak ones only when the
    clause has no strong one, and then only the first, since a weak word
    ("attack", "ضربة") names the event the clause is about at most once.
    Clauses, not sentences: Arabic news chains several events in one
    sentence with commas; roles and places still come from the sentence.
    """
    strong = [t for t in triggers if t[2]]
    chosen = strong or [triggers[0]]
    if any(t[1].sub_event_type == "Disrupted weapons use" for t in chosen):
        chosen = [t for t in chosen if t[1].sub_event_type not in _INTERCEPTED]
    return chosen


_EXERCISE: Final = re.compile(r"(?i)drill|exercise|مناور|تمرين|تدريبات")
_ABSORBED: Final[Mapping[str, frozenset[str]]] = {
    "Arrests": frozenset({"Protests", "Riots", "Violence against civilians"}),
    "Change to group/activity": frozenset({"Protests", "Riots"}),
    "Looting/property destruction": frozenset({"Violence against civilians", "Battles", "Riots"}),
}
"""Sub-events ACLED codes as part of another event the article reports: protesters
detained or a curfew imposed are the protest's intervention, the looting of a
village attacked is the attack, the gunman arrested afterwards is the attack's."""

_PROTEST_PRECEDENCE: Final = (
    "Excessive force against protesters",
    "Violent demonstration",
    "Protest with intervention",
    "Peaceful protest",
)
"""One demonstration gets one reading, the most severe reported (ACLED codes it once)."""


def _one_protest_reading(events: list[EventMention]) -> list[EventMention]:
    found = [e.sub_event.sub_event_type for e in events]
    readings = [s for s in _PROTEST_PRECEDENCE if s in found]
    if len(readings) <= 1:
        return events
    keep = readings[0]
    return [
        e
        for e in events
        if e.sub_event.sub_event_type not in _PROTEST_PRECEDENCE
        or e.sub_event.sub_event_type == keep
    ]


def _roles(
    hit: Hit, actors: Sequence[ActorMention]
) -> tuple[ActorMention | None, ActorMention | None]:
    before = [a for a in actors if a.hit.last < hit.first]
    after = [a for a in actors if a.hit.first > hit.last]
    actor1 = before[-1] if before else (after[0] if after else None)
    actor2 = next((a for a in after if actor1 is None or a.actor.id != actor1.actor.id), None)
    return actor1, actor2


def _event_place(hit: Hit, places: Sequence[PlaceMention]) -> PlaceMention | None:
    after = [p for p in places if p.hit.first > hit.last and p.place.precision != "country"]
    if after:
        return after[0]
    before = [p for p in places if p.hit.last < hit.first and p.place.precision != "country"]
    if before:
        return before[-1]
    return places[0] if places else None


def _sentence_index(tokens: Tokens, boundary: re.Pattern[str]) -> Callable[[int], int]:
    """Maps a word to the number of its sentence (or clause)."""
    ends = [m.start() for m in boundary.finditer(tokens.text)]
    starts = tokens.starts

    def sentence_of(word: int) -> int:
        return bisect.bisect_right(ends, starts[word])

    return sentence_of


def _cue_list(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise EventRulesError(f"{where} must be a list of strings")
    return value


def load_event_rules(path: str | Path | None = None) -> EventRules:
    """Compile an events file; ``None`` loads the shipped ``service/data/events.toml``."""
    source, data = load_data_toml("events.toml", path, EventRulesError)
    return EventRules(data, source)
