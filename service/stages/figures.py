"""How many: counts of killed, injured, detained, troops, vehicles, sites and displaced.

A figure is a number (Western or Eastern Arabic digits, or number words in
English or Arabic) tied to a kind cue: a noun right after it ("50 سيارة",
"five soldiers", after fillers like "people"/"أشخاص"), or, failing that, a
predicate shortly before it ("أسفر عن مقتل 5", "killed at least 12"). The cue
lists are short and tied to these rules, so they live here, not in a data file.

ACLED's rule applies: vague quantities ("dozens", "عشرات") are no figure; a
range gives its lower bound; "at least N" gives N; figures are reported as
written, never summed. Years, dates, percentages, money and durations are not
figures.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Final, Literal

from service.stages.phrases import FormFlags, Hit, PhraseIndex, Tokens

Kind = Literal["fatalities", "injured", "detained", "troops", "vehicles", "sites", "displaced"]

KIND_CUES: Final[Mapping[Kind, Mapping[str, Sequence[str]]]] = {
    "fatalities": {
        "en": [
            "killed", "dead", "death", "deaths", "died", "fatalities", "bodies", "=lives",
            "death toll", "=kill", "=killing", "slain", "lost their lives", "shot dead",
        ],
        "ar": [
            "قتيل", "قتلى", "مقتل", "قتل", "=قتلوا", "=قتلت", "مصرع", "حتفهم", "حتفه", "شهيد",
            "شهداء", "استشهاد", "=استشهد", "وفاة", "وفيات", "جثة", "جثث", "ضحية", "ضحايا",
            "حصيلة القتلى", "أودى بحياة", "=لقي", "=لقوا",
        ],
    },
    "injured": {
        "en": ["injured", "wounded", "=wounding", "hurt", "injuries", "=injuring"],
        "ar": [
            "جريح", "جرحى", "إصابة", "=إصابات", "مصاب", "=مصابين", "=أصيب", "=أصيبوا",
            "=بجروح", "=جروح",
        ],
    },
    "detained": {
        "en": [
            "arrested", "=arrest", "=arrests", "detained", "detainees", "=detaining", "abducted",
            "kidnapped", "hostages", "=taken hostage", "=captured", "prisoners",
        ],
        "ar": [
            "معتقل", "=معتقلين", "اعتقال", "=اعتقلت", "=اعتقل", "موقوف", "توقيف", "احتجاز",
            "=احتجزت", "محتجز", "مختطف", "=مختطفين", "اختطاف", "=خطف", "أسير", "أسرى",
            "=القبض", "رهينة", "=رهائن", "=معتقلا", "=أوقفت", "=أوقف", "=أوقفوا", "=احتجز",
            "=اختطف", "=اختطفت", "=اختطفوا", "=خطفت", "=خطفوا", "=اعتقلوا", "=اقتادوا",
        ],
    },
    "troops": {
        "en": [
            "troops", "soldier", "soldiers", "fighters", "personnel", "servicemembers",
            "service members", "marines", "officers", "militants", "gunmen",
        ],
        "ar": [
            "جندي", "=جنود", "عسكري", "عنصر", "=عناصر", "مقاتل", "ضابط", "=ضباط", "=مسلحين",
            "=مسلحا", "=مسلحون",
        ],
    },
    "vehicles": {
        "en": [
            "vehicles", "trucks", "tanks", "armoured vehicles", "armored vehicles", "humvees",
            "=cars", "military vehicles", "tankers", "=lorries",
        ],
        "ar": [
            "سيارة", "آلية", "شاحنة", "مدرعة", "دبابة", "=دبابات", "عربة", "=صهريج", "=صهاريج",
            "=ناقلة", "=ناقلات", "=عربات", "مركبة", "=مركبات",
        ],
    },
    "sites": {
        "en": [
            "sites", "targets", "positions", "depots", "=locations", "facilities",
            "weapons depots", "=targeted sites", "=buildings", "=bases", "=outposts",
        ],
        "ar": [
            "موقع", "=مواقع", "هدف", "=أهداف", "مستودع", "مخزن", "=مخازن", "منشأة", "=منشآت",
            "نقطة عسكرية", "=نقاط", "=مقرات", "مقر",
        ],
    },
    "displaced": {
        "en": ["displaced", "refugees", "=fled", "=evacuated", "forced to flee", "=flee"],
        "ar": [
            "نازح", "=نازحين", "=نازحا", "نزوح", "مهجر", "=مهجرين", "لاجئ", "=لاجئين", "تهجير",
            "=نزحوا", "=نزحت",
        ],
    },
}  # fmt: skip

FILLERS: Final[Mapping[str, Sequence[str]]] = {
    "en": [
        "people", "persons", "civilians", "children", "women", "men", "residents", "others",
        "other", "more", "of", "the", "were", "was", "have", "had", "been", "are",
        "members", "workers", "local", "pro", "iranian", "government", "army", "syrian",
        "iraqi", "israeli", "us", "american", "palestinians", "migrants", "families",
        "including", "their", "additional", "new",
    ],
    "ar": [
        "=شخص", "=أشخاص", "=شخصا", "مدني", "=مدنيين", "=مدنيا", "طفل", "=أطفال", "=امرأة",
        "=نساء", "رجل", "=رجال", "مواطن", "=آخرين", "=آخرون", "=من", "=على", "=الأقل",
        "=بين", "=فلسطيني", "=فلسطينيين", "=فلسطينيا", "=أمريكي", "=أميركي", "=إضافي", "=إضافية",
        "=عائلة", "=عائلات", "=أسرة", "=عاملين", "=عمال", "=مهاجرين", "=أخرى",
    ],
}  # fmt: skip
"""Words between a number and its kind noun that do not break the link."""

STOP_AFTER: Final = frozenset(
    {
        "percent", "%", "per", "cent", "dollars", "dollar", "usd", "euros", "euro", "pounds",
        "riyals", "years", "year", "yr", "km", "kilometres", "kilometers", "miles", "metres",
        "meters", "hours", "hour", "minutes", "days", "day", "weeks", "months", "january",
        "february", "march", "april", "may", "june", "july", "august", "september", "october",
        "november", "december", "بالمئة", "بالمائة", "في", "المئة", "المائة", "دولار",
        "دولارا", "دولارات", "يورو", "ريال", "جنيه", "ليرة", "دينار", "عام", "عاما", "سنة",
        "سنوات", "اعوام", "أعوام", "كم", "كيلومتر", "كيلومترا", "متر", "ساعة", "ساعات",
        "دقيقة", "دقائق", "يوم", "أيام", "اسبوع", "أسابيع", "شهر", "أشهر", "يناير", "فبراير",
        "مارس", "أبريل", "ابريل", "مايو", "يونيو", "يوليو", "أغسطس", "اغسطس", "سبتمبر",
        "أكتوبر", "اكتوبر", "نوفمبر", "ديسمبر", "كانون", "شباط", "آذار", "اذار", "نيسان",
        "أيار", "ايار", "حزيران", "تموز", "آب", "اب", "أيلول", "ايلول", "تشرين",
    }
)  # fmt: skip
"""Words that, right after a number, make it a date, a measure or money: no figure."""

_EN_UNITS: Final = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
_AR_UNITS: Final = {
    "واحد": 1, "واحده": 1, "اثنان": 2, "اثنين": 2, "اثنتان": 2, "اثنتين": 2, "ثلاث": 3,
    "ثلاثه": 3, "اربع": 4, "اربعه": 4, "خمس": 5, "خمسه": 5, "ست": 6, "سته": 6, "سبع": 7,
    "سبعه": 7, "ثمان": 8, "ثماني": 8, "ثمانيه": 8, "تسع": 9, "تسعه": 9, "عشر": 10, "عشره": 10,
    "احد": 1, "احدي": 1, "اثنا": 2, "اثني": 2, "اثنتا": 2, "اثنتي": 2,
    "عشرون": 20, "عشرين": 20, "ثلاثون": 30, "ثلاثين": 30, "اربعون": 40, "اربعين": 40,
    "خمسون": 50, "خمسين": 50, "ستون": 60, "ستين": 60, "سبعون": 70, "سبعين": 70, "ثمانون": 80,
    "ثمانين": 80, "تسعون": 90, "تسعين": 90,
}  # fmt: skip
_HUNDREDS: Final = {"hundred": 100, "مئه": 100, "مائه": 100, "مئتان": 200, "مئتين": 200,
                    "مائتان": 200, "مائتين": 200}  # fmt: skip
_THOUSANDS: Final = {"thousand": 1000, "الف": 1000, "الاف": 1000, "الفان": 2000, "الفين": 2000}
_AR_COMPOUND_HUNDREDS: Final = re.compile(r"^(ثلاث|اربع|خمس|ست|سبع|ثمان|تسع)(مئه|مائه)$")
_AR_DUALS: Final = frozenset(
    {
        "عنصرين", "عنصران", "جنديين", "جنديان", "شخصين", "شخصان", "طفلين", "طفلان", "مدنيان",
        "رجلين", "رجلان", "امراتين", "امراتان", "ضابطين", "ضابطان", "قتيلين", "قتيلان",
        "جريحين", "جريحان", "سيارتين", "سيارتان", "اليتين", "اليتان", "شاحنتين", "شاحنتان",
        "موقعين", "موقعان", "هدفين", "هدفان", "مستودعين", "مستودعان", "مقاتلان",
    }
)  # fmt: skip
"""Arabic duals of kind nouns (in matching form): the word itself says two."""
_CLAUSE_BREAK: Final = re.compile(r"[,.;:،؛]")
_MULTIPLIERS: Final = {
    "الف": 1000, "الاف": 1000, "thousand": 1000, "مليون": 1_000_000, "million": 1_000_000,
}  # fmt: skip
_TEEN_ONLY: Final = frozenset({"احد", "احدي", "اثنا", "اثني", "اثنتا", "اثنتي"})
_SINGULAR_PEOPLE: Final = frozenset(
    {
        "مدني", "شخص", "طفل", "طفله", "جندي", "عنصر", "امراه", "رجل", "شاب", "شابا", "مواطن",
        "مقاتل", "ضابط", "فلسطيني", "سوري", "عراقي", "مسن", "صحفي", "راع", "مزارع", "سائق",
        "civilian", "person", "man", "woman", "child", "boy", "girl", "soldier", "officer",
        "policeman", "fighter", "journalist", "farmer", "driver", "shepherd", "teenager",
        "resident", "worker", "militant", "guard", "surgeon", "doctor", "nurse", "teacher",
        "student", "activist", "pilot", "cleric", "judge", "lawyer", "official", "photographer",
        "contractor", "pedestrian", "protester", "demonstrator", "villager", "passer",
        "متظاهر", "ناشط", "طبيب", "معلم", "طالب", "مسؤول", "قاض", "محام", "حارس", "مصور",
        "مدنيا", "طيار", "عامل", "مستوطن", "جنديا", "عنصرا", "مقاتلا", "شخصا",
    }
)  # fmt: skip
"""A harm cue with one of these right after it ("مقتل مدني", "killed a civilian") counts 1."""
_RANGE_JOINERS: Final = frozenset({"and", "to", "or", "و", "الى", "او", "حتي"})
_DIGITS: Final = re.compile(r"^و?(\d{1,7})$")
_YEAR: Final = range(1900, 2100)


_CASUALTIES: Final = frozenset({"fatalities", "injured", "detained", "displaced"})
_HARMED: Final = frozenset({"fatalities", "injured", "detained"})
_PEOPLE: Final = frozenset({"troops", "displaced"})
"""Kinds named by a noun for people: "killed 8 displaced people" counts the killed."""
_AUXILIARIES: Final = frozenset(
    {
        "were", "was", "have", "has", "been", "had", "reportedly", "lightly", "slightly",
        "seriously", "critically", "badly", "fatally", "also", "later",
    }
)  # fmt: skip


def _auxiliary_positions(forms: Sequence[str]) -> set[int]:
    return {i for i, form in enumerate(forms) if form in _AUXILIARIES}


@dataclass(frozen=True, slots=True)
class FigureMention:
    kind: Kind
    value: int
    start: int  # character span of the evidence: the number through its cue
    end: int
    confidence: float


@dataclass(frozen=True, slots=True)
class _Number:
    value: int
    first: int
    last: int
    words: bool  # written in words (less certain than digits)
    dual: bool = False  # an Arabic dual noun: its own word is the kind cue


def _word_value(form: str) -> tuple[str, int] | None:
    """('unit'|'hundred'|'thousand', value) of a number word, looking behind a و."""
    for candidate in (form, form[1:] if form[:1] in ("و", "ب", "ل") and len(form) > 2 else None):
        if candidate is None:
            continue
        if candidate in _EN_UNITS:
            return "unit", _EN_UNITS[candidate]
        if candidate in _AR_UNITS:
            return "unit", _AR_UNITS[candidate]
        if candidate in _HUNDREDS:
            return "hundred", _HUNDREDS[candidate]
        if candidate in _THOUSANDS:
            return "thousand", _THOUSANDS[candidate]
        match = _AR_COMPOUND_HUNDREDS.match(candidate)
        if match:
            return "unit", _AR_UNITS[match.group(1)] * 100
    return None


_NUMBER_WORDS: Final = frozenset(
    form
    for word in [*_EN_UNITS, *_AR_UNITS, *_HUNDREDS, *_THOUSANDS, *_AR_DUALS]
    for form in (word, "و" + word, "ب" + word, "ل" + word)
) | {
    "و" * w + unit + hundred
    for w in (0, 1)
    for unit in ("ثلاث", "اربع", "خمس", "ست", "سبع", "ثمان", "تسع")
    for hundred in ("مئه", "مائه")
}
"""Every word ``_numbers`` looks at besides digits: the rest are skipped at once."""


def _may_be_number(form: str) -> bool:
    return form[-1].isdigit() or form in _NUMBER_WORDS


_CANDIDATES: Final = FormFlags(_may_be_number)
"""The words ``_numbers`` looks at; every other word is skipped as it would skip it."""


def _numbers(tokens: Tokens) -> list[_Number]:
    forms, text = tokens.forms, tokens.text
    numbers: list[_Number] = []
    i, n = 0, len(forms)
    for candidate in _CANDIDATES.positions(tokens):
        if candidate < i:
            continue  # inside the number before
        i = candidate
        match = _DIGITS.match(forms[i]) if forms[i][-1].isdigit() else None
        if match:
            value, last = int(match.group(1)), i
            # thousands separators: 2,500 / 2٬500
            while (
                last + 1 < n
                and re.fullmatch(r"\d{3}", forms[last + 1])
                and text[tokens.ends[last] : tokens.starts[last + 1]] in (",", "٬")
            ):
                value, last = value * 1000 + int(forms[last + 1]), last + 1
            if last + 1 < n and forms[last + 1] in _MULTIPLIERS:
                value, last = value * _MULTIPLIERS[forms[last + 1]], last + 1  # "15 ألف"
            if text[tokens.ends[last] : tokens.ends[last] + 1] not in (".", "٫") or not (
                tokens.ends[last] + 1 < len(text) and text[tokens.ends[last] + 1].isdigit()
            ):
                numbers.append(_Number(value, i, last, words=False))
            i = last + 1
            continue
        if forms[i] not in _NUMBER_WORDS:
            i += 1
            continue
        if forms[i] in _AR_DUALS or (forms[i][:1] in "وبل" and forms[i][1:] in _AR_DUALS):
            numbers.append(_Number(2, i, i, words=True, dual=True))
            i += 1
            continue
        if forms[i] in _TEEN_ONLY and (i + 1 >= n or forms[i + 1] not in ("عشر", "عشره")):
            i += 1  # "أحد" alone is "one of" or Sunday; it counts only in "أحد عشر"
            continue
        word = _word_value(forms[i])
        if word is None or (word[0] != "unit" and forms[i] in ("الف", "الاف")):
            i += 1
            continue
        total = current = 0
        last = i
        j = i
        while j < n:
            word = _word_value(forms[j])
            if word is None:
                break
            role, value = word
            if (
                j > i
                and forms[j].startswith("و")
                and role == "unit"
                and not ((value >= 20 and 0 < current < 10) or (current >= 100 and value < 100))
            ):
                break  # "سبعة وتسعة" is two numbers (a range), "خمسة وعشرين" is one
            if role == "unit":
                current += value
            elif role == "hundred":
                current = (current or 1) * value if value == 100 else current + value
            else:
                total += (current or 1) * value if value == 1000 else value
                current = 0
            last = j
            j += 1
        numbers.append(_Number(total + current, i, last, words=True))
        i = last + 1
    return numbers


class FigureFinder:
    """Compiled kind cues; ``find`` returns the figures of one text."""

    def __init__(self) -> None:
        self._cues = PhraseIndex()
        self._kinds: dict[int, Kind] = {}
        for kind, languages in KIND_CUES.items():
            for language, cues in languages.items():
                for cue in cues:
                    key = self._cues.add(cue.removeprefix("="), language, exact=cue[0] == "=")
                    self._kinds.setdefault(key, kind)
        self._fillers = PhraseIndex()
        for language, words in FILLERS.items():
            for word in words:
                self._fillers.add(word.removeprefix("="), language, exact=word[0] == "=")

    def find(self, tokens: Tokens) -> list[FigureMention]:
        numbers = _numbers(tokens)
        cue_at: dict[int, Hit] = {}
        cue_ending: dict[int, Hit] = {}
        for hit in self._cues.find(tokens):
            cue_at[hit.first] = hit
            cue_ending[hit.last] = hit
        filler = {i for hit in self._fillers.find(tokens) for i in range(hit.first, hit.last + 1)}
        forms = tokens.forms
        found: list[FigureMention] = []
        skip_until = -1
        for index, number in enumerate(numbers):
            if number.first <= skip_until:
                continue
            after = number.last + 1
            if after < len(forms) and (forms[after] in STOP_AFTER or forms[after][:1] == "%"):
                continue
            year_like = not number.words and number.value in _YEAR and number.last == number.first
            # a range "5 to 7", "بين 5 و7": the lower bound, once
            following = numbers[index + 1] if index + 1 < len(numbers) else None
            last = number.last
            if following is not None and following.first - number.last <= 2:
                between = forms[number.last + 1 : following.first]
                if all(w in _RANGE_JOINERS for w in between) or (
                    not between and forms[following.first].startswith("و")
                ):
                    skip_until = last = following.last
            cue = cue_at.get(number.first) if number.dual else None
            cue = cue or self._cue_after(last, cue_at, filler, forms)
            before = self._cue_before(number.first, cue_ending, numbers, index, tokens)
            if cue is not None and self._kinds[cue.phrase] in _PEOPLE:
                # "killed 5 soldiers", "5 soldiers were killed": casualties, not a deployment
                later = self._cue_after(
                    cue.last, cue_at, filler | _auxiliary_positions(forms), forms
                )
                for other in (before, later):
                    if other is not None and self._kinds[other.phrase] in _HARMED:
                        cue = other
                        break
            if year_like and cue is None:
                continue  # "عام 2014"; but "أكثر من 2000 شخص نزحوا" counts
            cue = cue or before
            if cue is None:
                continue
            start = min(tokens.starts[number.first], cue.start)
            end = max(tokens.ends[last], cue.end)
            found.append(
                FigureMention(
                    kind=self._kinds[cue.phrase],
                    value=number.value,
                    start=start,
                    end=end,
                    confidence=0.7 if number.words else 0.85,
                )
            )
        counted = {(f.start, f.end) for f in found}
        for mention in self._singulars(tokens, cue_at):
            if not any(
                a <= mention.start < b or mention.start <= a < mention.end for a, b in counted
            ):
                found.append(mention)
        return sorted(found, key=lambda m: m.start)

    def _singulars(self, tokens: Tokens, cue_at: Mapping[int, Hit]) -> list[FigureMention]:
        """One person harmed, named without a number: "مقتل مدني", "killed a civilian"."""
        forms = tokens.forms
        out: list[FigureMention] = []
        for hit in cue_at.values():
            kind = self._kinds[hit.phrase]
            if kind not in _HARMED:
                continue
            after = hit.last + 1
            if after < len(forms) and forms[after] in ("a", "an"):
                after += 1
            if after < len(forms) and (
                forms[after] in _SINGULAR_PEOPLE
                or (forms[after][:1] in "وبل" and forms[after][1:] in _SINGULAR_PEOPLE)
            ):
                out.append(FigureMention(kind, 1, hit.start, tokens.ends[after], 0.6))
        return out

    @staticmethod
    def _cue_after(
        last: int, cue_at: Mapping[int, Hit], filler: set[int], forms: Sequence[str]
    ) -> Hit | None:
        for i in range(last + 1, min(last + 5, len(forms))):
            if i > last + 1 and forms[i].startswith("و"):
                return None  # "وإصابة": a new clause, not this number's noun
            if i in cue_at:
                return cue_at[i]
            if i not in filler:
                return None
        return None

    def _cue_before(
        self,
        first: int,
        cue_ending: Mapping[int, Hit],
        numbers: Sequence[_Number],
        index: int,
        tokens: Tokens,
    ) -> Hit | None:
        """A harm word shortly before the number, in the same clause: "أسفر عن مقتل 5".

        Only harm: a noun before a number ("soldiers and three") is not what it counts.
        """
        previous_number = numbers[index - 1].last if index else -1
        start = tokens.starts[first]
        found = [
            cue_ending[i]
            for i in range(first - 1, max(first - 5, previous_number, -1), -1)
            if i in cue_ending
            and self._kinds[cue_ending[i].phrase] in _CASUALTIES
            and not _CLAUSE_BREAK.search(tokens.text, cue_ending[i].end, start)
        ]
        # "وإصابة مقاتل واحد": the harm, not the noun for the person harmed
        return next((c for c in found if self._kinds[c.phrase] in _HARMED), None) or (
            found[0] if found else None
        )


@cache
def figure_finder() -> FigureFinder:
    return FigureFinder()
