"""Kafka record → ``RawArticle``: the boundary where untrusted bytes become a typed value.

Producers send either ``RawArticle`` JSON or a bare text/HTML body with its
metadata in headers (``source``, ``url``, ``fetched-at``, ``content-type``). A
value that starts with ``{`` is read as JSON, so a broken JSON record is reported
as such instead of being mistaken for a text article; only when a text/plain or
text/html ``content-type`` header marks a bare body, and the value is not JSON at
all, is it that body (Arabic headlines may open with a brace: "{عين على الخليج}..").

Text encodings
--------------
UTF-8 (with or without a BOM) is the norm. Bytes that are not valid UTF-8 go
through charset detection instead of straight to the dead-letter topic:

1. valid UTF-8 is UTF-8, even under a declared single-byte charset (servers that
   label UTF-8 pages ISO-8859-1 are common; legacy text that is valid UTF-8 is not);
   a bare body with a small defect is repaired (see below);
2. a ``charset=`` parameter of the ``content-type`` header, then (HTML only) a
   ``<meta charset>`` in the first 4 KB; an ISO-8859-1/ASCII label means
   Windows-1252, as in browsers;
3. otherwise every encoding in ``DETECTABLE_ENCODINGS`` (Windows-1256,
   ISO-8859-6, Windows-1252, ISO-8859-1) that decodes the bytes strictly is a
   candidate, ranked by the score below, then by the number of Arabic definite
   articles, and on a remaining tie by ``charset-normalizer``'s preference
   (restricted to the same encodings);
4. a legacy decoding (declared or detected) is accepted only when it reads as text
   (``_score``): at most 0.5 % C0 control bytes, and at most 3 % of its non-ASCII
   characters suspicious (symbols outside a short list of typographic ones, C1
   controls, Latin and Arabic letters glued in one word, a tanween or vowel mark in
   an impossible place, "Ã©"-style pairs left by UTF-8), and, for Latin text, at
   most 60 % of its letters accented. Binary data fails this for every candidate
   and is rejected as ``undecodable`` rather than published as mojibake.

The score is computed on up to 4 KB of evidence (every non-ASCII run with a little
context), so detection costs about the same for a headline and a 2 MB page.
charset-normalizer alone is weak on short input: unrestricted it reads a few
ISO-8859-6 words as Windows-874 (Thai) and Latin-1 French as Windows-1250; even
restricted to these candidates it misreads most two-word ISO-8859-6 snippets as
Windows-1256 (see docs/parse.md for the measurement), so it only breaks ties.

Windows-1256 and ISO-8859-6 share the bytes of 22 letters but place the rest
differently: Windows-1256 Arabic read as ISO-8859-6 either fails (its ف ق ك غ
bytes are unassigned there) or turns ي and ى into tanween in mid-word; ISO-8859-6
read as Windows-1256 turns ه و ي into ç è ê inside Arabic words. Both are what the
score penalises, so the two are told apart even on a headline.

A bare body whose UTF-8 is cut inside its final character (a scraper's byte
limit) keeps everything before that character; one with a stray invalid byte among
many valid characters gets U+FFFD for it. A JSON record, which must be UTF-8, is
never repaired: damaged UTF-8 is dead-lettered as ``undecodable``, and only a
record written wholly in a legacy code page is decoded. Detection and repair are
recorded in ``RawArticle.metadata`` (``detected_encoding``, ``decode_repair``) so
that the parse stage can report them as warnings.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

import orjson
from charset_normalizer import from_bytes
from pydantic import ValidationError

from schemas.models import DeadLetterReason, RawArticle

__all__ = [
    "BARE_CONTENT_TYPES",
    "DETECTABLE_ENCODINGS",
    "DecodeError",
    "decode_record",
    "decode_text",
    "encoding_label",
]

BARE_CONTENT_TYPES = {"text/plain", "text/html"}
DETECTED_ENCODING_KEY: Final = "detected_encoding"
DECODE_REPAIR_KEY: Final = "decode_repair"
TRUNCATED_UTF8: Final = "incomplete_utf8_tail_dropped"
INVALID_UTF8_REPLACED: Final = "invalid_utf8_bytes_replaced"

DETECTABLE_ENCODINGS: Final = ("cp1256", "iso8859-6", "cp1252", "iso8859-1")
"""Encodings that detection may choose (Python codec names), in tie-break order."""

_UTF8_BOM = b"\xef\xbb\xbf"
_LABELS: Final = {
    "utf-8": "utf-8",
    "cp1256": "windows-1256",
    "iso8859-6": "iso-8859-6",
    "cp1252": "windows-1252",
    "iso8859-1": "iso-8859-1",
}
# Single-byte families that a declared charset may name; anything else (UTF-16,
# escape codecs, compression "codecs") is ignored and detection decides.
_DECLARABLE = re.compile(r"^(?:cp\d+|iso8859-\d+|koi8-[ru]|mac-[a-z]+|ascii|utf-8)$")
_LATIN1_LABELS = frozenset({"iso8859-1", "ascii"})  # served as windows-1252 on the web
_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I
)
_META_SCAN_BYTES = 4096
_EVIDENCE_BYTES = 4 * 1024
_CONTEXT = 24  # ASCII bytes kept on each side of a non-ASCII run
_HIGH_RUN = re.compile(rb"[\x80-\xff]+")

# Acceptance rule (see the module docstring).
_MAX_CONTROL_RATIO = 0.005
_UTF8_REPAIR_RATIO = 50  # valid multi-byte characters per invalid byte in repairable UTF-8
_MIN_LEGACY_JSON_BYTES = 8  # fewer non-ASCII bytes in a non-UTF-8 JSON record: damage
_HIGH_BYTES = bytes(range(0x80, 0x100))
_MAX_IMPLAUSIBILITY = 0.03
_LATIN_ACCENT_RATIO = 0.6  # accented share of Latin letters above which text is mojibake
_LATIN_ACCENT_MIN = 3

_CONTROL_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F])
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd]")
# Non-ASCII punctuation and symbols that real text uses; other symbols are suspicious.
_TEXT_SYMBOLS = (
    "\u00a0\u00ab\u00bb\u00a9\u00ae\u00b0\u00b7\u00a3\u00a7\u00bf\u00a1\u00bd"
    "\u00b2\u00b3"
    "\u2010-\u2015\u2018-\u201f\u2022\u2026\u2030\u2032\u2033\u2039\u203a\u20ac\u2122"
    "\u200c\u200d\u200e\u200f\u060c\u061b\u061f\u066a-\u066c\u06d4\u0640"
)
_ARABIC_MARKS = "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed"
_SUSPICIOUS = re.compile(rf"[^\x00-\x7f\w\s{_TEXT_SYMBOLS}{_ARABIC_MARKS}]")
_ARABIC_LETTER = "\u0620-\u063f\u0641-\u064a\u066e-\u066f\u0671-\u06d3\u06d5\u06fa-\u06ff"
_LATIN_LETTER = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
_MIXED_WORD = re.compile(
    rf"[{_LATIN_LETTER}][{_ARABIC_LETTER}]|[{_ARABIC_LETTER}][{_LATIN_LETTER}]"
)
# Tanween ends a word (fathatan may sit before a final alef or on alef maqsura).
_MIDWORD_TANWEEN = re.compile(rf"[\u064b-\u064d](?=[{_ARABIC_LETTER}])(?![\u0627\u0649])")
# A vowel mark belongs on a letter (or on another mark).
_ORPHAN_MARK = re.compile(rf"(?<![{_ARABIC_LETTER}{_ARABIC_MARKS}])[{_ARABIC_MARKS}]")
_ASCII_LETTERS = bytes(range(0x41, 0x5B)) + bytes(range(0x61, 0x7B))
_ACCENTED_BYTES = bytes(b for b in range(0xC0, 0x100) if b not in (0xD7, 0xF7))
# UTF-8 read through windows-1252/ISO-8859-1: a lead byte (Â-ô) before what was a
# continuation byte (0x80-0xBF), as in "Ã©" for "é".
_UTF8_AS_LATIN = re.compile(
    "[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192"
    "\u02c6\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a"
    "\u20ac\u2122]"
)
# Every kind of suspicious character in one pass (see ``_suspicion``).
_SUSPICIOUS_EVENT = re.compile(
    "|".join(
        p.pattern
        for p in (
            _CONTROLS,
            _SUSPICIOUS,
            _MIXED_WORD,
            _MIDWORD_TANWEEN,
            _ORPHAN_MARK,
            _UTF8_AS_LATIN,
        )
    )
)
# "ال" opening a word, also behind a one-letter prefix (و ف ب ك ل): "والحكومة", "بالمدينة".
_DEFINITE_ARTICLE = re.compile(
    rf"(?<![{_ARABIC_LETTER}])[\u0648\u0641\u0628\u0643\u0644]?\u0627\u0644"
)


class DecodeError(Exception):
    """The record cannot become a ``RawArticle``; ``reason`` is a bounded code."""

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: DeadLetterReason = reason
        self.detail = detail


# --------------------------------------------------------------------------- encodings


def _codec_name(label: str | bytes | None) -> str | None:
    """Python's name for a charset label if it is one this stage will honour."""
    if not label:
        return None
    text = label.decode("latin-1") if isinstance(label, bytes) else label
    text = text.strip().strip("\"'").lower()
    try:
        name = codecs.lookup(text).name
    except (LookupError, ValueError):
        return None
    return name if _DECLARABLE.match(name) else None


