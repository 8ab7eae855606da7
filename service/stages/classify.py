"""Topic labels from an explainable, editable lexicon of cue words.

Why a lexicon: every label carries the words that produced it (``Evidence``
spans into the original title or text), so a reader can check it and an
analyst can fix a miss by editing ``service/data/topics.toml``: no model, no
training data, nothing to download. The labels are a pure function of the text
and the lexicon, so reprocessing an article gives the same result. It is cheap
enough for the hot path: the lexicon is compiled once into a dictionary from
every accepted word form to its word, so an article costs one regex split and
one dictionary lookup per word (memoised per distinct word), whatever the
lexicon size.

Matching compares the ``normalize_for_matching`` form of each word (letter
variants, diacritics, tatweel and case do not matter) while offsets stay those
of the original string. A word also matches behind the Arabic proclitics
و ف ب ل and the article (والقوات، بالقوات، للقوات all match قوات); suffixed
forms (feminine, dual, plural, attached pronouns) are generated from each cue
when the lexicon loads, and English cues get their -s/-es/-ed/-ing/-er forms.

Scoring: an occurrence of a cue adds ``weight * factor / k`` to each of its
topics, where ``factor`` is ``title_weight`` in the title and 1 in the text
and ``k`` numbers that cue's occurrences (the third "missile" adds a third of
the first), so one repeated word cannot carry a topic. With ``n`` words in
title and text and ``S`` a topic's sum::

    confidence = 1 - exp(-S / (scale * sqrt(max(n, reference_tokens) / reference_tokens)))

which saturates towards 1 and asks more evidence of a long article than of a
short one, so a passing mention in a long report stays below the threshold. A
topic is emitted when its confidence reaches ``threshold`` and its sum reaches
``relative_threshold`` times the leading topic's; its evidence is the
strongest cue occurrences, one per cue first. The parameters live in the
lexicon file.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from os import PathLike
from pathlib import Path
from typing import Any, Final, Literal

from schemas.models import Actor, EventLabel, Evidence, Figure, Location, TopicLabel
from service.stages.datafiles import read_data_text
from service.stages.enrich import configure as configure_enricher
from service.stages.enrich import extract
from service.stages.phrases import PhraseError, PhraseIndex, Tokens, tokenize

TOPICS: Final[tuple[str, ...]] = (
    "conflict_security",
    "politics_diplomacy",
    "economy_business",
    "sports",
    "science_technology",
    "health",
    "society_humanitarian",
    "environment_disasters",
    "culture_religion",
)
"""The fixed topic taxonomy; a lexicon may cover a subset but no other id."""

_TOPIC_INDEX: Final = {topic: i for i, topic in enumerate(TOPICS)}

_FieldName = Literal["title", "text"]
_Occurrence = tuple[float, _FieldName, int, int]
"""A cue found in an article: (field factor, field, start, end)."""


class LexiconError(ValueError):
    """The lexicon file cannot be used; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class Classification:
    """What ``classify`` found in one article."""

    topics: tuple[TopicLabel, ...]
    events: tuple[EventLabel, ...] = ()
    actors: tuple[Actor, ...] = ()
    locations: tuple[Location, ...] = ()
    figures: tuple[Figure, ...] = ()


@dataclass(frozen=True, slots=True)
class Scoring:
    """Scoring parameters: the lexicon file's ``[scoring]`` table (see the module doc)."""

    title_weight: float = 2.0
    scale: float = 3.0
    reference_tokens: int = 100
    threshold: float = 0.25
    relative_threshold: float = 0.25
    max_evidence: int = 3


# --------------------------------------------------------------------------- lexicon


