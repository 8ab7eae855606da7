"""The user's sample article, enriched field by field."""

from __future__ import annotations

import pytest

from schemas.models import Evidence, Location
from service.stages.classify import Classification, classify
from service.stages.gazetteer import distance_km
from tests.unit.test_classify import sample


@pytest.fixture(scope="module")
def enriched() -> tuple[str, str, Classification]:
    title, text = sample()
    return title, text, classify(title, text, "ar")


def place(result: Classification, place_id: str) -> Location:
    (found,) = [loc for loc in result.locations if loc.id == place_id]
    return found


def test_topics(enriched: tuple[str, str, Classification]) -> None:
    _, _, result = enriched
    assert [t.label for t in result.topics] == ["conflict_security"]


def test_events_convoy_and_air_strikes(enriched: tuple[str, str, Classification]) -> None:
    _, _, result = enriched
    events = {e.sub_event_type: e for e in result.events}
    assert set(events) == {
        "Change to group/activity",  # the reinforcement convoy
        "Air/drone strike",  # US strikes on militia weapons depots in Albukamal
        "Disrupted weapons use",  # air defences downed a booby-trapped drone
        "Shelling/artillery/missile attack",  # the rocket attack on the Shaddadi base
    }
    convoy = events["Change to group/activity"]
    assert (convoy.event_type, convoy.cameo_root) == ("Strategic developments", "15")
    assert convoy.actor1 == "us_led_coalition"
    assert any(e.text == "تعزيزات عسكرية" for e in convoy.evidence)

    strikes = events["Air/drone strike"]
    assert (strikes.event_type, strikes.cameo_root) == ("Explosions/Remote violence", "19")
    assert (strikes.actor1, strikes.actor2) == ("us_forces", "iran_backed_militias")
    assert strikes.location == "geonames:174448"  # Albukamal
    assert [e.text for e in strikes.evidence][:1] == ["ضربات"]

    rockets = events["Shelling/artillery/missile attack"]
    assert rockets.location == "place:shaddadi_base"
    assert any(e.text == "الهجوم الصاروخي" for e in rockets.evidence)


def test_actors(enriched: tuple[str, str, Classification]) -> None:
    _, _, result = enriched
    actors = {a.id: a for a in result.actors}
    assert set(actors) == {
        "us_led_coalition",
        "us_forces",
        "iran_backed_militias",
        "unidentified_armed_group",  # "المجموعة المسلحة" behind the rocket attack
        "isis",  # the coalition was founded to fight it
        "hamas",  # the Israel-Hamas conflict
    }
    assert actors["us_forces"].actor_type == "State forces"
    assert actors["us_led_coalition"].actor_type == "External/Other forces"
    assert actors["iran_backed_militias"].actor_type == "Political militias"
    assert actors["us_forces"].name_ar
    assert {e.text for e in actors["us_forces"].evidence} >= {"القوات الأمريكية", "سنتكوم"}


@pytest.mark.parametrize(
    ("place_id", "precision", "lat", "lon", "event_location"),
    [
        ("geonames:174448", "town", 34.452, 40.918, True),  # Albukamal / البوكمال
        ("place:shaddadi_base", "site", 36.06, 40.73, True),
        ("geonames:172837", "town", 36.057, 40.735, False),  # al-Shaddadi / الشدادي
        ("geonames:383661", "town", 36.811, 42.062, False),  # al-Yarubiyah / اليعربية
        ("place:kharab_al_jir", "site", 36.83, 41.95, False),
        ("geonames:170794", "town", 35.336, 40.141, False),  # Deir ez-Zor city
        ("admin1:SY.07", "governorate", 35.336, 40.141, False),  # ريف دير الزور
        ("admin1:SY.01", "governorate", 36.502, 40.748, True),  # ريف الحسكة
        ("country:SY", "country", 33.51, 36.29, False),
        ("country:IQ", "country", 33.31, 44.36, False),
    ],
)
def test_locations(
    enriched: tuple[str, str, Classification],
    place_id: str,
    precision: str,
    lat: float,
    lon: float,
    event_location: bool,
) -> None:
    _, _, result = enriched
    found = place(result, place_id)
    assert found.precision == precision
    assert found.latitude is not None
    assert found.longitude is not None
    assert distance_km(lat, lon, found.latitude, found.longitude) < 10
    assert found.is_event_location is event_location
    assert found.name_ar
    assert found.name_en


def test_admin1_and_country_of_towns(enriched: tuple[str, str, Classification]) -> None:
    _, _, result = enriched
    albukamal = place(result, "geonames:174448")
    assert (albukamal.country, albukamal.admin1, albukamal.geonames_id) == (
        "SY",
        "Deir ez-Zor",
        174448,
    )
    assert place(result, "geonames:172837").admin1 == "al-Hasakah"


def test_figures(enriched: tuple[str, str, Classification]) -> None:
    _, _, result = enriched
    assert sorted((f.kind, f.value) for f in result.figures) == [
        ("sites", 9),  # strikes on 9 Iran-linked sites yesterday
        ("troops", 900),  # US troops in Syria
        ("troops", 2500),  # ... and in Iraq
        ("vehicles", 50),  # the convoy
    ]


def test_every_evidence_span_quotes_its_field(enriched: tuple[str, str, Classification]) -> None:
    title, text, result = enriched
    spans: list[Evidence] = []
    for group in (result.topics, result.events, result.actors, result.locations, result.figures):
        for label in group:
            spans.extend(label.evidence)
    assert len(spans) > 20
    for evidence in spans:
        source = title if evidence.field == "title" else text
        assert source[evidence.start : evidence.end] == evidence.text
