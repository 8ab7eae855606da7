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
import re
import tomllib
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from functools import cache
from importlib import resources
from itertools import accumulate, repeat
from os import PathLike
from pathlib import Path
from typing import Any, Final, Literal

from schemas.models import Actor, EventLabel, Evidence, Figure, Location, TopicLabel
from service.stages.normalize import normalize_for_matching

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


# --------------------------------------------------------------------------- words

_PROBED: Final = frozenset([*range(0x0600, 0x0700), *range(0x0750, 0x0780), *range(0x0870, 0x0900)])
"""Arabic blocks, where normalize_for_matching may drop or remap any character."""

_PLAIN_BLOCKS: Final = ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xA000, 0xA490), (0xAC00, 0xD7A4))
"""CJK, Yi and Hangul syllables: thousands of letters that only ever fold to themselves."""


@dataclass(frozen=True, slots=True)
class _Tokenizer:
    word: re.Pattern[str]
    splitter: re.Pattern[str]  # the word pattern as one capturing group
    unstable: re.Pattern[str]
    unstable_in_nfkc: re.Pattern[str]  # the unstable characters NFKC-normalised text can hold
    fold: dict[int, str]  # what normalize_for_matching makes of a character besides case

    def split(self, text: str) -> list[str]:
        """Separators and words, alternating, starting and ending with a separator."""
        return self.splitter.split(text)


def _char_class(codepoints: list[int]) -> str:
    ranges: list[str] = []
    start = prev = codepoints[0]
    for cp in [*codepoints[1:], -2]:
        if cp != prev + 1:
            ranges.append(f"\\U{start:08x}" if start == prev else f"\\U{start:08x}-\\U{prev:08x}")
            start = cp
        prev = cp
    return "".join(ranges)


@cache
def _tokenizer() -> _Tokenizer:
    """Word patterns that agree with ``normalize_for_matching``, derived from it.

    A raw word is a run of letters and digits with the marks
    ``normalize_for_matching`` drops (diacritics, tatweel) allowed inside, so
    each raw word normalises to exactly one matching word and its span is a
    span of the original text. Characters that break this are "unstable":
    compatibility characters that NFKC turns into several words or into a word
    from a symbol (½, ™, ﷺ) and combining marks that compose with the letter
    before them, letters whose case folding adds a mark (İ). They are rare;
    text containing them is normalised run by run first, keeping a map back to
    the original offsets.
    """
    dropped: list[int] = []
    unstable: list[int] = []
    unstable_folding: list[int] = []
    fold: dict[int, str] = {}
    skipped = {cp for lo, hi in _PLAIN_BLOCKS for cp in range(lo, hi)}
    for cp in range(0x80, 0x10000):
        if cp in skipped or 0xD800 <= cp <= 0xDFFF:
            continue
        char = chr(cp)
        category = unicodedata.category(char)
        stable = unicodedata.is_normalized("NFKC", char)
        folded = char.casefold()
        if (
            stable
            and category[0] not in "MC"
            and category != "Lm"
            and len(folded) == 1
            and folded.isalnum() == char.isalnum()
            and cp not in _PROBED
        ):
            continue  # normalize_for_matching only case-folds it, in place
        probe = normalize_for_matching(f"a{char}a")
        if probe == "aa":
            dropped.append(cp)
            fold[cp] = ""
        elif category[0] == "M" or ((" " in probe) if char.isalnum() else (probe != "a a")):
            unstable.append(cp)  # composes, splits or joins words once normalised
            if len(folded) != 1 or folded.isalnum() != char.isalnum():
                unstable_folding.append(cp)
        elif stable and char.isalnum() and probe[1:-1] != folded:
            fold[cp] = probe[1:-1]  # a letter variant or a digit
    marks = _char_class(dropped)
    word = f"[^\\W_]+(?:[{marks}]+[^\\W_]*)*|[{marks}]+(?:[^\\W_]+[{marks}]*)*"
    return _Tokenizer(
        word=re.compile(word),
        splitter=re.compile(f"({word})"),
        unstable=re.compile(f"[{_char_class(unstable)}\\U00010000-\\U0010ffff]+"),
        unstable_in_nfkc=re.compile(f"[{_char_class(unstable_folding)}\\U00010000-\\U0010ffff]"),
        fold=fold,
    )


def _matching_form(word: str) -> str:
    """``normalize_for_matching`` of one raw word, without its general machinery when possible."""
    if word.isascii():
        return word.lower()
    if unicodedata.is_normalized("NFKC", word):
        return word.translate(_tokenizer().fold).casefold()
    return normalize_for_matching(word)