class Lexicon:
    """A compiled topic lexicon. Build it with ``Lexicon.parse`` or ``load_lexicon``."""

    __slots__ = ("_entries", "_index", "cue_counts", "scoring", "source")

    def __init__(self, data: Mapping[str, object], source: str) -> None:
        self.source = source
        unknown = set(data) - {"scoring", "weights", "topics"}
        if unknown:
            raise LexiconError(f"{source}: unknown table(s) {sorted(unknown)}")
        self.scoring = _parse_scoring(_table(data, "scoring", source, required=False), source)
        weights = _parse_weights(_table(data, "weights", source, required=True), source)
        topics = _table(data, "topics", source, required=True)

        index = PhraseIndex()
        entries: list[dict[int, float]] = []
        counts: dict[tuple[str, str], int] = {}

        for topic, languages in topics.items():
            if topic not in _TOPIC_INDEX:
                raise LexiconError(f"{source}: unknown topic {topic!r} (known: {list(TOPICS)})")
            if not isinstance(languages, Mapping):
                raise LexiconError(f"{source}: [topics.{topic}] must be a table of languages")
            for language, tiers in languages.items():
                where = f"{source}: [topics.{topic}.{language}]"
                if not isinstance(tiers, Mapping):
                    raise LexiconError(f"{where} must be a table of weight tiers")
                seen: set[int] = set()
                for tier, cues in tiers.items():
                    if tier not in weights:
                        raise LexiconError(f"{where}: tier {tier!r} is not in [weights]")
                    if not isinstance(cues, list) or not all(isinstance(c, str) for c in cues):
                        raise LexiconError(f"{where}: {tier} must be a list of strings")
                    for cue in cues:
                        try:
                            key = index.add(
                                cue.removeprefix("="), language, exact=cue.startswith("=")
                            )
                        except PhraseError:
                            raise LexiconError(f"{where}: cue {cue!r} has no word in it") from None
                        if key == len(entries):
                            entries.append({})
                        topic_index = _TOPIC_INDEX[topic]
                        entries[key][topic_index] = max(
                            entries[key].get(topic_index, 0.0), weights[tier]
                        )
                        seen.add(key)
                counts[(topic, language)] = len(seen)

        self._index = index
        self._entries = tuple(tuple(sorted(topic_weights.items())) for topic_weights in entries)
        self.cue_counts: Mapping[tuple[str, str], int] = counts

    @classmethod
    def parse(cls, toml_text: str, source: str = "<lexicon>") -> Lexicon:
        """Compile a lexicon from the text of a TOML file."""
        try:
            data = tomllib.loads(toml_text)
        except tomllib.TOMLDecodeError as exc:
            raise LexiconError(f"{source}: not valid TOML: {exc}") from exc
        return cls(data, source)

    def __repr__(self) -> str:
        return f"Lexicon({self.source!r}, {sum(self.cue_counts.values())} cues)"

    # ----------------------------------------------------------------------- matching

    def _scan(
        self,
        tokens: Tokens,
        field: _FieldName,
        factor: float,
        found: dict[int, list[_Occurrence]],
    ) -> int:
        """Record cue occurrences of ``tokens`` in ``found``; return its number of words."""
        for hit in self._index.find(tokens):
            found.setdefault(hit.phrase, []).append((factor, field, hit.start, hit.end))
        return len(tokens)

    def topics(
        self,
        title: str,
        text: str,
        *,
        title_tokens: Tokens | None = None,
        text_tokens: Tokens | None = None,
    ) -> tuple[TopicLabel, ...]:
        """Topic labels of an article, strongest first, each with its best evidence.

        Pass the ``tokenize`` results when the caller has them already.
        """
        title_tokens = tokenize(title) if title_tokens is None else title_tokens
        text_tokens = tokenize(text) if text_tokens is None else text_tokens
        scoring = self.scoring
        found: dict[int, list[_Occurrence]] = {}
        words = self._scan(title_tokens, "title", scoring.title_weight, found)
        words += self._scan(text_tokens, "text", 1.0, found)
        if not found:
            return ()

        sums = [0.0] * len(TOPICS)
        # per topic: (-contribution, in text?, start, key) of each cue, to sort by strength
        support: list[list[tuple[float, bool, int, int]]] = [[] for _ in TOPICS]
        for key, occurrences in found.items():
            if len(occurrences) == 1:
                strength = occurrences[0][0]
            else:
                occurrences.sort(key=lambda o: (-o[0], o[1] != "title", o[2]))
                strength = sum(o[0] / k for k, o in enumerate(occurrences, 1))
            _, field, start, _ = occurrences[0]
            for topic, weight in self._entries[key]:
                sums[topic] += weight * strength
                support[topic].append((-weight * strength, field != "title", start, key))

        divisor = scoring.scale * math.sqrt(
            max(words, scoring.reference_tokens) / scoring.reference_tokens
        )
        leading = max(sums)
        ranked = sorted(range(len(TOPICS)), key=lambda t: (-sums[t], t))
        originals: dict[_FieldName, str] = {"title": title, "text": text}
        labels: list[TopicLabel] = []
        for topic in ranked:
            confidence = 1.0 - math.exp(-sums[topic] / divisor)
            if (
                sums[topic] <= 0.0
                or confidence < scoring.threshold
                or sums[topic] < scoring.relative_threshold * leading
            ):
                continue
            labels.append(
                TopicLabel(
                    label=TOPICS[topic],
                    confidence=round(confidence, 4),
                    evidence=self._evidence(support[topic], found, originals),
                )
            )
        return tuple(labels)

    def _evidence(
        self,
        support: list[tuple[float, bool, int, int]],
        found: dict[int, list[_Occurrence]],
        originals: Mapping[_FieldName, str],
    ) -> list[Evidence]:
        """The strongest spans: one per cue first, then further occurrences of the top cues."""
        limit = self.scoring.max_evidence
        cues = [key for *_, key in sorted(support)]
        chosen = [found[key][0] for key in cues[:limit]]
        for key in cues:
            for occurrence in found[key][1:]:
                if len(chosen) >= limit:
                    break
                chosen.append(occurrence)
        return [
            Evidence(text=originals[field][start:end], field=field, start=start, end=end)
            for _, field, start, end in chosen
        ]


