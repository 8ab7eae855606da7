from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.models import TopicLabel
from service.stages.classify import (
    TOPICS,
    Classification,
    Lexicon,
    LexiconError,
    active_lexicon,
    classify,
    load_lexicon,
)
from service.stages.normalize import normalize_for_matching
from service.stages.phrases import _matching_words as matching_words
from tests.conftest import EXAMPLES

SAMPLE = EXAMPLES / "ar-syria-coalition-reinforcements.txt"

# A lexicon of one topic and one Arabic cue, for exact expectations.
ONE_CUE = """
[weights]
strong = 1.0
[topics.conflict_security.ar]
strong = ["قوات"]
"""

ENGLISH = {
    "conflict_security": (
        "Air strikes hit militia positions near the border",
        "Warplanes carried out several air strikes on Tuesday against positions held by an "
        "armed group near the border, the army said. Rebel fighters responded with rocket fire "
        "and mortar shelling on a military base, wounding three soldiers. Clashes continued "
        "overnight as troops brought in reinforcements and armoured vehicles.",
    ),
    "politics_diplomacy": (
        "Prime minister calls early election after coalition talks collapse",
        "The prime minister announced on Monday that parliament would be dissolved and an early "
        "election held in March, after negotiations to form a coalition government broke down. "
        "Opposition lawmakers welcomed the vote, while the foreign minister said diplomatic "
        "commitments would be honoured.",
    ),
    "economy_business": (
        "Central bank raises interest rates as inflation climbs",
        "The central bank raised its benchmark interest rate by half a point on Thursday after "
        "inflation reached its highest level in a decade. Stocks fell on the news and the "
        "currency strengthened against the dollar, while economists warned that a recession "
        "could follow as investors cut exposure to bonds.",
    ),
    "sports": (
        "Late goal sends champions into the Champions League final",
        "A stoppage-time goal from the striker sent the champions into the Champions League "
        "final on Wednesday. The goalkeeper saved a penalty in the first half before the coach "
        "brought on two midfielders, and the stadium erupted when the referee blew the final "
        "whistle.",
    ),
    "science_technology": (
        "New AI chip promises faster machine learning",
        "The company unveiled a semiconductor designed for artificial intelligence workloads, "
        "saying the processor trains machine learning models twice as fast. Researchers said "
        "the software and the new algorithm could cut the energy used by data centres, and "
        "smartphone makers are expected to adopt the technology.",
    ),
    "health": (
        "Cholera outbreak strains hospitals as cases rise",
        "Health officials reported a cholera outbreak that has sent hundreds of patients to "
        "hospitals in the capital. Doctors and nurses are running short of medicine, and the "
        "health ministry launched a vaccination campaign as the World Health Organization "
        "warned the disease could spread to neighbouring districts.",
    ),
    "society_humanitarian": (
        "Thousands of displaced families wait for aid in overcrowded camps",
        "Thousands of displaced families are sheltering in overcrowded camps as humanitarian "
        "agencies struggle to deliver food aid. UNICEF said children face hunger and "
        "malnutrition, and refugees interviewed by rights groups described poverty, lack of "
        "schools and long waits for asylum decisions.",
    ),
    "environment_disasters": (
        "Earthquake of magnitude 6.8 triggers landslides",
        "A magnitude 6.8 earthquake struck the mountainous region on Sunday, triggering "
        "landslides and flooding in several villages. Rescue teams searched the rubble after "
        "the quake, and meteorologists warned that heavy rain and aftershocks could worsen the "
        "disaster in the coming days.",
    ),
    "culture_religion": (
        "Film festival opens with tribute to veteran actress",
        "The international film festival opened on Friday with a tribute to a veteran actress, "
        "followed by a concert of traditional music. Organisers said the cinema programme, an "
        "exhibition at the national museum and poetry readings celebrate the country's "
        "cultural heritage during Ramadan.",
    ),
}