def _normalized_view(text: str) -> tuple[str, list[int] | None, list[int] | None]:
    """``text`` with its unstable runs NFKC-normalised and case-folded, and maps back to ``text``.

    Usually nothing is unstable: the text itself and ``None`` maps. Otherwise
    ``starts[i]``/``ends[i]`` bound the original characters that character
    ``i`` of the view came from.
    """
    tokenizer = _tokenizer()
    if text.isascii() or (
        unicodedata.is_normalized("NFKC", text) and tokenizer.unstable_in_nfkc.search(text) is None
    ):
        return text, None, None
    unstable = tokenizer.unstable
    match = unstable.search(text)
    if match is None:
        return text, None, None
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    while match is not None:
        start, end = match.span()
        # NFKC reorders and composes a whole combining sequence: take it all,
        # from the letter that carries it.
        if unicodedata.category(text[start])[0] == "M":
            while start > pos and unicodedata.category(text[start - 1])[0] == "M":
                start -= 1
            if start > pos:
                start -= 1
        while end < len(text) and unicodedata.category(text[end])[0] == "M":
            end += 1
        pieces.append(text[pos:start])
        starts.extend(range(pos, start))
        ends.extend(range(pos + 1, start + 1))
        normalized = unicodedata.normalize("NFKC", text[start:end]).casefold()
        pieces.append(normalized)
        starts.extend([start] * len(normalized))
        ends.extend([end] * len(normalized))
        pos = end
        match = unstable.search(text, pos)
    pieces.append(text[pos:])
    starts.extend(range(pos, len(text)))
    ends.extend(range(pos + 1, len(text) + 1))
    return "".join(pieces), starts, ends


def _matching_words(text: str) -> list[tuple[str, int, int]]:
    """The words of ``normalize_for_matching(text)``, each with its span in ``text``."""
    view, starts, ends = _normalized_view(text)
    words: list[tuple[str, int, int]] = []
    for match in _tokenizer().word.finditer(view):
        word = _matching_form(match.group())
        if word:
            a, b = match.span()
            if starts is not None and ends is not None:
                a, b = starts[a], ends[b - 1]
            words.append((word, a, b))
    return words


# --------------------------------------------------------------------------- inflection

_AR_ARTICLE: Final = "ال"
_AR_PROCLITICS: Final = (
    # longest first: the first that leaves a known word wins
    "وبال", "فبال", "وكال",
    "وال", "فال", "بال", "كال", "ولل", "فلل",
    "لل", "ال", "وب", "ول", "فب", "فل",
    "و", "ف", "ب", "ل",
)  # fmt: skip
_AR_PRONOUNS: Final = ("ه", "ها", "هم", "هما", "هن", "ك", "كم", "كما", "نا", "ني", "ي")
_AR_ENDINGS: Final = ("ا", "ان", "ين", "ون", "ات", "ه", "تان", "تين", "ت", "وا", "ي")
_MIN_INFLECTED: Final = 3
"""Words shorter than this get no generated forms: too many would collide."""


def _arabic_base(word: str) -> str:
    """A cue written with the article stands for the bare word (proclitics are stripped later)."""
    if word.startswith(_AR_ARTICLE) and len(word) - len(_AR_ARTICLE) >= _MIN_INFLECTED:
        return word[len(_AR_ARTICLE) :]
    return word


def _arabic_forms(word: str) -> set[str]:
    """Suffixed forms of an Arabic word (in matching form, so ة is already ه).

    Feminine, dual and plural endings, attached pronouns, the perfect-tense
    endings ت/وا and the accusative alef; a final ه is also read as ta marbuta,
    which becomes ت before a suffix (غارة: غارات، غارتين، غارته).
    """
    forms = {word}
    if len(word) < _MIN_INFLECTED:
        return forms
    stems = {word, word + "ات"}
    forms.update(word + ending for ending in _AR_ENDINGS)
    if word.endswith("ه"):
        root = word[:-1]
        forms.update((root + "ات", root + "تان", root + "تين", root + "تا"))
        stems.update((root + "ت", root + "ات"))
    forms.update(stem + pronoun for stem in stems for pronoun in _AR_PRONOUNS)
    return forms