def _table(
    data: Mapping[str, object], name: str, source: str, *, required: bool
) -> Mapping[str, object]:
    value = data.get(name)
    if value is None:
        if required:
            raise LexiconError(f"{source}: missing [{name}] table")
        return {}
    if not isinstance(value, Mapping):
        raise LexiconError(f"{source}: {name} must be a table")
    return value


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parse_scoring(table: Mapping[str, object], source: str) -> Scoring:
    known = {f.name for f in fields(Scoring)}
    values: dict[str, Any] = {}  # checked below, field by field
    for name, value in table.items():
        if name not in known:
            raise LexiconError(f"{source}: unknown [scoring] key {name!r}")
        integral = name in ("reference_tokens", "max_evidence")
        if not _number(value) or (integral and not isinstance(value, int)):
            kind = "an integer" if integral else "a number"
            raise LexiconError(f"{source}: [scoring] {name} must be {kind}")
        values[name] = value
    scoring = replace(Scoring(), **values)
    if not (
        scoring.title_weight > 0
        and scoring.scale > 0
        and scoring.reference_tokens >= 1
        and 0 < scoring.threshold <= 1
        and 0 <= scoring.relative_threshold <= 1
        and scoring.max_evidence >= 1
    ):
        raise LexiconError(f"{source}: [scoring] values out of range: {scoring}")
    return scoring


