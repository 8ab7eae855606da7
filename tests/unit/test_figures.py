from __future__ import annotations

import pytest

from service.stages.figures import figure_finder
from service.stages.phrases import tokenize


def figures(text: str) -> list[tuple[str, int]]:
    return [(m.kind, m.value) for m in figure_finder().find(tokenize(text))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("killed 5 people and wounded 12 others", [("fatalities", 5), ("injured", 12)]),
        ("تنشر نحو 900 جندي في سوريا و2500 جندي في العراق", [("troops", 900), ("troops", 2500)]),
        ("وتتكون التعزيزات من 50 سيارة تحمل أسلحة", [("vehicles", 50)]),
        ("ضربات استهدفت 9 مواقع مرتبطة بإيران", [("sites", 9)]),
        ("أسفر عن مقتل خمسة وعشرين شخصا وإصابة ١٢ آخرين", [("fatalities", 25), ("injured", 12)]),
        ("between 5 and 7 soldiers were killed", [("fatalities", 5)]),
        ("بين 5 و7 قتلى", [("fatalities", 5)]),
        ("at least three civilians were killed and dozens injured", [("fatalities", 3)]),
        ("2,500 troops arrived", [("troops", 2500)]),
        ("قتل 5 جنود", [("fatalities", 5)]),
        ("مقتل عنصرين بغارة", [("fatalities", 2)]),
        ("اعتقلت القوات ١٥ شخصا", [("detained", 15)]),
        ("نزوح ثلاثة آلاف شخص", [("displaced", 3000)]),
        ("twenty-five soldiers were deployed", [("troops", 25)]),
        ("Police arrested 40 protesters", [("detained", 40)]),
        ("نزوح 15 ألف شخص من المدينة", [("displaced", 15000)]),
        ("أكثر من 2000 شخص نزحوا", [("displaced", 2000)]),  # a number that looks like a year
        ("مقتل مدني برصاص مسلحين", [("fatalities", 1)]),  # one person, no number
        ("قُتل شخص، بعد ظهر الأحد", [("fatalities", 1)]),
        ("a grenade exploded, wounding a guard", [("injured", 1)]),
        ("قُتل ما بين سبعة وتسعة أشخاص", [("fatalities", 7)]),  # a range, not 16
        ("الجيش يدفع بأربعين مركبة", [("vehicles", 40)]),
    ],
)
def test_figures_with_their_kind(text: str, expected: list[tuple[str, int]]) -> None:
    assert figures(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "اليوم الأربعاء 13 تشرين الثاني",  # a date
        "التحالف الذي تأسس عام 2014",  # a year
        "prices rose 5 percent",
        "dozens of people were killed",  # vague: ACLED gives no figure
        "عشرات القتلى والجرحى",
        "the attack caused no casualties",
        "a 90-minute match",
        "5 dollars per barrel",
    ],
)
def test_no_figure(text: str) -> None:
    assert figures(text) == []


def test_evidence_span_covers_number_and_cue() -> None:
    text = "وأسفر القصف عن مقتل ٧ مدنيين"
    (mention,) = figure_finder().find(tokenize(text))
    assert text[mention.start : mention.end] == "مقتل ٧"
    assert mention.value == 7