ARABIC = {
    "conflict_security": (
        "غارات جوية تستهدف مواقع للميليشيات قرب الحدود",
        "شنت طائرات حربية غارات جوية على مواقع لجماعة مسلحة قرب الحدود، فيما ردت الفصائل "
        "بقصف صاروخي على قاعدة عسكرية. وأفادت مصادر بمقتل ثلاثة جنود في اشتباكات عنيفة، "
        "ودفع الجيش بتعزيزات عسكرية إلى المنطقة.",
    ),
    "politics_diplomacy": (
        "رئيس الوزراء يعلن موعد الانتخابات البرلمانية",
        "أعلن رئيس الوزراء موعد الانتخابات البرلمانية المقبلة بعد مشاورات مع الأحزاب "
        "والمعارضة، فيما أكد وزير الخارجية أن المفاوضات مع الوفد الدبلوماسي مستمرة، وأن "
        "مجلس النواب سيصوت على الدستور الجديد.",
    ),
    "economy_business": (
        "البنك المركزي يرفع أسعار الفائدة لمواجهة التضخم",
        "قرر البنك المركزي رفع أسعار الفائدة بعد ارتفاع معدلات التضخم، وتراجعت الأسهم في "
        "البورصة بينما ارتفع سعر صرف الدولار. وتوقع خبراء الاقتصاد تباطؤ النمو الاقتصادي "
        "وزيادة عجز الموازنة والديون.",
    ),
    "sports": (
        "المنتخب يتأهل إلى نصف النهائي بعد الفوز بركلات الترجيح",
        "تأهل المنتخب إلى نصف النهائي بعد مباراة مثيرة انتهت بركلات الترجيح، وسجل المهاجم "
        "هدفا في الشوط الأول قبل أن يتعادل الفريق المنافس. وأشاد المدرب بأداء اللاعبين "
        "وحارس المرمى أمام جماهير الملعب.",
    ),
    "science_technology": (
        "شركة ناشئة تطلق تطبيقا يعتمد على الذكاء الاصطناعي",
        "أطلقت شركة ناشئة تطبيقا جديدا يعتمد على الذكاء الاصطناعي لتحليل البيانات، وقال "
        "الباحثون إن الخوارزمية تعمل على الهواتف الذكية دون اتصال بالإنترنت، في خطوة تعزز "
        "الابتكار في قطاع التكنولوجيا.",
    ),
    "health": (
        "وزارة الصحة تعلن تفشي الكوليرا في عدة مناطق",
        "أعلنت وزارة الصحة تفشي وباء الكوليرا في عدة مناطق، وامتلأت المستشفيات بالمرضى، فيما "
        "حذر الأطباء من نقص الأدوية واللقاحات. وأطلقت منظمة الصحة العالمية حملة تطعيم لمنع "
        "انتشار العدوى.",
    ),
    "society_humanitarian": (
        "آلاف النازحين في المخيمات بانتظار المساعدات الإنسانية",
        "يعيش آلاف النازحين في مخيمات مكتظة بانتظار المساعدات الإنسانية، وحذرت اليونيسف من "
        "الجوع وسوء التغذية بين الأطفال، فيما طالبت منظمات حقوق الإنسان بتأمين المأوى "
        "والتعليم للاجئين.",
    ),
    "environment_disasters": (
        "زلزال بقوة 6 درجات يضرب المنطقة وسيول تجتاح القرى",
        "ضرب زلزال بقوة ست درجات على مقياس ريختر المنطقة الجبلية، وتسببت الأمطار الغزيرة في "
        "سيول وفيضانات اجتاحت القرى. وحذرت الأرصاد الجوية من عاصفة جديدة، فيما واصلت فرق "
        "الإنقاذ البحث تحت الأنقاض.",
    ),
    "culture_religion": (
        "افتتاح مهرجان السينما بمشاركة نجوم الفن",
        "افتتح مهرجان السينما الدولي دورته الجديدة بعرض فيلم عن التراث، وشارك ممثلون وفنانون "
        "في حفل موسيقي، كما نظم المتحف الوطني معرضا للكتاب بمناسبة شهر رمضان.",
    ),
}


@pytest.fixture
def restore_lexicon() -> Iterator[None]:
    yield
    load_lexicon()


def sample() -> tuple[str, str]:
    """The sample article as a parser would hand it over: headline, then the rest."""
    lines = SAMPLE.read_text(encoding="utf-8").split("\n")
    return lines[2], "\n".join(lines[3:])


