from __future__ import annotations

import random
import zlib
from datetime import UTC, datetime

import orjson
import pytest

from service.stages.decode import (
    DecodeError,
    _score,
    _suspicion,
    decode_record,
    decode_text,
    encoding_label,
)

LIMITS = {"max_record_bytes": 10_000, "max_body_bytes": 5_000}


def _decode(value: bytes | None, headers: dict[str, bytes] | None = None, **kw: object):
    return decode_record(value, headers or {}, **{**LIMITS, **kw})  # type: ignore[arg-type]


def _json(**fields: object) -> bytes:
    return orjson.dumps(
        {"source": "s", "fetched_at": "2024-11-13T10:00:00Z", "body": "b", **fields}
    )


def test_json_record_becomes_raw_article() -> None:
    article = _decode(_json(id="a1", url="https://x.example/a", language="ar"))
    assert article.id == "a1"
    assert article.url == "https://x.example/a"
    assert article.fetched_at == datetime(2024, 11, 13, 10, tzinfo=UTC)
    assert article.content_type == "text/plain"


def test_utf8_bom_and_leading_space_are_accepted() -> None:
    assert _decode(b"\xef\xbb\xbf  " + _json(body="نص")).body == "نص"


def test_unknown_fields_from_a_newer_minor_version_are_ignored() -> None:
    assert _decode(_json(schema_version="1.7", shiny_new_field=[1, 2])).body == "b"