def _declared_charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return _codec_name(value)
    return None


def _binary(value: bytes) -> bool:
    """Too many C0 control bytes for text, whatever the encoding."""
    controls = len(value) - len(value.translate(None, _CONTROL_BYTES))
    return controls > _MAX_CONTROL_RATIO * len(value)


def _evidence(value: bytes) -> bytes:
    """The parts of ``value`` that tell encodings apart: every run of non-ASCII bytes
    with a little ASCII context, up to ``_EVIDENCE_BYTES`` (ASCII reads the same in
    every candidate, and a page may be mostly markup)."""
    if len(value) <= _EVIDENCE_BYTES:
        return value
    parts: list[bytes] = []
    budget = _EVIDENCE_BYTES
    start = end = 0
    for run in _HIGH_RUN.finditer(value):
        left, right = max(0, run.start() - _CONTEXT), run.end() + _CONTEXT
        if left > end:
            if end > start:
                parts.append(value[start:end])
                budget -= end - start
            start = left
        end = right
        if budget - (end - start) <= 0:
            break
    if end > start:
        parts.append(value[start:end])
    return b"\n".join(parts)[:_EVIDENCE_BYTES]


def _suspicion(text: str) -> tuple[int, int]:
    """``(suspicious events, non-ASCII characters)`` in ``text``.

    Only non-ASCII characters carry evidence: ASCII decodes the same way in every
    candidate.
    """
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    if non_ascii == 0:
        return 0, 0
    latin1 = text.encode("latin-1", "ignore")  # ASCII and U+0080-U+00FF only
    accented = len(latin1) - len(latin1.translate(None, _ACCENTED_BYTES))
    if accented >= _LATIN_ACCENT_MIN:
        letters = accented + len(latin1) - len(latin1.translate(None, _ASCII_LETTERS))
        if accented > _LATIN_ACCENT_RATIO * letters:
            return 2 * non_ascii, non_ascii  # "ÇáÍßæãÉ": Arabic read through a Latin code page
    return len(_SUSPICIOUS_EVENT.findall(text)), non_ascii