def assert_evidence_valid(title: str, text: str, topics: tuple[TopicLabel, ...]) -> None:
    for topic in topics:
        assert 1 <= len(topic.evidence) <= 3
        for evidence in topic.evidence:
            source = title if evidence.field == "title" else text
            assert 0 <= evidence.start < evidence.end <= len(source)
            assert source[evidence.start : evidence.end] == evidence.text


def labels(result: Classification) -> list[str]:
    return [topic.label for topic in result.topics]


# --------------------------------------------------------------------------- the sample


def test_sample_is_conflict_with_exact_evidence() -> None:
    title, text = sample()
    result = classify(title, text, "ar")
    assert result.topics[0].label == "conflict_security"
    assert result.topics[0].confidence > 0.5
    assert_evidence_valid(title, text, result.topics)
    assert [(e.field, e.text) for e in result.topics[0].evidence] == [
        ("title", "التحالف الدولي"),
        ("text", "قوات"),
        ("title", "تعزيزات عسكرية"),
    ]
    assert title[0:14] == "التحالف الدولي"
    assert labels(result) == ["conflict_security"]


def test_sample_as_one_text_field() -> None:
    raw = SAMPLE.read_text(encoding="utf-8")
    result = classify("", raw, "ar")
    assert result.topics[0].label == "conflict_security"
    assert result.topics[0].confidence > 0.5
    assert {e.field for e in result.topics[0].evidence} == {"text"}
    assert_evidence_valid("", raw, result.topics)


# --------------------------------------------------------------------------- each topic


@pytest.mark.parametrize("topic", TOPICS)
def test_english_topic_is_top(topic: str) -> None:
    title, text = ENGLISH[topic]
    result = classify(title, text, "en")
    assert result.topics[0].label == topic
    assert result.topics[0].confidence >= 0.5
    assert_evidence_valid(title, text, result.topics)


@pytest.mark.parametrize("topic", TOPICS)
def test_arabic_topic_is_top(topic: str) -> None:
    title, text = ARABIC[topic]
    result = classify(title, text, "ar")
    assert result.topics[0].label == topic
    assert result.topics[0].confidence >= 0.5
    assert_evidence_valid(title, text, result.topics)


def test_topics_sorted_and_from_taxonomy() -> None:
    title = "Ceasefire talks resume as shelling continues"
    text = (
        "Diplomats from both sides met in Geneva for a new round of peace talks mediated by the "
        "United Nations, while shelling continued on the front line. The foreign minister said "
        "sanctions would remain until troops withdraw."
    )
    result = classify(title, text, "en")
    assert labels(result) == ["conflict_security", "politics_diplomacy"]
    confidences = [topic.confidence for topic in result.topics]
    assert confidences == sorted(confidences, reverse=True)
    assert confidences[0] > confidences[1] >= 0.5


def test_phrase_is_one_span() -> None:
    text = "A statement from the United Nations."
    result = classify("", text, "en")
    assert labels(result) == ["politics_diplomacy"]
    (evidence,) = result.topics[0].evidence
    assert (evidence.text, evidence.start, evidence.end) == ("United Nations", 21, 35)


@pytest.mark.parametrize(
    "text",
    [
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.",
        "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20",
        "هذا نص تجريبي لا يحمل أي معنى محدد، يستخدم لملء الفراغ في الصفحة.",
        "",
        "   \n\t ",
    ],
)
def test_neutral_text_has_no_topic(text: str) -> None:
    assert classify("", text, "en").topics == ()
    assert classify(text, text, "ar").topics == ()


def test_weak_passing_mention_in_long_text_is_not_a_topic() -> None:
    filler = "The committee met on Tuesday and read the minutes of the last meeting. " * 40
    assert classify("", filler + "Police were present.", "en").topics == ()


def test_title_counts_more_than_text() -> None:
    filler = " ".join(["The committee met on Tuesday and read the minutes."] * 4)
    in_title = classify("Earthquake and flooding", filler, "en")
    in_text = classify("Committee meeting", f"{filler} Earthquake and flooding.", "en")
    assert in_title.topics[0].label == in_text.topics[0].label == "environment_disasters"
    assert in_title.topics[0].confidence > in_text.topics[0].confidence