def test_naive_timestamps_are_taken_as_utc() -> None:
    assert _decode(_json(fetched_at="2024-11-13T10:00:00")).fetched_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty_body"),
        (b"", "empty_body"),
        (b"  \n ", "empty_body"),
        (b'{"source": "s", "fetched_', "invalid_json"),
        (b"plain words with no content-type header", "invalid_json"),
        (b"\xff\xfe\x00garbage\x81", "undecodable"),
        (orjson.dumps({"body": "no source"}), "invalid_schema"),
        (orjson.dumps([1, 2, 3])[:-1] + b"]", "invalid_json"),
        (_json(content_type="application/pdf"), "invalid_schema"),
        (_json(schema_version="2.0"), "unsupported_schema_version"),
        (_json(body="x" * 6_000), "body_too_large"),
        (b"{" + b" " * 20_000 + b"}", "body_too_large"),
    ],
)
def test_bad_records_are_rejected_with_a_precise_reason(value: bytes | None, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        _decode(value)
    assert caught.value.reason == reason
    assert caught.value.detail


def test_json_array_is_not_an_article() -> None:
    with pytest.raises(DecodeError) as caught:
        _decode(b"[1, 2]")
    assert caught.value.reason == "invalid_json"


def test_bare_body_with_metadata_in_headers() -> None:
    headers = {
        "content-type": b"text/html; charset=utf-8",
        "source": b"outlet.example",
        "url": b"https://outlet.example/a",
        "fetched-at": b"2024-11-13T08:00:00+02:00",
        "section": b"world",
    }
    article = _decode("<p>مرحبا</p>".encode(), headers)
    assert article.content_type == "text/html"
    assert article.source == "outlet.example"
    assert article.url == "https://outlet.example/a"
    assert article.fetched_at == datetime(2024, 11, 13, 6, tzinfo=UTC)
    assert article.metadata == {"section": "world"}


def test_bare_body_without_fetch_time_uses_the_record_timestamp() -> None:
    stamp = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    article = _decode(b"text", {"content-type": b"text/plain"}, now=stamp)
    assert article.fetched_at == stamp
    assert article.source == "unknown"


# --------------------------------------------------------------------------- encodings

# Written for these tests: headline-length and paragraph-length Arabic.
ARABIC_TEXTS = [
    "وزارة الصحة تفتتح مستشفى ميدانياً في الجنوب",
    "الحكومة تقر موازنة العام المقبل",
    "أعلنت وزارة الموارد المائية ارتفاع مناسيب نهر دجلة في بغداد بنحو متر واحد، بعد زيادة "
    "الإطلاقات من سد الموصل لتأمين الخطة الزراعية الشتوية.",
    "قال مسؤولون محليون إن الأمطار الغزيرة التي هطلت خلال الليل تسببت في فيضانات واسعة في "
    "عدد من القرى، وأدت إلى إغلاق الطرق الرئيسية. وأضافوا أن فرق الدفاع المدني تعمل على "
    "إجلاء السكان من المناطق المنخفضة وتقديم المساعدات العاجلة للعائلات المتضررة.",
]
LATIN_TEXTS = [
    "Le gouvernement a annoncé mardi l'ouverture d'un hôpital de campagne; les équipes de "
    "secours travaillent jour et nuit, a déclaré le ministre.",
    "El ministro anunció el miércoles una reducción de impuestos para las pequeñas empresas.",
    "The café owner said prices had doubled since the spring, and that a naïve hope of "
    "recovery had faded.",
]
PLAIN = {"content-type": b"text/plain", "source": b"outlet.example"}


def _bare(value: bytes, content_type: bytes = b"text/plain", **headers: bytes):
    return _decode(
        value,
        {**PLAIN, "content-type": content_type, **headers},
        max_record_bytes=100_000,
        max_body_bytes=100_000,
    )


@pytest.mark.parametrize("text", ARABIC_TEXTS)
@pytest.mark.parametrize(
    ("codec", "label"), [("cp1256", "windows-1256"), ("iso8859-6", "iso-8859-6")]
)
def test_arabic_legacy_encodings_are_detected(text: str, codec: str, label: str) -> None:
    article = _bare(text.encode(codec))
    assert article.body == text
    assert article.metadata["detected_encoding"] == label


@pytest.mark.parametrize("text", LATIN_TEXTS)
@pytest.mark.parametrize("codec", ["latin-1", "cp1252"])
def test_latin_texts_are_detected(text: str, codec: str) -> None:
    article = _bare(text.encode(codec))
    assert article.body == text
    assert article.metadata["detected_encoding"] == "windows-1252"


def test_utf8_needs_no_detection() -> None:
    article = _bare(ARABIC_TEXTS[0].encode("utf-8"))
    assert article.body == ARABIC_TEXTS[0]
    assert "detected_encoding" not in article.metadata


def test_declared_charset_is_honoured_first() -> None:
    # Only the letters both code pages share: the bytes read the same either way, and the
    # header decides the name.
    text = "رسالة بريد"
    article = _bare(text.encode("iso8859-6"), b"text/plain; charset=ISO-8859-6")
    assert article.body == text
    assert article.metadata["detected_encoding"] == "iso-8859-6"


# Two words whose ISO-8859-6 bytes also read as clean Windows-1256 Arabic ("ظاجن نبواو"):
# too short to detect, so only a declaration gets them right.
SHORT_ISO = "عاجل لبنان"


def test_a_declared_charset_decides_what_detection_cannot() -> None:
    article = _bare(SHORT_ISO.encode("iso8859-6"), b"text/plain; charset=iso-8859-6")
    assert article.body == SHORT_ISO
    assert article.metadata["detected_encoding"] == "iso-8859-6"


def test_html_meta_charset_decides_what_detection_cannot() -> None:
    script = "<script>var config = {};</script>\n" * 400  # ASCII, so the meta is far away
    page = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-6">'
        f"{script}</head><body><h1>{SHORT_ISO}</h1></body></html>"
    )
    article = _bare(page.encode("iso8859-6"), b"text/html")
    assert article.body == page


def test_a_wrong_declared_charset_is_overruled() -> None:
    text = ARABIC_TEXTS[2]
    article = _bare(text.encode("utf-8"), b"text/plain; charset=windows-1256")
    assert article.body == text
    assert "detected_encoding" not in article.metadata


def test_latin1_label_means_windows_1252() -> None:
    text = "“Quoted” — and dashed – text"
    article = _bare(text.encode("cp1252"), b"text/plain; charset=iso-8859-1")
    assert article.body == text
    assert article.metadata["detected_encoding"] == "windows-1252"


def test_html_meta_charset_is_read() -> None:
    page = (
        '<html><head><meta charset="windows-1256"></head><body><p>'
        + ARABIC_TEXTS[1]
        + "</p></body></html>"
    )
    article = _bare(page.encode("cp1256"), b"text/html")
    assert article.body == page
    assert article.metadata["detected_encoding"] == "windows-1256"


def test_headers_may_use_the_body_encoding() -> None:
    article = _bare(
        ARABIC_TEXTS[3].encode("cp1256"), b"text/plain", section="محليات".encode("cp1256")
    )
    assert article.metadata["section"] == "محليات"


def test_utf8_cut_inside_the_last_character_is_repaired() -> None:
    text = ARABIC_TEXTS[0]
    article = _bare(text.encode("utf-8")[:-1])
    assert article.body == text[:-1]
    assert article.metadata["decode_repair"] == "incomplete_utf8_tail_dropped"
    assert "detected_encoding" not in article.metadata