def _score(text: str) -> float | None:
    """Suspicious events per non-ASCII character, or ``None`` when ``text`` is rejected.
    One event is forgiven, so that a headline cut inside a word still reads as text."""
    events, non_ascii = _suspicion(text)
    if events - 1 > _MAX_IMPLAUSIBILITY * non_ascii:
        return None
    return events / non_ascii if non_ascii else 0.0


def _definite_articles(text: str) -> int:
    """Word-initial "ال": the commonest Arabic bigram, and the first casualty of reading
    Windows-1256 as ISO-8859-6 ("اف") or the reverse ("ان")."""
    return len(_DEFINITE_ARTICLE.findall(text))


def _strict(value: bytes, encoding: str) -> str | None:
    try:
        return value.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _declared(value: bytes, codec: str) -> tuple[str, str] | None:
    """``(text, codec)`` in a charset the producer or page named, if it reads as text."""
    if _binary(value):
        return None
    evidence = _evidence(value)
    tries = ("cp1252", "iso8859-1") if codec in _LATIN1_LABELS else (codec,)
    for name in tries:
        text = _strict(value, name)
        if text is not None and _score(evidence.decode(name)) is not None:
            return text, name
    return None


def _normaliser_preference(evidence: bytes) -> dict[str, int]:
    """charset-normalizer's ranking of ``DETECTABLE_ENCODINGS`` for ``evidence``."""
    try:
        matches = from_bytes(evidence, cp_isolation=list(DETECTABLE_ENCODINGS))
    except Exception:  # a third-party detector must not take a worker down
        return {}
    names = (codecs.lookup(match.encoding).name for match in matches)
    return {name: rank for rank, name in enumerate(names) if name in DETECTABLE_ENCODINGS}