def test_repeated_cue_counts_less_than_distinct_cues() -> None:
    repeated = classify("", "missile missile missile missile", "en").topics[0]
    distinct = classify("", "missile artillery sniper ambush", "en").topics[0]
    assert repeated.confidence < distinct.confidence
    assert [e.text for e in distinct.evidence] == ["missile", "artillery", "sniper"]


# --------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    "word",
    ["قوات", "القوات", "والقوات", "بالقوات", "للقوات", "وللقوات", "فالقوات", "لقوات", "قواتها"],
)
def test_arabic_clitics_match(word: str) -> None:
    lexicon = Lexicon.parse(ONE_CUE)
    text = f"وصلت {word} إلى المدينة"
    result = classify("", text, "ar", lexicon=lexicon)
    assert labels(result) == ["conflict_security"]
    (evidence,) = result.topics[0].evidence
    assert (evidence.text, evidence.start, evidence.end) == (word, 5, 5 + len(word))


def test_arabic_clitics_match_in_shipped_lexicon() -> None:
    for text in ("وصلت والقوات", "رحبت بالقوات", "شكرا للقوات"):
        result = classify("", text, "ar")
        assert labels(result) == ["conflict_security"], text
        assert [e.text for e in result.topics[0].evidence] == [text.split()[1]]


def test_unrelated_word_does_not_match_after_stripping() -> None:
    lexicon = Lexicon.parse(ONE_CUE)
    assert classify("", "وصلت قواعد إلى المدينة", "ar", lexicon=lexicon).topics == ()


@pytest.mark.parametrize(
    "written",
    ["إرهاب", "ارهاب", "أرهاب", "إِرْهَاب", "إرهـــاب", "الإرهاب", "وبالإرهاب"],
)
def test_letter_variants_and_diacritics_match(written: str) -> None:
    text = f"حذر التقرير من {written} في المنطقة"
    result = classify("", text, "ar")
    assert labels(result) == ["conflict_security"]
    assert [e.text for e in result.topics[0].evidence] == [written]
    start = text.index(written)
    assert (result.topics[0].evidence[0].start, result.topics[0].evidence[0].end) == (
        start,
        start + len(written),
    )


@pytest.mark.parametrize("written", ["غارة", "غاره", "غارَةٌ", "الغارة", "غارات", "غارتين"])
def test_ta_marbuta_forms_match(written: str) -> None:
    result = classify("", f"نفذت الطائرات {written} على الموقع", "ar")
    assert "conflict_security" in labels(result)
    assert written in [e.text for e in result.topics[0].evidence]


def test_english_inflections_match() -> None:
    result = classify("", "Gunmen attacked the convoy and shelled villages", "en")
    assert labels(result) == ["conflict_security"]
    assert [e.text for e in result.topics[0].evidence] == ["Gunmen", "attacked", "convoy"]


def test_spans_survive_compatibility_characters() -> None:
    # Presentation forms and ½ make the text unstable under NFKC: offsets must still
    # point into the original string.
    lexicon = Lexicon.parse(ONE_CUE)
    text = "½ وصلت ﺍﻟﻘﻮﺍﺕ و½ الإضافية"
    result = classify("", text, "ar", lexicon=lexicon)
    (evidence,) = result.topics[0].evidence
    assert evidence.text == "ﺍﻟﻘﻮﺍﺕ"
    assert text[evidence.start : evidence.end] == "ﺍﻟﻘﻮﺍﺕ"


@pytest.mark.parametrize(
    "text",
    [
        "أحمد إلى آخر مدرسةٌ كُبرى الـــقـــوات ٢٠٢٤",
        "Hello, WORLD! snake_case İstanbul Straße ﬁnance",
        "x½y ™ ﷺ ﻻ café cafe\u0301 b\u064e\u0323 \u0345\u064e",
        "تعزيزات «عسكرية» — مسيّرة، رداً على: الهجوم…",
    ],
)
def test_words_agree_with_normalize_for_matching(text: str) -> None:
    words = matching_words(text)
    assert " ".join(word for word, _, _ in words) == normalize_for_matching(text)
    for _, start, end in words:
        assert 0 <= start < end <= len(text)