def test_a_stray_byte_in_long_utf8_is_replaced() -> None:
    text = " ".join(ARABIC_TEXTS)
    data = text.encode("utf-8")
    article = _bare(data[:100] + b"\xe9" + data[100:])
    assert article.body == data[:100].decode() + "\ufffd" + data[100:].decode()
    assert article.metadata["decode_repair"] == "invalid_utf8_bytes_replaced"


def test_utf8_with_many_broken_bytes_is_not_repaired() -> None:
    data = ARABIC_TEXTS[2].encode("utf-8")
    broken = b"".join(data[i : i + 9] + b"\xff" for i in range(0, len(data), 9))
    with pytest.raises(DecodeError) as caught:
        _bare(broken)
    assert caught.value.reason == "undecodable"


def test_json_record_in_a_legacy_encoding() -> None:
    record = orjson.loads(_json(body=ARABIC_TEXTS[3], metadata={"section": "local"}))
    value = orjson.dumps(record).decode("utf-8").encode("cp1256")
    article = _decode(value)
    assert article.body == ARABIC_TEXTS[3]
    assert article.metadata == {"section": "local", "detected_encoding": "windows-1256"}


def test_legacy_text_without_content_type_is_still_not_json() -> None:
    with pytest.raises(DecodeError) as caught:
        _decode(ARABIC_TEXTS[0].encode("cp1256"))
    assert caught.value.reason == "invalid_json"


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x02"