def _detect(value: bytes) -> tuple[str, str] | None:
    """The most plausible decoding among ``DETECTABLE_ENCODINGS``: the lowest score,
    then the most Arabic definite articles, then charset-normalizer's preference."""
    if _binary(value):
        return None
    evidence = _evidence(value)
    accepted: list[tuple[float, int, str, str]] = []  # score, order, codec, evidence read
    decodable: set[str] = set()
    for order, codec in enumerate(DETECTABLE_ENCODINGS):
        if codec == "iso8859-1" and "cp1252" in decodable:
            continue  # the same text, but C1 controls where windows-1252 has punctuation
        if _strict(value, codec) is None:
            continue
        decodable.add(codec)
        sample = evidence.decode(codec)
        score = _score(sample)
        if score is not None:
            accepted.append((score, order, codec, sample))
    if not accepted:
        return None
    lowest = min(a[0] for a in accepted)
    tied = [a for a in accepted if a[0] == lowest]
    if len(tied) > 1:
        articles = {a[2]: _definite_articles(a[3]) for a in tied}
        most = max(articles.values())
        tied = [a for a in tied if articles[a[2]] == most]
    if len(tied) > 1:
        preference = _normaliser_preference(evidence)
        tied.sort(key=lambda a: (preference.get(a[2], len(DETECTABLE_ENCODINGS)), a[1]))
    codec = tied[0][2]
    return value.decode(codec), codec


def _repair_utf8(value: bytes, error: UnicodeDecodeError) -> tuple[str, str] | None:
    """UTF-8 with a defect too small to call it another encoding: cut inside its final
    character (a scraper's byte limit), or a stray byte or two among many valid
    multi-byte characters (a template in another encoding). ``(text, repair)``."""
    if (
        error.reason == "unexpected end of data"
        and error.start >= len(value) - 3
        and not value[: error.start].isascii()
    ):
        return value[: error.start].decode("utf-8"), TRUNCATED_UTF8
    text = value.decode("utf-8", "replace")
    errors = text.count("\ufffd")
    multibyte = len(text) - len(text.encode("ascii", "ignore")) - errors
    if errors * _UTF8_REPAIR_RATIO <= multibyte and not _binary(value):
        return text, INVALID_UTF8_REPLACED
    return None