def _english_forms(word: str) -> set[str]:
    """Regular English inflections; forms that are not words are harmless."""
    forms = {word}
    if len(word) < _MIN_INFLECTED or not word.isascii() or not word.isalpha():
        return forms
    forms.add(word + "s")
    if word.endswith(("s", "x", "z", "ch", "sh")):
        forms.add(word + "es")
    if word.endswith("e"):
        forms.update((word + "d", word[:-1] + "ing", word + "r", word + "rs"))
    elif word.endswith("y") and word[-2] not in "aeiou":
        forms.update((word[:-1] + "ies", word[:-1] + "ied", word + "ing"))
    else:
        forms.update(word + suffix for suffix in ("ed", "ing", "er", "ers"))
        vowels = "aeiou"
        if word[-1] not in vowels + "wxy" and word[-2] in vowels and word[-3] not in vowels:
            forms.update(word + word[-1] + suffix for suffix in ("ed", "ing"))
    return forms


_INFLECTIONS: Final[dict[str, tuple[Callable[[str], str], Callable[[str], set[str]]]]] = {
    "ar": (_arabic_base, _arabic_forms),
    "en": (lambda word: word, _english_forms),
}
"""Per language section: the base a cue word stands for, and the forms it matches."""


# --------------------------------------------------------------------------- lexicon

_NO_LEMMA: Final = -1
_NOT_A_WORD: Final = -2
_UNSEEN: Final = -3
_MEMO_SIZE: Final = 200_000