def test_words_agree_with_normalize_for_matching_across_the_bmp() -> None:
    chars = [chr(cp) for cp in range(0x20, 0x10000) if not 0xD800 <= cp <= 0xDFFF]
    for joiner in ("x", "ب", " ", "\u064e"):
        for i in range(0, len(chars), 5):
            text = "ab" + joiner.join(chars[i : i + 5]) + " قواتـَة"
            words = " ".join(word for word, _, _ in matching_words(text))
            assert words == normalize_for_matching(text), repr(text)


# --------------------------------------------------------------------------- lexicon


def test_shipped_lexicon_covers_every_topic_in_both_languages() -> None:
    counts = active_lexicon().cue_counts
    for topic in TOPICS:
        for language in ("en", "ar"):
            assert counts[(topic, language)] >= 40, (topic, language)


def test_load_lexicon_replaces_the_active_one(tmp_path: Path, restore_lexicon: None) -> None:
    text = "The zorblax league resumed with three zorblax fixtures."
    assert labels(classify("", text, "en")) == ["sports"]
    path = tmp_path / "custom.toml"
    path.write_text(
        '[weights]\nstrong = 1.0\n[topics.culture_religion.en]\nstrong = ["zorblax"]\n',
        encoding="utf-8",
    )
    loaded = load_lexicon(path)
    assert active_lexicon() is loaded
    result = classify("", text, "en")
    assert labels(result) == ["culture_religion"]
    assert [e.text for e in result.topics[0].evidence] == ["zorblax", "zorblax"]
    load_lexicon()
    assert labels(classify("", text, "en")) == ["sports"]


def test_custom_scoring_is_used() -> None:
    strict = Lexicon.parse("[scoring]\nthreshold = 0.99\n" + ONE_CUE)
    lenient = Lexicon.parse(ONE_CUE)
    text = "وصلت القوات إلى المدينة"
    assert classify("", text, "ar", lexicon=strict).topics == ()
    assert labels(classify("", text, "ar", lexicon=lenient)) == ["conflict_security"]


def test_exact_cue_gets_no_generated_forms() -> None:
    lexicon = Lexicon.parse('[weights]\nstrong = 1.0\n[topics.sports.en]\nstrong = ["=match"]\n')
    assert labels(classify("", "the match", "en", lexicon=lexicon)) == ["sports"]
    assert classify("", "the matches", "en", lexicon=lexicon).topics == ()


@pytest.mark.parametrize(
    ("toml_text", "message"),
    [
        ("[weights]\nstrong = 1.0\n[topics.weather.en]\nstrong = ['rain']\n", "unknown topic"),
        ("[weights]\nstrong = 1.0\n[topics.sports.en]\nheavy = ['goal']\n", "tier 'heavy'"),
        ("[weights]\nstrong = 1.0\n[topics.sports.en]\nstrong = ['!!']\n", "no word"),
        ("[weights]\nstrong = 1.0\n[topics.sports.en]\nstrong = 'goal'\n", "list of strings"),
        ("[weights]\nstrong = -1\n[topics.sports.en]\nstrong = ['goal']\n", "[weights]"),
        ("[topics.sports.en]\nstrong = ['goal']\n", "missing [weights]"),
        ("[scoring]\nthreshold = 2.0\n" + ONE_CUE, "out of range"),
        ("[scoring]\nmax_evidence = 1.5\n" + ONE_CUE, "integer"),
        ("[scoring]\nspeed = 1\n" + ONE_CUE, "unknown [scoring] key"),
        ("[extra]\n" + ONE_CUE, "unknown table"),
        ("this is = = not toml", "not valid TOML"),
    ],
)
def test_bad_lexicon_is_rejected(toml_text: str, message: str) -> None:
    with pytest.raises(LexiconError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Lexicon.parse(toml_text, "custom.toml")


def test_unreadable_lexicon_keeps_the_current_one(tmp_path: Path) -> None:
    before = active_lexicon()
    with pytest.raises(LexiconError, match=r"cannot read topics\.toml file"):
        load_lexicon(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[weights]\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="no tier"):
        load_lexicon(bad)
    assert active_lexicon() is before


def test_results_are_deterministic() -> None:
    title, text = sample()
    first = classify(title, text, "ar")
    active_lexicon()._index._memo.clear()
    assert classify(title, text, "ar") == first
    assert classify(title, text, "en") == first  # the language hint does not change matching