def decode_text(
    value: bytes, *, declared: str | None = None, html: bool = False, repair: bool = True
) -> tuple[str, str, str | None]:
    """``value`` as text: ``(text, codec, repair)``; ``DecodeError("undecodable")``
    when no encoding makes it read as text.

    ``codec`` is Python's codec name ("utf-8", "cp1256", ...; see ``encoding_label``
    for the web name); ``repair`` names a change made to UTF-8 bytes
    (``TRUNCATED_UTF8`` or ``INVALID_UTF8_REPLACED``), else ``None``; with
    ``repair=False`` damaged UTF-8 is only ever read as a legacy encoding or rejected.

    Valid UTF-8 wins over a declared single-byte charset: a server that labels UTF-8
    pages ISO-8859-1 is common, while legacy Arabic or Latin text that happens to be
    valid UTF-8 is not.
    """
    if value.startswith(_UTF8_BOM):
        value = value[len(_UTF8_BOM) :]
    try:
        return value.decode("utf-8"), "utf-8", None
    except UnicodeDecodeError as exc:
        error = exc
    repaired = _repair_utf8(value, error) if repair else None
    if repaired is not None:
        return repaired[0], "utf-8", repaired[1]
    if declared is not None and declared != "utf-8":
        found = _declared(value, declared)
        if found is not None:
            return found[0], found[1], None
    if html:
        tag = _META_CHARSET.search(value[:_META_SCAN_BYTES])
        meta = _codec_name(tag.group(1)) if tag else None
        found = _declared(value, meta) if meta is not None and meta != "utf-8" else None
        if found is not None:
            return found[0], found[1], None
    detected = _detect(value)
    if detected is None:
        raise DecodeError(
            "undecodable",
            f"bytes are not valid UTF-8 ({error.reason} at byte {error.start}) and do not "
            f"read as text in any of {', '.join(map(encoding_label, DETECTABLE_ENCODINGS))}",
        )
    return detected[0], detected[1], None


def encoding_label(codec: str) -> str:
    """The name the web uses for a Python codec ("cp1256" → "windows-1256")."""
    return _LABELS.get(codec, codec)


def _notes(codec: str, repair: str | None) -> dict[str, str]:
    notes: dict[str, str] = {}
    if codec != "utf-8":
        notes[DETECTED_ENCODING_KEY] = encoding_label(codec)
    if repair is not None:
        notes[DECODE_REPAIR_KEY] = repair
    return notes


# --------------------------------------------------------------------------- records


def _validation_reason(exc: ValidationError) -> DeadLetterReason:
    for error in exc.errors():
        if error["loc"] and error["loc"][0] == "schema_version":
            return "unsupported_schema_version"
    return "invalid_schema"