BINARY = {
    "every_byte": bytes(range(256)) * 4,
    "random": random.Random(7).randbytes(4096),
    "random_high_bytes": bytes(b | 0x80 for b in random.Random(8).randbytes(4096)),
    "random_letters_and_spaces": bytes(
        random.Random(9).choice([*range(0xC0, 0x100), 0x20]) for _ in range(2000)
    ),
    "png": _png() + random.Random(10).randbytes(600),
    "zlib": zlib.compress(" ".join(ARABIC_TEXTS).encode("utf-8") * 5),
    "utf16": "\n".join(ARABIC_TEXTS).encode("utf-16"),
    # UTF-8 Arabic with every seventh byte lost: read as Windows-1256 it is "ط§ظ„" mojibake
    "utf8_shredded": bytes(
        b for i, b in enumerate("\n".join(ARABIC_TEXTS).encode("utf-8")) if i % 7 != 6
    ),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize(
    "content_type",
    [b"text/plain", b"text/html", b"text/plain; charset=iso-8859-1", b"text/html; charset=cp1256"],
)
def test_binary_is_undecodable_not_mojibake(name: str, content_type: bytes) -> None:
    with pytest.raises(DecodeError) as caught:
        _bare(BINARY[name], content_type)
    assert caught.value.reason == "undecodable"
    assert caught.value.detail


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_without_content_type_is_undecodable(name: str) -> None:
    with pytest.raises(DecodeError) as caught:
        _decode(BINARY[name])
    assert caught.value.reason == "undecodable"


def test_binary_inside_a_json_record_is_undecodable() -> None:
    value = (
        b'{"source": "s", "fetched_at": "2024-11-13T10:00:00Z", "body": "'
        + bytes(range(0x80, 0x100)) * 4
        + b'"}'
    )
    with pytest.raises(DecodeError) as caught:
        _decode(value)
    assert caught.value.reason == "undecodable"


# The acceptance rule, on decoded text.


@pytest.mark.parametrize("text", ARABIC_TEXTS + LATIN_TEXTS)
def test_clean_text_scores_zero(text: str) -> None:
    assert _score(text) == 0.0


@pytest.mark.parametrize(
    ("text", "codec", "misread_as"),
    [
        (ARABIC_TEXTS[3], "iso8859-6", "cp1256"),  # ه و ي become ç è ê inside words
        (ARABIC_TEXTS[3], "cp1256", "cp1252"),  # every letter an accented Latin letter
        (ARABIC_TEXTS[3], "utf-8", "cp1256"),  # UTF-8 lead bytes become ط ظ and symbols
        (LATIN_TEXTS[0], "utf-8", "cp1252"),  # "Ã©"
    ],
)
def test_misread_text_is_rejected(text: str, codec: str, misread_as: str) -> None:
    misread = text.encode(codec).decode(misread_as, errors="replace")
    assert _score(misread) is None


def test_one_suspicious_character_is_forgiven_on_a_headline() -> None:
    assert _score("ُقام بموقع الاحتفالات") is not None  # a snippet cut after a vowel mark


@pytest.mark.timeout(30)
def test_detection_on_a_large_body_is_bounded() -> None:
    big = (" ".join(ARABIC_TEXTS) + "\n").encode("cp1256") * 6000
    text, codec, repair = decode_text(big)
    assert codec == "cp1256"
    assert repair is None
    assert text.startswith(ARABIC_TEXTS[0])
    with pytest.raises(DecodeError):
        decode_text(bytes(b | 0x80 for b in random.Random(3).randbytes(3_000_000)))


def test_encoding_labels() -> None:
    assert [encoding_label(c) for c in ("cp1256", "iso8859-6", "cp1252", "iso8859-1")] == [
        "windows-1256",
        "iso-8859-6",
        "windows-1252",
        "iso-8859-1",
    ]


@pytest.mark.parametrize(
    "misread",
    [
        "أعلنت الحكومç خطة جديدç",  # Latin letters glued to Arabic ones
        "وزارة ًالصحة ًتعلن خطة",  # tanween with no letter under them
        "وزارًة الصحًة تعلن خطة",  # tanween inside words
        "وزارة الصحة تعلن خطة ¤ ¦ ¨",  # symbols no text uses
        "ÇáÍßæãÉ ÊÚáä ÎØÉ",  # Arabic read through windows-1252
        "Le ministre a dÃ©clarÃ© que l'hÃ´pital",  # UTF-8 read through windows-1252
    ],
)
def test_each_kind_of_suspicious_character_counts(misread: str) -> None:
    events, _ = _suspicion(misread)
    assert events >= 2
    assert _score(misread) is None


def test_definite_articles_break_a_tie_between_arabic_code_pages() -> None:
    # Only letters that both code pages hold, plus ل and م, which ISO-8859-6 places where
    # Windows-1256 has ن and ه: either reading is clean Arabic, but only one has "ال".
    text = "المسلمات الثلاث"
    assert decode_text(text.encode("iso8859-6"))[0] == text


@pytest.mark.parametrize(
    "value",
    [
        b"Caf\xe9 words\x00\x01\x02 and more plain words\x03\x04" * 20,
        # the control bytes far from the one non-ASCII byte
        b"plain words\x00\x01\x02 and more plain words\x03\x04" * 400 + b" " * 200 + b"caf\xe9",
    ],
)
def test_control_bytes_make_any_encoding_binary(value: bytes) -> None:
    with pytest.raises(DecodeError) as caught:
        _bare(value, b"text/plain; charset=iso-8859-1")
    assert caught.value.reason == "undecodable"


def test_a_bare_body_may_open_with_a_brace() -> None:
    body = "{عين على الخليج}.. موسم الغوص على اللؤلؤ يعود إلى البحرين\n\nعاد الغواصون إلى البحر."
    assert _bare(body.encode("utf-8")).body == body


@pytest.mark.parametrize("content_type", [b"text/plain", b"text/html"])
def test_a_json_record_with_a_text_content_type_is_still_json(content_type: bytes) -> None:
    article = _bare(_json(body="نص"), content_type)
    assert article.body == "نص"
    assert article.source == "s"


def test_broken_json_with_a_text_content_type_is_a_body_but_bad_schema_is_not() -> None:
    assert _bare(b'{"source": "s", "bo').body == '{"source": "s", "bo'
    with pytest.raises(DecodeError) as caught:
        _bare(orjson.dumps({"body": "no source"}))
    assert caught.value.reason == "invalid_schema"


@pytest.mark.parametrize("bad", [b"\xff", b"\xc3", b"\x80", b"\xfe"])
@pytest.mark.parametrize(
    "body", [ARABIC_TEXTS[3], LATIN_TEXTS[2].encode("ascii", "ignore").decode()]
)
def test_a_damaged_utf8_json_record_is_undecodable(bad: bytes, body: str) -> None:
    # JSON must be UTF-8: a corrupted record goes to the dead-letter topic as it is
    record = _json(body=body)
    at = record.index(b" ", 60)  # between two whole characters
    with pytest.raises(DecodeError) as caught:
        _decode(record[:at] + bad + record[at:])
    assert caught.value.reason == "undecodable"
    assert "not valid UTF-8" in caught.value.detail