def _parse_weights(table: Mapping[str, object], source: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for name, value in table.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 10:
            raise LexiconError(f"{source}: [weights] {name} must be a number in (0, 10]")
        weights[name] = float(value)
    if not weights:
        raise LexiconError(f"{source}: [weights] defines no tier")
    return weights


# --------------------------------------------------------------------------- entry points

_DEFAULT_RESOURCE: Final = "topics.toml"
_active: Lexicon | None = None


def load_lexicon(path: str | PathLike[str] | None = None) -> Lexicon:
    """Compile a lexicon file and make it the one ``classify`` uses; return it.

    ``None`` loads the lexicon shipped with the service
    (``service/data/topics.toml``). Raises ``LexiconError`` when the file
    cannot be read or used, leaving the current lexicon in place.
    """
    global _active
    source, text = read_data_text(_DEFAULT_RESOURCE, path, LexiconError)
    lexicon = Lexicon.parse(text, source)
    _active = lexicon
    return lexicon


def active_lexicon() -> Lexicon:
    """The lexicon ``classify`` uses: the shipped one unless ``load_lexicon`` replaced it."""
    return _active if _active is not None else load_lexicon()


_configured: tuple[str | None, str] | None = None


def configure_classifier(data_dir: str | PathLike[str] | None = None) -> str:
    """Load the topic lexicon and the entity data, from ``data_dir`` where it has a file.

    Returns the classifier's version: a digest of every data file and of the
    rules' own version, so ``pipeline_version`` changes whenever either does.
    Loading takes a few seconds (the gazetteer); a second call with the same
    directory returns at once.
    """
    global _configured
    key = None if data_dir is None else str(data_dir)
    if _configured is not None and _configured[0] == key:
        return _configured[1]
    custom = None if data_dir is None else Path(data_dir) / _DEFAULT_RESOURCE
    load_lexicon(custom if custom is not None and custom.is_file() else None)
    version = configure_enricher(data_dir).version
    # Build what the first article would otherwise build (the tokenizer's character
    # tables, the phrase indexes): a worker's first record must not pay for it.
    classify("Warm-up", "وصلت تعزيزات إلى دير الزور. Five soldiers were killed.", "ar")
    _configured = (key, version)
    return version


def classify(
    title: str, text: str, language: str, *, lexicon: Lexicon | None = None
) -> Classification:
    """Topics, events, actors, places and figures of an article, each with its evidence.

    ``language`` is the article's ISO 639-1 code. Every language section of
    the data is matched whatever its value: the scripts do not overlap, so
    this costs nothing and keeps an article with a wrong language hint
    classifiable. Title and text are tokenized once for every extractor.
    """
    del language
    title_tokens, text_tokens = tokenize(title), tokenize(text)
    topics = (lexicon or active_lexicon()).topics(
        title, text, title_tokens=title_tokens, text_tokens=text_tokens
    )
    found = extract(title, text, title_tokens, text_tokens)
    leading = topics[0].label if topics else None
    if leading in _EVENTLESS_TOPICS:
        events: tuple[EventLabel, ...] = ()
    elif leading == "sports":
        # "هجوم", "strike", "معركة" are the game's words; a riot after the match is not
        events = tuple(
            e
            for e in found.events
            if e.event_type not in _SPORTS_WORDS and e.sub_event_type not in _SPORTS_WORDS
        )
    else:
        events = found.events
    places = {e.location for e in events}
    return Classification(
        topics=topics,
        events=events,
        actors=found.actors,
        locations=tuple(
            loc
            if loc.is_event_location == (loc.id in places)
            else loc.model_copy(update={"is_event_location": loc.id in places})
            for loc in found.locations
        ),
        # a match's numbers are goals and seasons, unless a riot is reported with them
        figures=found.figures
        if leading not in _EVENTLESS_TOPICS and (leading != "sports" or events)
        else (),
    )


_EVENTLESS_TOPICS: Final = frozenset({"culture_religion", "science_technology"})
"""News led by these reports no events or casualty figures: the battles of a war
film or a novel, the "attacks" of a virus."""
_SPORTS_WORDS: Final = frozenset(
    {"Battles", "Explosions/Remote violence", "Looting/property destruction"}
)
"""Event and sub-event types a sports report names with its own words ("هجوم", "ضربة
جزاء", "معركة", "demolition")."""