def _summarise(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "record"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def decode_record(
    value: bytes | None,
    headers: Mapping[str, bytes],
    *,
    max_record_bytes: int,
    max_body_bytes: int,
    now: datetime | None = None,
) -> RawArticle:
    """Raises ``DecodeError`` for anything that is not a usable article record."""
    if value is None or not value.strip():
        raise DecodeError("empty_body", "record value is empty")
    if len(value) > max_record_bytes:
        raise DecodeError(
            "body_too_large", f"record is {len(value)} bytes, the limit is {max_record_bytes}"
        )
    stripped = value.removeprefix(_UTF8_BOM).lstrip()
    if stripped.startswith(b"{"):
        try:
            article = _json_article(stripped)
        except DecodeError as exc:
            # A headline may open with a brace ("{عين على الخليج}.. ..."): under a text
            # content-type header, a value that is not JSON at all is the body itself.
            if exc.reason != "invalid_json" or _bare_type(headers) not in BARE_CONTENT_TYPES:
                raise
            article = _bare_article(value, headers, now=now)
    else:
        article = _bare_article(value, headers, now=now)
    body_bytes = len(article.body.encode("utf-8"))
    if body_bytes > max_body_bytes:
        raise DecodeError(
            "body_too_large", f"body is {body_bytes} bytes, the limit is {max_body_bytes}"
        )
    return article


def _legacy_json(value: bytes) -> tuple[str, str]:
    """A JSON record that is not UTF-8: ``(text, codec)`` when it is wholly in a legacy
    code page, ``undecodable`` when it is UTF-8 with damage (its valid multi-byte
    characters outnumber the invalid bytes) or has too few non-ASCII bytes to tell."""
    damaged = value.decode("utf-8", "replace")
    invalid = damaged.count("\ufffd")
    multibyte = len(damaged) - len(damaged.encode("ascii", "ignore")) - invalid
    high = len(value) - len(value.translate(None, _HIGH_BYTES))
    if multibyte >= invalid or high < _MIN_LEGACY_JSON_BYTES:
        raise DecodeError(
            "undecodable",
            f"JSON record is not valid UTF-8 ({invalid} invalid bytes among {multibyte} "
            "UTF-8 characters) and not a record in a legacy code page",
        )
    text, codec, _ = decode_text(value, repair=False)
    return text, codec


def _json_article(value: bytes) -> RawArticle:
    """JSON must be UTF-8. A damaged UTF-8 record is dead-lettered as it is (a producer
    bug to see, not to patch); a record written wholly in a legacy code page is detected
    as a whole (its structure is ASCII, so only the strings differ)."""
    notes: dict[str, str] = {}
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        if _strict(value, "utf-8") is not None:
            raise DecodeError("invalid_json", f"value is not valid JSON: {exc}") from exc
        text, codec = _legacy_json(value)
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as again:
            raise DecodeError(
                "invalid_json", f"value ({encoding_label(codec)}) is not valid JSON: {again}"
            ) from again
        notes = _notes(codec, None)
    if notes and isinstance(data, dict):
        meta = data.get("metadata")
        data["metadata"] = {**meta, **notes} if isinstance(meta, dict) else notes
    try:
        return RawArticle.model_validate(data)
    except ValidationError as exc:
        raise DecodeError(_validation_reason(exc), _summarise(exc)) from exc


def _header_text(value: bytes, name: str, body_codec: str) -> str:
    """Header values are UTF-8, or in the body's encoding when the producer used one."""
    text = _strict(value, "utf-8")
    if text is None and body_codec != "utf-8":
        text = _strict(value, body_codec)
    if text is None:
        raise DecodeError("undecodable", f"header {name!r} is not valid UTF-8")
    return text


def _bare_type(headers: Mapping[str, bytes]) -> str:
    return headers.get("content-type", b"").decode("latin-1").split(";")[0].strip().lower()


def _bare_article(
    value: bytes, headers: Mapping[str, bytes], *, now: datetime | None
) -> RawArticle:
    full_type = headers.get("content-type", b"").decode("latin-1")
    content_type = _bare_type(headers)
    if content_type not in BARE_CONTENT_TYPES:
        decode_text(value)  # binary garbage is reported as undecodable, not as bad JSON
        raise DecodeError(
            "invalid_json",
            "value is not a JSON object and no 'content-type' header marks it as a "
            "text/plain or text/html body",
        )
    body, codec, repair = decode_text(
        value, declared=_declared_charset(full_type), html=content_type == "text/html"
    )
    meta = {k: _header_text(v, k, codec) for k, v in headers.items() if k != "content-type"}
    meta.update(_notes(codec, repair))
    fetched_at = meta.pop("fetched-at", None) or (now or datetime.now(UTC)).isoformat()
    try:
        return RawArticle.model_validate(
            {
                "id": meta.pop("id", None),
                "url": meta.pop("url", None),
                "source": meta.pop("source", None) or "unknown",
                "fetched_at": fetched_at,
                "content_type": content_type,
                "body": body,
                "language": meta.pop("language", None),
                "metadata": meta,
            }
        )
    except ValidationError as exc:
        raise DecodeError(_validation_reason(exc), _summarise(exc)) from exc