class Lexicon:
    """A compiled topic lexicon. Build it with ``Lexicon.parse`` or ``load_lexicon``."""

    __slots__ = (
        "_entries",
        "_forms",
        "_memo",
        "_proclitics",
        "_starts",
        "cue_counts",
        "scoring",
        "source",
    )

    def __init__(self, data: Mapping[str, object], source: str) -> None:
        self.source = source
        unknown = set(data) - {"scoring", "weights", "topics"}
        if unknown:
            raise LexiconError(f"{source}: unknown table(s) {sorted(unknown)}")
        self.scoring = _parse_scoring(_table(data, "scoring", source, required=False), source)
        weights = _parse_weights(_table(data, "weights", source, required=True), source)
        topics = _table(data, "topics", source, required=True)

        lemmas: dict[str, int] = {}
        generators: dict[int, set[Callable[[str], set[str]]]] = {}
        keys: dict[tuple[int, ...], int] = {}
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
                base_of, forms_of = _INFLECTIONS.get(language, (lambda w: w, lambda w: {w}))
                seen: set[tuple[int, ...]] = set()
                for tier, cues in tiers.items():
                    if tier not in weights:
                        raise LexiconError(f"{where}: tier {tier!r} is not in [weights]")
                    if not isinstance(cues, list) or not all(isinstance(c, str) for c in cues):
                        raise LexiconError(f"{where}: {tier} must be a list of strings")
                    for cue in cues:
                        exact = cue.startswith("=")
                        words = normalize_for_matching(cue.removeprefix("=")).split()
                        if not words:
                            raise LexiconError(f"{where}: cue {cue!r} has no word in it")
                        ids: list[int] = []
                        for word in words:
                            base = base_of(word)
                            lemma = lemmas.setdefault(base, len(lemmas))
                            if not exact:
                                generators.setdefault(lemma, set()).add(forms_of)
                            ids.append(lemma)
                        key = keys.setdefault(tuple(ids), len(keys))
                        if key == len(entries):
                            entries.append({})
                        index = _TOPIC_INDEX[topic]
                        entries[key][index] = max(entries[key].get(index, 0.0), weights[tier])
                        seen.add(tuple(ids))
                counts[(topic, language)] = len(seen)

        forms: dict[str, int] = dict(lemmas)  # a word's own form beats another's inflection
        for base, lemma in lemmas.items():
            for generate in sorted(generators.get(lemma, ()), key=lambda g: g.__name__):
                for form in sorted(generate(base)):
                    forms.setdefault(form, lemma)

        # first lemma -> (rest of the cue's lemmas, key), longest cue first
        starts: dict[int, list[tuple[tuple[int, ...], int]]] = {}
        for ids_key, key in keys.items():
            starts.setdefault(ids_key[0], []).append((ids_key[1:], key))
        self._forms = forms
        self._starts = {
            first: tuple(sorted(cues, key=lambda cue: (-len(cue[0]), cue[0])))
            for first, cues in starts.items()
        }
        self._entries = tuple(tuple(sorted(topic_weights.items())) for topic_weights in entries)
        proclitics: dict[str, list[str]] = {}
        for proclitic in _AR_PROCLITICS:
            proclitics.setdefault(proclitic[0], []).append(proclitic)
        self._proclitics = {first: tuple(group) for first, group in proclitics.items()}
        self.cue_counts: Mapping[tuple[str, str], int] = counts
        # Token -> lemma, filled as articles are read: news vocabulary repeats,
        # so most tokens cost one lookup. Bounded; results never depend on it.
        self._memo: dict[str, int] = {}

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

    def _resolve(self, token: str) -> int:
        """The lemma a raw word is a form of, looking behind Arabic proclitics.

        ``_NO_LEMMA`` when it is none, ``_NOT_A_WORD`` when the word is only
        ignorable marks.
        """
        word = _matching_form(token)
        if not word:
            return _NOT_A_WORD
        lemma = self._forms.get(word)
        if lemma is None:
            for proclitic in self._proclitics.get(word[0], ()):
                if len(word) - len(proclitic) >= 2 and word.startswith(proclitic):
                    lemma = self._forms.get(word[len(proclitic) :])
                    if lemma is not None:
                        break
        return _NO_LEMMA if lemma is None else lemma

    def _scan(
        self,
        text: str,
        field: _FieldName,
        factor: float,
        found: dict[int, list[_Occurrence]],
    ) -> int:
        """Record cue occurrences of ``text`` in ``found``; return its number of words."""
        if not text:
            return 0
        view, start_map, end_map = _normalized_view(text)
        parts = _tokenizer().split(view)  # separator, word, separator, ..., separator
        words = parts[1::2]
        memo = self._memo
        lemmas = list(map(memo.get, words, repeat(_UNSEEN)))
        if _UNSEEN in lemmas:
            for i, lemma in enumerate(lemmas):
                if lemma == _UNSEEN:
                    if len(memo) >= _MEMO_SIZE:
                        memo.clear()
                    lemmas[i] = memo[words[i]] = self._resolve(words[i])
        offsets = list(accumulate(map(len, parts)))  # word i spans offsets[2i]:offsets[2i+1]
        hits = [
            (i, lemma, offsets[2 * i], offsets[2 * i + 1])
            for i, lemma in enumerate(lemmas)
            if lemma >= 0
        ]
        if start_map is not None and end_map is not None:
            hits = [(i, lemma, start_map[a], end_map[b - 1]) for i, lemma, a, b in hits]

        starts_get = self._starts.get
        n_hits = len(hits)
        i = 0
        while i < n_hits:
            number, lemma, start, end = hits[i]
            i += 1
            for rest, key in starts_get(lemma, ()):
                if rest:
                    last = i - 1 + len(rest)
                    if not (
                        last < n_hits
                        and hits[last][0] == number + len(rest)  # consecutive words
                        and all(hits[i + j][1] == r for j, r in enumerate(rest))
                    ):
                        continue
                    end = hits[last][3]
                    i = last + 1
                found.setdefault(key, []).append((factor, field, start, end))
                break
        return len(words) - lemmas.count(_NOT_A_WORD)

    def topics(self, title: str, text: str) -> tuple[TopicLabel, ...]:
        """Topic labels of an article, strongest first, each with its best evidence."""
        scoring = self.scoring
        found: dict[int, list[_Occurrence]] = {}
        words = self._scan(title, "title", scoring.title_weight, found)
        words += self._scan(text, "text", 1.0, found)
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
    if path is None:
        source = f"service.data/{_DEFAULT_RESOURCE}"
        resource = resources.files("service.data").joinpath(_DEFAULT_RESOURCE)
        text = resource.read_text(encoding="utf-8")
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise LexiconError(f"cannot read lexicon {source}: {exc}") from exc
    lexicon = Lexicon.parse(text, source)
    _active = lexicon
    return lexicon


def active_lexicon() -> Lexicon:
    """The lexicon ``classify`` uses: the shipped one unless ``load_lexicon`` replaced it."""
    return _active if _active is not None else load_lexicon()


def classify(
    title: str, text: str, language: str, *, lexicon: Lexicon | None = None
) -> Classification:
    """Topic labels of an article, each with the evidence spans that support it.

    ``language`` is the article's ISO 639-1 code. Every language section of
    the lexicon is matched whatever its value: the scripts do not overlap, so
    this costs nothing and keeps an article with a wrong language hint
    classifiable. Events, actors, places and figures are not extracted yet, so
    those tuples are empty.
    """
    del language
    return Classification(topics=(lexicon or active_lexicon()).topics(title, text))
