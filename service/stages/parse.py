"""Scraped page → title, clean text, publish date and language.

Scrapers hand over whatever the site served: HTML with menus, share bars and
comment forms around the story, or a plain-text dump in which the same chrome
survives as loose lines (a glued breadcrumb first, "Related articles" and the
comment-form notice last). Both paths end in the same list of paragraphs and
the same line-level chrome filter, so the rules live in one place:

* HTML: the container is chosen cheaply from the parsed tree (``articleBody``,
  ``<article>``, ``<main>`` or the element whose ``<p>`` children hold the most
  text); only that subtree is walked, skipping chrome by tag, class/id hint and
  ARIA role. Chrome is judged *relative to the container*, so a page wrapped in
  ``<form>`` or in ``<div class="has-sidebar">`` still yields its story.
  Without ``<h1>`` or ``og:title``, a headline marked only by its class
  ("news-title") stands in before the generic ``<title>``.
* Plain text: a small, documented list of chrome phrases (Arabic and English),
  compared in the folded matching form of :mod:`service.stages.normalize`, plus
  a breadcrumb heuristic for the first line.
* Dates: producer value, then page metadata, then header lines (a date or a
  publication line such as "نشر في ... بواسطة ..." above the story, or, in HTML, a
  ``<time>``/``class*=date`` element next to the headline), then a dateline in the
  first few paragraphs (Levantine, Gregorian-transliterated, Maghrebi and French
  month names, Eastern digits, English forms, "today"/"yesterday" with a weekday;
  an age stamp such as "منذ ساعتين" only in a header). Later paragraphs are never
  read for the date: they cite history and copyrights.
* Language: py3langid with normalised probabilities, dialect labels folded into
  their ISO 639-1 language (Sorani lands on the model's Southern Kurdish label,
  backed by a script rule, see ``_sorani_by_script``); a producer hint wins only
  when the text is too short.

Everything here is pure and deterministic; the only lazy state is the language
model, loaded once. Anything guessed is reported as a short code in
``warnings`` (see ``WARNING_CODES``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborDocumentOptions, LexborHTMLParser, LexborNode

from schemas.models import DatePrecision, DateSource, DeadLetterReason, RawArticle
from service.stages.decode import DECODE_REPAIR_KEY, DETECTED_ENCODING_KEY
from service.stages.langid_model import load_identifier
from service.stages.normalize import normalize_for_matching

__all__ = ["WARNING_CODES", "ParseError", "ParsedArticle", "parse_article"]

WARNING_CODES: Final = frozenset(
    {
        "breadcrumb_dropped",  # a short first line was taken for site navigation
        "title_from_first_line",  # plain text: the first line is the title
        "title_from_text",  # no title anywhere: the first sentence stands in
        "date_from_relative",  # "today"/"yesterday" (with or without a weekday)
        "date_from_fetched_at",  # no date found: fetch time stands in
        "year_inferred",  # a dateline without a year
        "weekday_mismatch",  # the weekday next to the date does not fit it
        "metadata_date_rejected",  # page metadata dated after the fetch
        "timezone_assumed_utc",  # page metadata time without an offset
        "language_from_hint",  # producer/page hint used instead of detection
        "language_from_script",  # Kurdish (Sorani) letters overrode the model
        "language_hint_mismatch",  # detection overrode a contradicting hint
        "short_text",  # fewer than _SHORT_TEXT_CHARS characters of text
        "text_truncated",  # more paragraphs than _MAX_PARAGRAPHS
        "chrome_filter_relaxed",  # HTML: nothing survived the chrome filter
        "html_flattened",  # HTML nested too deeply to parse in time
        "html_without_markup",  # text/html body that holds no markup
        "plain_text_is_html",  # text/plain body that is an HTML document
        "encoding_detected",  # the body was not UTF-8: decoded from a legacy charset
        "utf8_repaired",  # invalid UTF-8 bytes dropped (cut last character) or replaced
    }
)

_MAX_PARAGRAPHS = 2000
_MAX_HEADER_LINES = 3  # breadcrumb and date lines above a plain-text title
_SHORT_TEXT_CHARS = 200
_MIN_LANGID_LETTERS = 40
_LANGID_SAMPLE_CHARS = 600
_HINT_CONFIDENCE = 0.5
_DATELINE_PARAGRAPHS = 3
_DATELINE_SCAN_CHARS = 500
_DATELINE_START_CHARS = 40  # a dateline opens the first paragraph ...
_DATELINE_LEAD_WORDS = 3  # ... after a place name and a word or two
_UNANCHORED_MAX_AGE = timedelta(days=7)
_YEAR_SEARCH_BACK = 6
_MIN_YEAR = 1900
_CHROME_LINE_LIMIT = 600  # longer lines are content
_CHROME_EXACT_CHARS = 120  # whole-line phrases (headings, buttons) are short
_CHROME_CONTAINS_CHARS = 300  # footer lines with "all rights reserved"
_COOKIE_SEARCH_CHARS = 200
_COOKIE_HINTS = ("ookie", "OOKIE", "الارتباط", "كوكيز")
_TITLE_MAX_CHARS = 250
_TITLE_MAX_WORDS = 35
_DERIVED_TITLE_MAX = 160
_DEPTH_SCAN_MIN_TAGS = 4000
_MAX_HTML_DEPTH = 512
_MAX_JSON_LD_CHARS = 500_000
_MAX_JSON_LD_NODES = 2000
_MAX_CANDIDATES = 50
_SCOPE_LEVELS = 3  # how far above the text container the story's header may sit
_HEADLINE_MIN_WORDS = 3
_DATE_ELEMENT_CHARS = 80
_PROSE_AROUND_DATE_CHARS = 160  # a longer <p> around a <time> is story text


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True, slots=True)
class ParsedArticle:
    """What the page says, separated from how the site wrapped it."""

    title: str
    text: str
    """Main text, paragraphs separated by a blank line, no site chrome."""
    lead: str
    """The first paragraph of ``text``."""
    url: str | None
    """Canonical URL (``<link rel=canonical>``/``og:url``), else the producer's URL."""
    author: str | None
    published_at: datetime
    """Timezone-aware UTC. Midnight for a day from metadata or a dateline; the fetch
    time itself (with precision ``"day"``) when nothing better is known."""
    date_precision: DatePrecision
    date_source: DateSource
    language: str
    """ISO 639-1."""
    language_confidence: float
    warnings: tuple[str, ...] = ()


class ParseError(Exception):
    """Nothing publishable in the page; ``reason`` is a bounded dead-letter code."""

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: DeadLetterReason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type[ParseError], tuple[DeadLetterReason, str]]:
        return (type(self), (self.reason, self.detail))


# --------------------------------------------------------------------------- text helpers

# C0 controls, lone surrogates, BOM and bidirectional controls (display-only marks).
_CONTROL = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufeff]"
)
_LINE_BREAK = re.compile("\r\n?|[\x0b\x0c\x85\u2028\u2029]")
_UNUSUAL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f\x85\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff\ufeff]"
)
_WS = re.compile(r"\s+")
_LETTER = re.compile(r"[^\W\d_]")
_MARKUP = re.compile(r"<[A-Za-z!/?]")
_HTML_DOC = re.compile(
    r"\s*(?:<!--.*?-->\s*)?<(?:!doctype\s+html|html[\s>])", re.IGNORECASE | re.DOTALL
)
_BLOCK_SPLIT = re.compile(r"\n[^\S\n]*\n\s*")
_SENTENCE_END = ".!?؟…:;؛\"'”»)]"
_FIRST_SENTENCE = re.compile(rf"^(.{{15,{_DERIVED_TITLE_MAX}}}?[.!?؟])(?=\s|$)", re.DOTALL)


def _sanitize(body: str) -> str:
    """Drop control and bidi-control characters, lone surrogates and BOMs; unify line
    breaks."""
    if _UNUSUAL.search(body) is None:
        return body
    return _CONTROL.sub("", _LINE_BREAK.sub("\n", body))


def _squash(text: str) -> str:
    return " ".join(text.split())


def _has_letters(text: str) -> bool:
    return _LETTER.search(text) is not None


def _dedupe(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


_LETTER_FOLD = str.maketrans(
    {
        "\u0622": "\u0627",
        "\u0623": "\u0627",
        "\u0625": "\u0627",
        "\u0671": "\u0627",
        "\u0649": "\u064a",
        "\u0629": "\u0647",
        "\u0640": None,
        **{chr(0x0660 + d): str(d) for d in range(10)},
        **{chr(0x06F0 + d): str(d) for d in range(10)},
    }
)
_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670]")


def _fold_letters(text: str) -> str:
    """Fold Arabic letter variants and digits, keep punctuation (for name look-ups)."""
    return _DIACRITICS.sub("", text.translate(_LETTER_FOLD)).casefold()


# Arabic letters that writers interchange: patterns accept every form, so that text
# is matched as written and only the short matched span is folded.
_LETTER_VARIANTS = {"ا": "[اأإآٱ]", "ي": "[يى]", "ه": "[هة]", " ": r"\s+"}


def _variant_regex(word: str) -> str:
    folded = _WS.sub(" ", _fold_letters(word))
    return "".join(_LETTER_VARIANTS.get(c, re.escape(c)) for c in folded)


def _alternation(words: Iterable[str]) -> str:
    forms = {_WS.sub(" ", _fold_letters(w)) for w in words}
    return "|".join(_variant_regex(w) for w in sorted(forms, key=len, reverse=True))


# --------------------------------------------------------------------------- chrome lines
# Phrases are written as a reader sees them and compiled at import (whole lines in the
# folded form of normalize_for_matching, openings as letter-variant patterns), so
# alef/hamza forms, tanween, ta marbuta and case do not matter.

_TERMINAL_EXACT_PHRASES = (
    # English: where the story ends and the site begins
    "related",
    "related articles",
    "related posts",
    "related stories",
    "related news",
    "related content",
    "related coverage",
    "related topics",
    "you may also like",
    "you might also like",
    "recommended for you",
    "more stories",
    "most read",
    "most popular",
    "leave a comment",
    "leave a reply",
    "post a comment",
    "add a comment",
    "comments",
    "no comments",
    "join the conversation",
    "back to top",
    "scroll to top",
    # Arabic
    "مقالات ذات صلة",
    "أخبار ذات صلة",
    "مواضيع ذات صلة",
    "مقالات مشابهة",
    "أخبار مشابهة",
    "مقالات مقترحة",
    "قد يعجبك أيضاً",
    "قد يهمك أيضاً",
    "الأكثر قراءة",
    "الأكثر مشاهدة",
    "اترك تعليقاً",
    "اترك رداً",
    "أضف تعليقاً",
    "أضف تعليق",
    "التعليقات",
    "تعليقات",
    "زر الذهاب إلى الأعلى",
    "الذهاب إلى الأعلى",
    "العودة إلى الأعلى",
    "العودة للأعلى",
)
_TERMINAL_PREFIX_PHRASES = (
    "your email address will not be published",
    "you must be logged in to post a comment",
    "لن يتم نشر عنوان بريدك الإلكتروني",
    "يجب أن تكون مسجل الدخول لكي تضيف تعليقاً",
)
_TERMINAL_CONTAINS_PHRASES = ("all rights reserved", "جميع الحقوق محفوظة")
_DROP_EXACT_PHRASES = (
    "advertisement",
    "advertisements",
    "sponsored",
    "ad",
    "share",
    "share this",
    "share this article",
    "share this story",
    "share this post",
    "share article",
    "skip to content",
    "skip to main content",
    "menu",
    "search",
    "home",
    "close",
    "accept",
    "accept all",
    "إعلان",
    "إعلانات",
    "شارك",
    "شارك المقال",
    "شارك الخبر",
    "شارك هذا المقال",
    "مشاركة",
    "مشاركة الخبر",
    "القائمة",
    "بحث",
    "الرئيسية",
    "إغلاق",
    "موافق",
)
_DROP_PREFIX_PHRASES = (
    "read more",
    "read also",
    "also read",
    "see also",
    "share on",
    "follow us on",
    "subscribe to",
    "sign up for",
    "click here",
    "اقرأ أيضاً",
    "اقرأ المزيد",
    "شارك على",
    "تابعونا على",
    "تابعنا على",
    "اشترك في",
    "اضغط هنا",
    "انقر هنا",
)
_COOKIE_PHRASES = ("ملفات تعريف الارتباط", "الكوكيز", "ملفات الكوكيز")
_SOCIAL_WORDS = (
    "facebook twitter x whatsapp telegram linkedin pinterest reddit email e-mail mail print "
    "share tweet messenger copy link viber فيسبوك فيس بوك تويتر واتساب واتس اب تلغرام تيليجرام "
    "تليجرام لينكدإن طباعة مشاركة شارك البريد الإلكتروني نسخ الرابط"
)


def _fold_all(phrases: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(normalize_for_matching(p) for p in phrases))


def _phrase_prefix(phrases: Iterable[str]) -> re.Pattern[str]:
    """A line that opens with one of ``phrases`` (any letter variant, any case)."""
    return re.compile(rf"[\W_]*(?:{_alternation(phrases)})(?!\w)", re.IGNORECASE)


_TERMINAL_EXACT = frozenset(_fold_all(_TERMINAL_EXACT_PHRASES))
_TERMINAL_PREFIX = _phrase_prefix(_TERMINAL_PREFIX_PHRASES)
_TERMINAL_CONTAINS = re.compile(
    "|".join(_variant_regex(p) for p in _TERMINAL_CONTAINS_PHRASES), re.IGNORECASE
)
_DROP_EXACT = frozenset(_fold_all(_DROP_EXACT_PHRASES))
_DROP_PREFIX = _phrase_prefix(_DROP_PREFIX_PHRASES)
_SOCIAL = frozenset(normalize_for_matching(_SOCIAL_WORDS).split())
_COUNT = re.compile(r"^\d+ | \d+$")
_COPYRIGHT = re.compile(r"^\W{0,3}(?:©|\(c\)\s*\d{4}|copyright\s*(?:©|\(c\))?\s*\d{4})", re.I)
_COOKIE = re.compile(
    r"\b(?:we|this\s+(?:web)?site|our\s+(?:web)?site)\s+uses?\s+cookies\b"
    r"|\bcookie\s+(?:policy|settings|preferences|consent)\b|\baccept\s+(?:all\s+)?cookies\b|"
    + "|".join(_variant_regex(p) for p in _COOKIE_PHRASES),
    re.IGNORECASE,
)


def _chrome_kind(line: str) -> str | None:
    """``"end"`` for a line after which only site chrome follows, ``"drop"`` for a
    chrome line inside the story, ``None`` for content."""
    length = len(line)
    if length > _CHROME_LINE_LIMIT:
        return None
    if length <= _CHROME_EXACT_CHARS:
        folded = normalize_for_matching(line)
        if not folded:
            return "drop"  # punctuation, arrows, bullets
        if folded in _TERMINAL_EXACT or _COUNT.sub("", folded) in _TERMINAL_EXACT:
            return "end"
        if folded in _DROP_EXACT or _SOCIAL.issuperset(folded.split()):
            return "drop"
    if _TERMINAL_PREFIX.match(line) or _COPYRIGHT.match(line):
        return "end"
    if length <= _CHROME_CONTAINS_CHARS and _TERMINAL_CONTAINS.search(line):
        return "end"
    if _DROP_PREFIX.match(line):
        return "drop"
    head = line[:_COOKIE_SEARCH_CHARS]
    if any(h in head for h in _COOKIE_HINTS) and _COOKIE.search(head):
        return "drop"
    return None


def _strip_chrome(paragraphs: list[str]) -> list[str]:
    """Remove chrome lines; cut at the first end-of-story marker that follows content."""
    kept: list[str] = []
    for para in paragraphs:
        kind = _chrome_kind(para)
        if kind is None:
            if not kept or kept[-1] != para:
                kept.append(para)
        elif kind == "end" and kept:
            break
    return kept


# --------------------------------------------------------------------------- plain text

_SENTENCE_PUNCT = re.compile(r"[.!?؟،,:;؛\"“”«»()]")
_CRUMB_SEP = re.compile(r"\s*(?:[›»>|\\•·]|\s/\s)\s*")
_GLUE = re.compile(r"ة[\u0621-\u064a]|[a-z][A-Z]")


def _plain_paragraphs(body: str) -> tuple[list[str], bool]:
    """Blank lines separate blocks; inside a block each line is a paragraph unless it
    continues a hard-wrapped sentence (no end punctuation, lower-case start)."""
    paragraphs: list[str] = []
    for block in _BLOCK_SPLIT.split(body):
        current: list[str] = []
        for raw_line in block.split("\n"):
            line = _squash(raw_line)
            if not line:
                continue
            if current and current[-1][-1] not in _SENTENCE_END and line[0].islower():
                current.append(line)
                continue
            if current:
                paragraphs.append(" ".join(current))
            current = [line]
        if current:
            paragraphs.append(" ".join(current))
        if len(paragraphs) > _MAX_PARAGRAPHS:
            return paragraphs[:_MAX_PARAGRAPHS], True
    return paragraphs, False


def _is_title_like(line: str, *, strict: bool = False) -> bool:
    """Short enough for a headline; ``strict`` also refuses a closing full stop."""
    if len(line) > _TITLE_MAX_CHARS or line.endswith((":", ",", "،", ";", "؛")):
        return False
    if line.count(" ") >= _TITLE_MAX_WORDS:
        return False
    if line.endswith("."):
        return not strict and len(line) <= 150
    return True


def _is_breadcrumb(line: str, following: list[str]) -> bool:
    """A short first line that names site sections rather than the story.

    It must be followed by a headline (no closing full stop) and a body, and either
    be split by breadcrumb separators ("Home › World"), or be a few words without
    digits or sentence punctuation: section names glued together by the scraper
    (a ta marbuta inside a word, "الإخباريةمحلي", or a camel-case join), or at most
    three words before a headline at least twice as long.
    """
    if len(line) > 80 or len(following) < 2 or not _is_title_like(following[0], strict=True):
        return False
    title = following[0]
    segments = [s for s in _CRUMB_SEP.split(line) if s]
    if len(segments) >= 2 and all(len(s.split()) <= 4 for s in segments):
        return True
    words = line.split()
    if len(words) > 4 or _SENTENCE_PUNCT.search(line) or _DIGIT.search(line):
        return False
    if _GLUE.search(line):
        return len(title) > len(line)
    title_words = len(title.split())
    return len(words) <= 3 and title_words >= 5 and title_words >= 2 * len(words)


@dataclass(slots=True)
class _Extract:
    title: str | None
    paragraphs: list[str]
    header: list[str]
    url: str | None = None
    author: str | None = None
    meta_date: tuple[datetime, DatePrecision] | None = None
    language_hint: str | None = None


def _extract_plain(body: str, warnings: list[str]) -> _Extract:
    paragraphs, truncated = _plain_paragraphs(body)
    if truncated:
        warnings.append("text_truncated")
    header: list[str] = []
    i = 0
    while i < len(paragraphs):
        line = paragraphs[i]
        if _chrome_kind(line) is not None:
            pass
        elif len(header) >= _MAX_HEADER_LINES:
            break
        elif _is_date_line(line):
            header.append(line)
        elif _is_breadcrumb(line, paragraphs[i + 1 : i + 3]):
            header.append(line)
            warnings.append("breadcrumb_dropped")
        else:
            break
        i += 1
    rest = paragraphs[i:]
    title: str | None = None
    if len(rest) >= 2 and _is_title_like(rest[0]):
        title = rest[0]
        rest = rest[1:]
        warnings.append("title_from_first_line")
    text = _strip_chrome(rest)
    if not text and title is not None:
        text = [title]
    return _Extract(title=title, paragraphs=text, header=header)


def _derive_title(first_paragraph: str) -> str:
    match = _FIRST_SENTENCE.match(first_paragraph)
    if match:
        return match.group(1)
    if len(first_paragraph) <= _DERIVED_TITLE_MAX:
        return first_paragraph
    cut = first_paragraph[:_DERIVED_TITLE_MAX]
    space = cut.rfind(" ")
    return cut[:space] if space > _DERIVED_TITLE_MAX // 2 else cut


# --------------------------------------------------------------------------- HTML

_HARD_SKIP_TAGS = frozenset(
    {
        "script",
        "style",
        "noscript",
        "iframe",
        "template",
        "svg",
        "math",
        "head",
        "title",
        "textarea",
        "select",
        "button",
        "object",
        "embed",
        "canvas",
        "video",
        "audio",
        "map",
        "input",
        "option",
        "datalist",
        "link",
        "meta",
    }
)
_CHROME_TAGS = frozenset(
    {"nav", "header", "footer", "aside", "form", "figcaption", "dialog", "menu"}
)
_LANDMARK_TAGS = _CHROME_TAGS - {"form"}  # a form may wrap a whole page
_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "li",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "blockquote",
        "pre",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "td",
        "th",
        "caption",
        "address",
        "center",
        "details",
        "summary",
        "fieldset",
        "figure",
        "hgroup",
        "body",
        "html",
    }
)
_VOID_TAGS = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
        "keygen",
    }
)
_OPTIONAL_END_TAGS = frozenset(
    {
        "p",
        "li",
        "dt",
        "dd",
        "option",
        "optgroup",
        "tr",
        "td",
        "th",
        "thead",
        "tbody",
        "tfoot",
        "colgroup",
        "caption",
        "rb",
        "rt",
        "rp",
    }
)
_PROTECTED_TAGS = frozenset({"html", "body", "main", "article"})
_CHROME_HINT = re.compile(
    r"(?:^|[\s_-])(?:share|sharing|sharethis|social|socials|related|comments?|disqus|"
    r"cookies?|consent|gdpr|footer|nav|navbar|navigation|menu|breadcrumbs?|newsletter|"
    r"subscribe|subscription|signup|advert\w*|ads?|adslot|adunit|sponsor\w*|promo\w*|"
    r"sidebar|widget\w*|popup|modal|outbrain|taboola|recommend\w*|byline|tags|"
    r"sr-only|screen-reader-text|visually-hidden|skip-link)(?:$|[\s_-])"
)
_CHROME_ROLES = frozenset(
    {
        "navigation",
        "banner",
        "contentinfo",
        "complementary",
        "search",
        "menu",
        "menubar",
        "dialog",
        "alertdialog",
        "toolbar",
        "tablist",
    }
)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_BR_MARK = "\x00"  # control characters are removed from input, so this marker is free
_BR_PARAGRAPH = re.compile(r"\x00(?:\s*\x00)+")
_TAG_NAME = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)")
_FLATTEN = re.compile(
    r"</?(?!(?:p|br|h[1-6]|li|a|title|meta|link|script|style|time|html|head|body)\b)"
    r"[A-Za-z][^>]*>"
)
_HEADLINE_SELECTOR = (
    "[itemprop=headline], [class*=headline], [class*=title], [id*=headline], [id*=title]"
)
_DATE_SELECTOR = (
    "time, [itemprop=datePublished], [class*=date], [class*=time], [class*=publish], "
    "[class*=posted], [class*=dateline]"
)
_UPDATED_HINT = re.compile(r"updat|modif|comment")
_TITLE_SEPARATORS = re.compile(r"\s+(?:[|\-–—·•]|::|»|«)\s+")
_AUTHOR_PREFIX = re.compile(
    r"^(?:by|written by|author|بقلم|كتب|كتبت|الكاتب|إعداد)\s*[:：]?\s+", re.I
)
_ARTICLE_TYPES = frozenset(
    {
        "article",
        "newsarticle",
        "reportagenews",
        "analysisnewsarticle",
        "opinionnewsarticle",
        "backgroundnewsarticle",
        "reviewnewsarticle",
        "blogposting",
        "liveblogposting",
        "report",
        "scholarlyarticle",
    }
)
_META_DATE_KEYS = (
    "article:published_time",
    "og:published_time",
    "og:article:published_time",
)
_META_DATE_FALLBACK_KEYS = (
    "date",
    "pubdate",
    "publishdate",
    "publish-date",
    "publish_date",
    "dc.date.issued",
    "dcterms.issued",
    "dc.date",
    "dcterms.created",
    "sailthru.date",
    "parsely-pub-date",
    "article.published",
)


def _flatten_if_too_deep(html: str) -> tuple[str, bool]:
    """Markup nested hundreds of levels deep makes tree building quadratic; such a page
    loses its container tags (keeping paragraphs, headings, links and metadata)."""
    if html.count("<") < _DEPTH_SCAN_MIN_TAGS:
        return html, False
    depth = 0
    for match in _TAG_NAME.finditer(html):
        name = match.group(2).lower()
        if name in _VOID_TAGS or name in _OPTIONAL_END_TAGS:
            continue
        if match.group(1):
            depth = depth - 1 if depth else 0
        else:
            depth += 1
            if depth > _MAX_HTML_DEPTH:
                return _FLATTEN.sub(" ", html), True
    return html, False


class _Chrome:
    """Per-document memo of which elements are site chrome."""

    __slots__ = ("_any", "_own")

    def __init__(self) -> None:
        self._own: dict[int, bool] = {}
        self._any: dict[int, bool] = {}

    def own(self, node: LexborNode) -> bool:
        key = node.mem_id
        known = self._own.get(key)
        if known is None:
            known = _is_chrome_element(node)
            self._own[key] = known
        return known

    def within(self, node: LexborNode) -> bool:
        """The node or one of its ancestors is chrome."""
        chain: list[LexborNode] = []
        current: LexborNode | None = node
        result = False
        while current is not None:
            known = self._any.get(current.mem_id)
            if known is not None:
                result = known
                break
            if current.tag in ("body", "html", "-document"):
                break
            chain.append(current)
            current = current.parent
        for item in reversed(chain):
            result = result or self.own(item)
            self._any[item.mem_id] = result
        return result

    def between(self, node: LexborNode, ancestor: LexborNode) -> bool:
        """Chrome on the path from ``node`` up to (excluding) ``ancestor``."""
        stop = ancestor.mem_id
        current: LexborNode | None = node
        while current is not None and current.mem_id != stop:
            if self.own(current):
                return True
            current = current.parent
        return False


def _is_chrome_element(node: LexborNode) -> bool:
    tag = node.tag
    if tag is None or tag in _PROTECTED_TAGS:
        return False
    if tag in _CHROME_TAGS:
        return True
    attrs = node.attributes
    if not attrs:
        return False
    if "hidden" in attrs or attrs.get("aria-hidden") == "true":
        return True
    role = attrs.get("role")
    if role and role.strip().lower() in _CHROME_ROLES:
        return True
    hints = " ".join(v for k in ("class", "id") if (v := attrs.get(k)))
    if hints and _CHROME_HINT.search(hints.lower()):
        return True
    style = attrs.get("style")
    return bool(style and _HIDDEN_STYLE.search(style))


def _is_landmark(node: LexborNode) -> bool:
    """Navigation, header, footer and side regions: chrome even when hints are ignored."""
    tag = node.tag
    if tag in _LANDMARK_TAGS:
        return True
    role = node.attributes.get("role") if tag not in _PROTECTED_TAGS else None
    return bool(role and role.strip().lower() in _CHROME_ROLES)


def _text_len(node: LexborNode) -> int:
    return len(_squash(node.text()))


def _relative_text(container: LexborNode, chrome: _Chrome) -> int:
    """Characters of ``<p>`` text inside ``container`` and outside chrome within it."""
    total = 0
    found = False
    for p in container.css("p"):
        found = True
        if not chrome.between(p, container):
            total += _text_len(p)
    return total if found else _text_len(container)


def _choose_container(root: LexborNode, chrome: _Chrome) -> LexborNode:
    scores: dict[int, float] = {}
    nodes: dict[int, LexborNode] = {}

    def credit(node: LexborNode, amount: float) -> None:
        key = node.mem_id
        scores[key] = scores.get(key, 0.0) + amount
        nodes[key] = node

    for p in root.css("p"):
        length = _text_len(p)
        if length < 25 or chrome.own(p):
            continue
        parent = p.parent
        if parent is None:
            continue
        credit(parent, length)
        grand = parent.parent
        if grand is not None and not chrome.own(parent):
            credit(grand, length / 2)

    def penalised(node: LexborNode, value: float) -> float:
        return value * 0.3 if chrome.within(node) else value

    best: LexborNode | None = None
    best_text = 0.0
    if scores:
        key = max(scores, key=lambda k: penalised(nodes[k], scores[k]))
        best = nodes[key]
        best_text = penalised(best, _relative_text(best, chrome))

    for selector in ("[itemprop=articleBody]", "article", "main"):
        chosen: LexborNode | None = None
        chosen_text = 0.0
        for candidate in root.css(selector)[:_MAX_CANDIDATES]:
            text = penalised(candidate, _relative_text(candidate, chrome))
            if text > chosen_text:
                chosen, chosen_text = candidate, text
        if chosen is not None and chosen_text >= 0.5 * best_text:
            return chosen
    return best if best is not None else root


@dataclass(slots=True)
class _Block:
    text: str
    kind: str
    link_density: float


def _walk(container: LexborNode, is_chrome: Callable[[LexborNode], bool]) -> list[_Block]:
    """Text of ``container`` as blocks, one per block-level element (or ``<br><br>``)."""
    blocks: list[_Block] = []
    buffer: list[str] = []
    link_chars = 0
    link_depth = 0
    owners: list[str] = [container.tag or "div"]
    stack: list[tuple[LexborNode, str, bool]] = []

    def flush(kind: str) -> None:
        nonlocal link_chars
        if not buffer:
            return
        raw = "".join(buffer)
        buffer.clear()
        density = link_chars / len(raw) if raw else 0.0
        link_chars = 0
        parts = _BR_PARAGRAPH.split(raw) if _BR_MARK in raw else [raw]
        for part in parts:
            text = _squash(part.replace(_BR_MARK, " "))
            if text:
                blocks.append(_Block(text, kind, density))

    node = container.first_child
    while True:
        if node is None:
            if not stack:
                break
            done, done_tag, is_block = stack.pop()
            if done_tag == "a":
                link_depth -= 1
            if is_block:
                flush(owners.pop())
            node = done.next
            continue
        tag = node.tag
        if tag == "-text":
            content = node.text_content
            if content:
                buffer.append(content)
                if link_depth:
                    link_chars += len(content)
            node = node.next
            continue
        if tag is None or tag[0] == "-" or tag in _HARD_SKIP_TAGS:
            node = node.next
            continue
        if tag == "br":
            buffer.append(_BR_MARK)
            node = node.next
            continue
        if tag in _VOID_TAGS:
            if tag == "hr":
                flush(owners[-1])
            node = node.next
            continue
        if is_chrome(node):
            node = node.next
            continue
        is_block = tag in _BLOCK_TAGS
        if is_block:
            flush(owners[-1])
            owners.append(tag)
        if tag == "a":
            link_depth += 1
        child = node.first_child
        if child is None:
            if is_block:
                flush(owners.pop())
            if tag == "a":
                link_depth -= 1
            node = node.next
        else:
            stack.append((node, tag, is_block))
            node = child
    flush(owners[-1])
    return blocks


def _useful(blocks: list[_Block]) -> list[str]:
    out: list[str] = []
    for block in blocks:
        if block.kind == "h1":
            continue
        limit = 0.5 if block.kind in ("li", "dt", "dd", "td", "th") else 0.8
        if block.link_density >= limit:
            continue
        out.append(block.text)
    return out


def _collect_meta(tree: LexborHTMLParser) -> dict[str, str]:
    meta: dict[str, str] = {}
    for node in tree.css("meta"):
        attrs = node.attributes
        content = attrs.get("content")
        if not content or not content.strip():
            continue
        for attr in ("property", "name", "itemprop"):
            key = attrs.get(attr)
            if key:
                meta.setdefault(key.strip().lower(), content.strip())
    return meta


def _json_nodes(data: object) -> Iterator[dict[str, Any]]:
    stack: list[object] = [data]
    budget = _MAX_JSON_LD_NODES
    while stack and budget > 0:
        budget -= 1
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(reversed([v for v in item.values() if isinstance(v, dict | list)]))
        elif isinstance(item, list):
            stack.extend(reversed([v for v in item if isinstance(v, dict | list)]))


def _ld_types(node: dict[str, Any]) -> set[str]:
    kind = node.get("@type")
    if isinstance(kind, str):
        return {kind.lower()}
    if isinstance(kind, list):
        return {k.lower() for k in kind if isinstance(k, str)}
    return set()


def _ld_author(value: object) -> str | None:
    names: list[str] = []
    items = value if isinstance(value, list) else [value]
    for item in items[:10]:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            names.append(item["name"])
    cleaned = [c for n in names if (c := _clean_author(n))]
    return ", ".join(dict.fromkeys(cleaned)) or None


def _collect_json_ld(tree: LexborHTMLParser) -> dict[str, str]:
    """``datePublished``, ``headline`` and ``author`` of the page's article object."""
    found: dict[str, str] = {}
    fallback: dict[str, str] = {}
    for script in tree.css("script[type]")[:20]:
        if (script.attributes.get("type") or "").strip().lower() != "application/ld+json":
            continue
        raw = script.text()
        if len(raw) > _MAX_JSON_LD_CHARS:
            continue
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        for node in _json_nodes(data):
            target = found if _ld_types(node) & _ARTICLE_TYPES else fallback
            for key in ("datePublished", "headline"):
                value = node.get(key)
                if isinstance(value, str) and value.strip():
                    target.setdefault(key, value.strip())
            if "author" in node and "author" not in target:
                author = _ld_author(node["author"])
                if author:
                    target["author"] = author
    for key, value in fallback.items():
        found.setdefault(key, value)
    return found


def _clean_author(value: str) -> str | None:
    text = _AUTHOR_PREFIX.sub("", _squash(value))
    if not text or len(text) > 200 or "://" in text or not _has_letters(text):
        return None
    return text


def _absolute_url(href: str | None, base: str | None) -> str | None:
    if not href or not href.strip():
        return None
    href = href.strip()
    try:
        url = urljoin(base, href) if base else href
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def _site_key(name: str) -> str:
    """Site names compare without case, letter variants or spacing ("Daily Post" is
    "dailypost.example")."""
    return normalize_for_matching(name).replace(" ", "")


def _site_names(meta: dict[str, str], source: str, url: str | None) -> list[str]:
    names = [meta.get("og:site_name", ""), meta.get("application-name", ""), source]
    if url:
        try:
            host = (urlsplit(url).hostname or "").removeprefix("www.")
        except ValueError:
            host = ""
        if host:
            names += [host, host.split(".")[0]]
    return [key for n in names if (key := _site_key(n))]


def _strip_site_name(title: str, sites: list[str]) -> str:
    """Remove " | Site", " - Site", "Site — " and similar from a page title."""
    parts = _TITLE_SEPARATORS.split(title)
    if len(parts) < 2:
        return title
    seps = _TITLE_SEPARATORS.findall(title)
    folded = [_site_key(p) for p in parts]
    if folded[-1] in sites:
        return "".join(p + s for p, s in zip(parts[:-2], seps[:-1], strict=True)) + parts[-2]
    if folded[0] in sites:
        return "".join(p + s for p, s in zip(parts[1:-1], seps[1:], strict=True)) + parts[-1]
    if "|" in seps[-1]:
        return max(title.split("|"), key=len).strip()
    tail, head = parts[-1], " ".join(parts[:-1])
    if len(tail.split()) <= 3 and len(tail) <= 30 and len(head.split()) >= 2 * len(tail.split()):
        return title[: title.rfind(seps[-1])]
    return title


def _first_h1(container: LexborNode, root: LexborNode, chrome: _Chrome) -> LexborNode | None:
    for scope in (container, root):
        for h1 in scope.css("h1")[:10]:
            if (scope is container or not chrome.within(h1)) and _has_letters(h1.text()):
                return h1
    return None


def _headline_element(container: LexborNode, chrome: _Chrome) -> LexborNode | None:
    """A headline marked only by its class or id ("news-title", "story-headline"), on
    pages without ``<h1>``: the first one in the container or up to
    ``_SCOPE_LEVELS`` ancestors above it that reads as a headline."""
    scope: LexborNode | None = container
    for _ in range(_SCOPE_LEVELS + 1):
        if scope is None or scope.tag in ("html", "-document"):
            break
        for node in scope.css(_HEADLINE_SELECTOR)[:_MAX_CANDIDATES]:
            if chrome.within(node) or node.css_first("p") is not None:
                continue
            text = _squash(node.text())
            if (
                len(text.split()) >= _HEADLINE_MIN_WORDS
                and _is_title_like(text, strict=True)
                and _has_letters(text)
                and _chrome_kind(text) is None
            ):
                return node
        scope = scope.parent
    return None


def _article_scope(container: LexborNode, anchor: LexborNode | None) -> LexborNode:
    """The smallest ancestor of ``container`` (at most ``_SCOPE_LEVELS`` up) that also
    holds ``anchor`` (the headline): the story's own header lives there."""
    if anchor is not None:
        chain: set[int] = set()
        node: LexborNode | None = anchor
        while node is not None:
            chain.add(node.mem_id)
            node = node.parent
        scope: LexborNode | None = container
        for _ in range(_SCOPE_LEVELS + 1):
            if scope is None or scope.tag in ("html", "-document"):
                break
            if scope.mem_id in chain:
                return scope
            scope = scope.parent
    return container.parent if container.parent is not None else container


def _date_elements(scope: LexborNode, chrome: _Chrome) -> list[str]:
    """Texts of the visible dates next to the headline: ``<time>`` and elements whose
    class says "date", "time" or "published", inside ``scope`` but not inside its
    chrome (comment lists, related blocks, sidebars; the story's own ``<header>`` is
    allowed). Elements for the last update or for comments are skipped."""
    found: list[str] = []
    for node in scope.css(_DATE_SELECTOR)[:_MAX_CANDIDATES]:
        hints = " ".join(v for k in ("class", "id") if (v := node.attributes.get(k))).lower()
        if _UPDATED_HINT.search(hints):
            continue
        text = _squash(node.text())
        if text and len(text) <= _DATE_ELEMENT_CHARS and not _in_chrome(node, scope, chrome):
            found.append(text)
    return found


def _in_chrome(node: LexborNode, scope: LexborNode, chrome: _Chrome) -> bool:
    """Chrome other than a header element between ``node`` and ``scope``, or a
    paragraph of prose around it (a date the story mentions, not its own)."""
    stop = scope.mem_id
    current: LexborNode | None = node.parent
    while current is not None and current.mem_id != stop:
        if current.tag == "p" and len(current.text()) > _PROSE_AROUND_DATE_CHARS:
            return True
        if current.tag != "header" and chrome.own(current):
            return True
        current = current.parent
    return False


def _in_prose(node: LexborNode) -> bool:
    """``node`` sits in a sentence: its paragraph is much longer than a date line."""
    current = node.parent
    for _ in range(3):
        if current is None:
            return False
        if current.tag == "p":
            return len(current.text()) > _PROSE_AROUND_DATE_CHARS
        current = current.parent
    return False


def _html_title(
    tree: LexborHTMLParser,
    meta: dict[str, str],
    ld: dict[str, str],
    h1: str | None,
    sites: list[str],
) -> str | None:
    og = _squash(meta.get("og:title", ""))
    if og and _has_letters(og) and _site_key(og) not in sites:
        return _strip_site_name(og, sites)
    if h1:
        return h1
    node = tree.css_first("title")
    if node is not None:
        text = _squash(node.text())
        if _has_letters(text):
            return _strip_site_name(text, sites)
    headline = _squash(ld.get("headline", ""))
    return headline if _has_letters(headline) else None


def _html_author(tree: LexborHTMLParser, meta: dict[str, str], ld: dict[str, str]) -> str | None:
    for key in ("author", "article:author", "dc.creator", "sailthru.author", "parsely-author"):
        author = _clean_author(meta.get(key, ""))
        if author:
            return author
    if ld.get("author"):
        return ld["author"]
    for selector in ("[rel~=author]", "[itemprop=author]"):
        node = tree.css_first(selector)
        if node is None:
            continue
        name = node.css_first("[itemprop=name]")
        value = node.attributes.get("content") or (name or node).text()
        author = _clean_author(value)
        if author:
            return author
    return None


def _html_date(tree: LexborHTMLParser, meta: dict[str, str], ld: dict[str, str]) -> Iterator[str]:
    """Publish-date strings from the page, most trustworthy first."""
    for key in _META_DATE_KEYS:
        if key in meta:
            yield meta[key]
    if "datePublished" in ld:
        yield ld["datePublished"]
    if "datepublished" in meta:
        yield meta["datepublished"]
    for selector in (
        "[itemprop=datePublished][datetime]",
        "time[pubdate][datetime]",
        "article time[datetime]",
        "main time[datetime]",
        "time[datetime]",
    ):
        node = next((n for n in tree.css(selector)[:_MAX_CANDIDATES] if not _in_prose(n)), None)
        if node is not None:
            value = node.attributes.get("datetime")
            if value:
                yield value
            break
    for key in _META_DATE_FALLBACK_KEYS:
        if key in meta:
            yield meta[key]


def _extract_html(raw: RawArticle, body: str, warnings: list[str]) -> _Extract:
    html, flattened = _flatten_if_too_deep(body)
    if flattened:
        warnings.append("html_flattened")
    tree = LexborHTMLParser(html, options=LexborDocumentOptions.WO_EVENTS, scripting=True)
    meta = _collect_meta(tree)
    ld = _collect_json_ld(tree)
    root = tree.body or tree.root
    if root is None:
        raise ParseError("no_content", "the HTML document has no body")
    chrome = _Chrome()
    container = _choose_container(root, chrome)
    paragraphs = _strip_chrome(_useful(_walk(container, chrome.own)))
    if not any(_has_letters(p) for p in paragraphs):
        relaxed = _strip_chrome(_useful(_walk(root, _is_landmark)))
        if any(_has_letters(p) for p in relaxed):
            paragraphs = relaxed
            warnings.append("chrome_filter_relaxed")
    if len(paragraphs) > _MAX_PARAGRAPHS:
        paragraphs = paragraphs[:_MAX_PARAGRAPHS]
        warnings.append("text_truncated")

    canonical = None
    for link in tree.css("link[rel]"):
        rel = (link.attributes.get("rel") or "").lower().split()
        if "canonical" in rel:
            canonical = _absolute_url(link.attributes.get("href"), raw.url)
            if canonical:
                break
    url = canonical or _absolute_url(meta.get("og:url"), raw.url) or raw.url

    sites = _site_names(meta, raw.source, url)
    anchor = _first_h1(container, root, chrome)
    heading = _squash(anchor.text()) if anchor is not None else None
    if anchor is None:
        anchor = _headline_element(container, chrome)
        heading = _squash(anchor.text()) if anchor is not None else None
    title = _html_title(tree, meta, ld, heading, sites)
    dates = _date_elements(_article_scope(container, anchor), chrome)
    if dates:
        shown = frozenset(dates)
        paragraphs = [p for p in paragraphs if p not in shown] or paragraphs
    if (
        title
        and len(paragraphs) > 1
        and len(paragraphs[0]) <= 2 * len(title) + 20
        and normalize_for_matching(paragraphs[0]) == normalize_for_matching(title)
    ):
        paragraphs = paragraphs[1:]

    meta_date: tuple[datetime, DatePrecision] | None = None
    upper = _add_days(raw.fetched_at, 1)
    for value in _html_date(tree, meta, ld):
        parsed = _parse_meta_date(value)
        if parsed is None:
            continue
        when, precision, naive = parsed
        if when > upper:
            warnings.append("metadata_date_rejected")
            continue
        if naive:
            warnings.append("timezone_assumed_utc")
        meta_date = (when, precision)
        break

    lang_node = tree.css_first("html[lang]")
    hint = lang_node.attributes.get("lang") if lang_node is not None else None
    return _Extract(
        title=title,
        paragraphs=paragraphs,
        header=dates,
        url=url,
        author=_html_author(tree, meta, ld),
        meta_date=meta_date,
        language_hint=hint,
    )


# --------------------------------------------------------------------------- dates

_MONTH_NAMES: dict[int, tuple[str, ...]] = {
    # Levantine/Iraqi, Gregorian transliterations (Egypt, Gulf), Maghrebi (Algeria,
    # Tunisia, Morocco), English names and abbreviations.
    1: ("كانون الثاني", "يناير", "جانفي", "january", "jan"),
    2: ("شباط", "فبراير", "فيفري", "february", "feb"),
    3: ("آذار", "مارس", "march", "mar"),
    4: ("نيسان", "أبريل", "إبريل", "أفريل", "april", "apr"),
    5: ("أيار", "مايو", "ماي", "may"),
    6: ("حزيران", "يونيو", "يونيه", "جوان", "june", "jun"),
    7: ("تموز", "يوليو", "يوليه", "جويلية", "يوليوز", "july", "jul"),
    8: ("آب", "أغسطس", "أوت", "غشت", "august", "aug"),
    9: ("أيلول", "سبتمبر", "شتنبر", "september", "sept", "sep"),
    10: ("تشرين الأول", "أكتوبر", "october", "oct"),
    11: ("تشرين الثاني", "نوفمبر", "نونبر", "november", "nov"),
    12: ("كانون الأول", "ديسمبر", "دجنبر", "december", "dec"),
}
# French, for Maghrebi outlets that publish in French: day-first only ("9 juillet 2025"),
# so that "Mars 2" in English prose is never read as a date.
_FRENCH_MONTH_NAMES: dict[int, tuple[str, ...]] = {
    1: ("janvier", "janv"),
    2: ("février", "fevrier", "févr", "fevr"),
    3: ("mars",),
    4: ("avril", "avr"),
    5: ("mai",),
    6: ("juin",),
    7: ("juillet", "juil"),
    8: ("août", "aout"),
    9: ("septembre",),
    10: ("octobre",),
    11: ("novembre",),
    12: ("décembre", "decembre", "déc"),
}
_WEEKDAY_NAMES: dict[int, tuple[str, ...]] = {
    0: ("الاثنين", "الإثنين", "monday", "mon"),
    1: ("الثلاثاء", "tuesday", "tues", "tue"),
    2: ("الأربعاء", "wednesday", "wed"),
    3: ("الخميس", "thursday", "thurs", "thur", "thu"),
    4: ("الجمعة", "friday", "fri"),
    5: ("السبت", "saturday", "sat"),
    6: ("الأحد", "sunday", "sun"),
}
_FRENCH_WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_TODAY_WORDS = frozenset({"اليوم", "today", "tonight"})
_YESTERDAY_WORDS = frozenset({"امس", "الامس", "البارحه", "yesterday"})


def _name_table(names: dict[int, tuple[str, ...]]) -> tuple[dict[str, int], str]:
    table = {_WS.sub(" ", _fold_letters(w)): n for n, words in names.items() for w in words}
    return table, _alternation(table)


def _lookup(table: dict[str, int], matched: str) -> int:
    return table[_WS.sub(" ", _fold_letters(matched))]


_MONTHS, _MONTH_RE = _name_table(
    {m: _MONTH_NAMES[m] + _FRENCH_MONTH_NAMES[m] for m in _MONTH_NAMES}
)
_LATIN_MONTH_RE = _alternation(w for words in _MONTH_NAMES.values() for w in words if w.isascii())
_WEEKDAYS, _WEEKDAY_RE = _name_table(
    {d: (*_WEEKDAY_NAMES[d], _FRENCH_WEEKDAYS[d]) for d in _WEEKDAY_NAMES}
)
_REL_WORDS = _alternation(["اليوم", "أمس", "الأمس", "البارحة", "today", "yesterday", "tonight"])
_TIME_OF_DAY = _alternation(
    ["فجر", "صباح", "ظهر", "عصر", "مساء", "ليل", "ليلة", "صبيحة", "ظهيرة", "earlier", "later"]
)
_FROM = _alternation(["من"])
_MONTH_WORD = _alternation(["شهر"])
_YEAR_WORD = _alternation(["عام", "سنة"])
_REL_PREFIX_WORDS = _alternation(["اليوم", "أمس", "الأمس", "today", "yesterday"])
_ON = _alternation(["يوم", "on"])  # a plain preposition: it does not make a dateline
_REL_PREFIX = rf"(?:(?P<rel>{_REL_PREFIX_WORDS})\s+|(?:{_ON})\s+)?"
_WD_PREFIX = rf"(?:(?P<wd>{_WEEKDAY_RE})(?!\w)\.?\s*[,،]?\s*)?"
_YEAR_SUFFIX = rf"(?:\s*[,،]?\s*(?:(?:{_FROM}\s+)?(?:{_YEAR_WORD})\s+)?(?P<y>\d{{4}})(?!\d))?"
_DAY_FIRST = re.compile(
    rf"(?<!\w){_REL_PREFIX}{_WD_PREFIX}"
    rf"(?P<d>\d{{1,2}})(?:st|nd|rd|th|er)?\s*(?:{_FROM}\s+)?(?:{_MONTH_WORD}\s+)?(?:of\s+)?"
    rf"(?P<m>{_MONTH_RE})(?!\w)\.?"
    rf"(?:\s*[/\\(–-]\s*(?P<m2>{_MONTH_RE})(?!\w)\.?\s*\)?)?"
    rf"{_YEAR_SUFFIX}",
    re.IGNORECASE,
)
_MONTH_FIRST = re.compile(
    rf"(?<!\w){_REL_PREFIX}{_WD_PREFIX}"
    rf"(?P<m>{_LATIN_MONTH_RE})(?!\w)\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?![\d:])"
    rf"(?:\s*,?\s*(?P<y>\d{{4}})(?!\d))?",
    re.IGNORECASE,
)
_NUMERIC = re.compile(
    r"(?<![\d/.-])(?:(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})"
    r"|(?P<d>\d{1,2})[/.](?P<m>\d{1,2})[/.](?P<y>\d{4}))(?!\d|[/.:-]\d)"
)
_RELATIVE = re.compile(
    rf"(?<!\w)(?:(?P<tod>{_TIME_OF_DAY})\s+)?(?P<rel>{_REL_WORDS})(?!\w)"
    rf"(?:\s*[,،(]?\s*(?P<wd>{_WEEKDAY_RE})(?!\w))?",
    re.IGNORECASE,
)
# An age stamp ("منذ ساعتين", "3 hours ago"): read only in header lines and date
# elements, where it is the page's age; inside a story it dates an event.
_AGO_WORDS: dict[str, tuple[int, int | None]] = {
    # word: (seconds per unit, count the word itself implies: singular 1, dual 2)
    "دقيقة": (60, 1),
    "دقيقتين": (60, 2),
    "دقيقتان": (60, 2),
    "دقائق": (60, None),
    "ساعة": (3600, 1),
    "ساعتين": (3600, 2),
    "ساعتان": (3600, 2),
    "ساعات": (3600, None),
    "يوم": (86400, 1),
    "يومين": (86400, 2),
    "يومان": (86400, 2),
    "أيام": (86400, None),
    "أسبوع": (604800, 1),
    "أسبوعين": (604800, 2),
    "أسابيع": (604800, None),
    "minute": (60, None),
    "min": (60, None),
    "hour": (3600, None),
    "hr": (3600, None),
    "day": (86400, None),
    "week": (604800, None),
}
_AGO_UNITS = {_fold_letters(w): v for w, v in _AGO_WORDS.items()}
_MAX_AGO_COUNT = 1000
_AGO = re.compile(
    rf"(?<!\w)(?:{_alternation(['منذ', 'قبل'])})\s+(?:(?P<n>\d{{1,3}})\s+)?"
    rf"(?P<unit>{_alternation(w for w in _AGO_WORDS if not w.isascii())})(?!\w)"
    r"|(?<!\w)(?P<en_n>\d{1,3}|an?|one)\s+(?P<en_unit>minutes?|mins?|hours?|hrs?|days?|weeks?)"
    r"\s+ago(?!\w)",
    re.IGNORECASE,
)
_PUBLICATION_LINE_CHARS = 120
_PUBLICATION_MARK = re.compile(
    r"[\W_]*(?:"
    + _alternation(
        [
            "نشر",
            "نشرت",
            "نشر في",
            "تاريخ النشر",
            "بتاريخ",
            "آخر تحديث",
            "بقلم",
            "بواسطة",
            "published",
            "posted",
            "updated",
            "last updated",
            "first published",
        ]
    )
    + r")(?!\w)",
    re.IGNORECASE,
)
_BYLINE_MARK = re.compile(  # "By Jane Doe ·", not "By Tuesday, ..." or "By March 3,"
    rf"By\s+(?!(?i:{_WEEKDAY_RE}|{_LATIN_MONTH_RE})(?!\w))"
    r"[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,3}\s*[·|,–—-]"
)
_DIGIT = re.compile(r"\d")
_LATIN = re.compile(r"[A-Za-z]")
_META_ISO = re.compile(
    r"\s*(?P<y>\d{4})[-/](?P<mo>\d{1,2})[-/](?P<d>\d{1,2})"
    r"(?:[T\s]+(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,]\d+)?)?)?"
    r"\s*(?P<tz>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?\s*$",
    re.I,
)


@dataclass(frozen=True, slots=True)
class _DateHit:
    day: date
    anchored: bool
    relative: bool
    order: int
    warnings: tuple[str, ...]


def _add_days(moment: datetime, days: float) -> datetime:
    try:
        return moment + timedelta(days=days)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC) if days > 0 else datetime.min.replace(tzinfo=UTC)


def _shift(day: date, days: int) -> date | None:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return None


def _resolve_explicit(
    d: int, m: int, y: int | None, wd: int | None, lag: int, fetched: date
) -> tuple[date, tuple[str, ...]] | None:
    """The publication day for "[weekday] d month [year]" seen on ``fetched``.

    A missing year is the latest one that puts the date no later than the day after
    the fetch; when a weekday is given, the latest such year whose weekday matches.
    """
    latest = _shift(fetched, 1) or fetched
    if y is not None:
        try:
            ref = date(y, m, d)
        except ValueError:
            return None
        warns = ("weekday_mismatch",) if wd is not None and ref.weekday() != wd else ()
        pub = _shift(ref, lag)
        if pub is None or pub > latest or y < _MIN_YEAR:
            return None
        return pub, warns
    options: list[date] = []
    for year in range(fetched.year + 1, fetched.year - _YEAR_SEARCH_BACK - 1, -1):
        try:
            ref = date(year, m, d)
        except ValueError:
            continue
        pub = _shift(ref, lag)
        if pub is not None and pub <= latest and year >= _MIN_YEAR:
            options.append(ref)
    if not options:
        return None
    warns_list = ["year_inferred"]
    chosen = options[0]
    if wd is not None:
        matching = [o for o in options if o.weekday() == wd]
        if matching:
            chosen = matching[0]
        else:
            warns_list.append("weekday_mismatch")
    pub = _shift(chosen, lag)
    return (pub, tuple(warns_list)) if pub is not None else None


def _resolve_weekday(wd: int, lag: int, fetched: date) -> date | None:
    """The day a weekday reference ("today, Wednesday") points at, near ``fetched``."""
    best: date | None = None
    for offset in (0, 1, -1, -2, -3, -4, -5, -6):
        ref = _shift(fetched, offset - lag)
        if ref is not None and ref.weekday() == wd:
            best = _shift(ref, lag)
            break
    return best


def _lag(rel: str | None) -> int:
    """Days from the referenced day to publication: "yesterday" was written a day later."""
    return 1 if rel and _fold_letters(rel) in _YESTERDAY_WORDS else 0


def _at_dateline(text: str, start: int) -> bool:
    """The date opens the text, after at most a place name and a word or two
    ("BEIRUT, Nov. 12", "القاهرة في 7 أبريل", "Published 12/11/2024")."""
    return start <= _DATELINE_START_CHARS and len(text[:start].split()) <= _DATELINE_LEAD_WORDS


def _date_patterns(text: str) -> tuple[re.Pattern[str], ...]:
    """The explicit-date patterns worth running on ``text`` (each needs a digit)."""
    if _DIGIT.search(text) is None:
        return ()
    if _LATIN.search(text) is None:
        return (_DAY_FIRST, _NUMERIC)
    return (_DAY_FIRST, _MONTH_FIRST, _NUMERIC)


def _age(match: re.Match[str]) -> timedelta | None:
    """The age an "ago" phrase states ("منذ ساعتين", "3 hours ago")."""
    words = match.group("unit") or match.group("en_unit")
    number = match.group("n") or match.group("en_n")
    seconds, implied = _AGO_UNITS[_fold_letters(words).rstrip("s") or words]
    if number and number.isdigit():
        count = int(number)
    elif number:  # "an hour ago", "one day ago"
        count = 1
    elif implied is not None:
        count = implied
    else:
        return None
    return timedelta(seconds=seconds * min(count, _MAX_AGO_COUNT))


def _find_dates(units: list[tuple[str, bool]], fetched_at: datetime) -> list[_DateHit]:
    fetched = fetched_at.date()
    hits: list[_DateHit] = []
    order = 0
    first_paragraph = next((i for i, (_, header) in enumerate(units) if not header), -1)
    for index, (unit, is_header) in enumerate(units):
        text = unit[:_DATELINE_SCAN_CHARS]
        spans: list[tuple[int, int]] = []
        if is_header and len(text) <= _DATE_ELEMENT_CHARS:
            ago = _AGO.search(text)
            age = _age(ago) if ago else None
            if ago and age is not None:
                spans.append(ago.span())
                stamped = _add_days(fetched_at, -age.total_seconds() / 86400).date()
                hits.append(_DateHit(stamped, True, True, order, ("date_from_relative",)))
                order += 1
        for pattern in _date_patterns(text):
            for match in pattern.finditer(text):
                if any(match.start() < e and s < match.end() for s, e in spans):
                    continue
                spans.append(match.span())
                groups = match.groupdict()
                y: int | None
                if groups.get("iy"):
                    y, m, d = int(groups["iy"]), int(groups["im"]), int(groups["id"])
                    wd_name = rel = None
                else:
                    d = int(groups["d"])
                    month = groups["m"]
                    m = int(month) if month.isdigit() else _lookup(_MONTHS, month)
                    y = int(groups["y"]) if groups.get("y") else None
                    wd_name, rel = groups.get("wd"), groups.get("rel")
                    if month.isdigit() and m > 12 >= d:
                        d, m = m, d  # 11/13/2024 can only be month first
                if not 1 <= m <= 12 or not 1 <= d <= 31:
                    continue
                wd = _lookup(_WEEKDAYS, wd_name) if wd_name else None
                resolved = _resolve_explicit(d, m, y, wd, _lag(rel), fetched)
                if resolved is None:
                    continue
                anchored = (
                    is_header
                    or wd is not None
                    or rel is not None
                    or (index == first_paragraph and _at_dateline(text, match.start()))
                )
                hits.append(_DateHit(resolved[0], anchored, False, order, resolved[1]))
                order += 1
        for match in _RELATIVE.finditer(text):
            if any(match.start() < e and s < match.end() for s, e in spans):
                continue
            rel, wd_name, tod = match.group("rel"), match.group("wd"), match.group("tod")
            if _fold_letters(rel) in _TODAY_WORDS and not (wd_name or tod):
                continue  # a bare "today" also means "nowadays"; "اليوم" also "the day (of)"
            lag = _lag(rel)
            day = (
                _resolve_weekday(_lookup(_WEEKDAYS, wd_name), lag, fetched) if wd_name else fetched
            )
            if day is not None:
                hits.append(_DateHit(day, True, True, order, ("date_from_relative",)))
                order += 1
    return hits


def _pick_date(hits: list[_DateHit], fetched: date) -> _DateHit | None:
    explicit = [h for h in hits if h.anchored and not h.relative]
    if explicit:
        return min(explicit, key=lambda h: h.order)
    relative = [h for h in hits if h.relative]
    if relative:
        return min(relative, key=lambda h: h.order)
    oldest = _shift(fetched, -_UNANCHORED_MAX_AGE.days) or date.min
    recent = [h for h in hits if h.day >= oldest]
    return max(recent, key=lambda h: h.day) if recent else None


_NON_LETTERS = re.compile(r"[\d\W_]+")


def _is_date_line(line: str) -> bool:
    """A line that is a date and nothing more, or a publication line ("نشر في ...
    بواسطة ...", "By Jane Doe · 1 October 2024"): a header line, not story text."""
    if len(line) > _PUBLICATION_LINE_CHARS:
        return False
    text = line
    publication = _PUBLICATION_MARK.match(text) or _BYLINE_MARK.match(text)
    if len(line) > 60 and not publication:
        return False
    for pattern in _date_patterns(text):
        match = pattern.search(text)
        if match:
            rest = _NON_LETTERS.sub(" ", text[: match.start()] + text[match.end() :])
            return publication is not None or len(rest.split()) <= 2
    return publication is not None and _AGO.search(text) is not None


def _parse_iso_date(match: re.Match[str]) -> tuple[datetime, DatePrecision, bool] | None:
    g = match.groupdict()
    try:
        if g["h"] is None:
            day = datetime(int(g["y"]), int(g["mo"]), int(g["d"]), tzinfo=UTC)
            return day, "day", False
        tz_text = (g["tz"] or "").upper()
        if tz_text in ("", "Z", "UTC", "GMT"):
            tz: timezone = UTC
        else:
            sign = -1 if tz_text[0] == "-" else 1
            digits = tz_text[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
            tz = timezone(sign * offset)
        moment = datetime(
            int(g["y"]),
            int(g["mo"]),
            int(g["d"]),
            int(g["h"]),
            int(g["mi"]),
            int(g["s"] or 0),
            tzinfo=tz,
        ).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    precision: DatePrecision = "second" if g["s"] is not None else "minute"
    return moment, precision, not tz_text


def _parse_rfc_date(value: str) -> tuple[datetime, DatePrecision, bool] | None:
    try:
        moment = parsedate_to_datetime(value)
        naive = moment.tzinfo is None
        moment = moment.replace(tzinfo=UTC) if naive else moment.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return moment, "second", naive


def _parse_meta_date(value: str) -> tuple[datetime, DatePrecision, bool] | None:
    """An ISO 8601, RFC 2822 or written-out date from page metadata, in UTC."""
    value = value.strip()[:80]
    match = _META_ISO.match(value)
    if match:
        return _parse_iso_date(match)
    parsed = _parse_rfc_date(value)
    if parsed is not None:
        return parsed
    text = value
    for pattern in (_DAY_FIRST, _MONTH_FIRST):
        found = pattern.search(text)
        if found and found.group("y"):
            month = _lookup(_MONTHS, found.group("m"))
            try:
                day = datetime(int(found.group("y")), month, int(found.group("d")), tzinfo=UTC)
            except ValueError:
                return None
            return day, "day", False
    return None


def _producer_precision(moment: datetime) -> DatePrecision:
    if moment.second or moment.microsecond:
        return "second"
    if moment.hour or moment.minute:
        return "minute"
    return "day"


# --------------------------------------------------------------------------- language

# Labels the model gives to dialects or historic forms, folded into an ISO 639-1 code.
_LANGUAGE_FOLD: Final = {
    "ary": "ar",
    "arz": "ar",
    "hbo": "he",
    "uzs": "uz",
    "yue": "zh",
    "wuu": "zh",
    "gug": "gn",
    "kik": "ki",
    "sdh": "ku",
}


@cache
def _identifier() -> Any:
    """The language model, loaded on first use and restricted to labels that have
    (or fold into) an ISO 639-1 code."""
    identifier = load_identifier()
    keep = [c for c in identifier.labels if len(c) == 2 or c in _LANGUAGE_FOLD]
    identifier.set_languages(keep)
    return identifier


def _detect_language(sample: str) -> tuple[str, float]:
    totals: dict[str, float] = {}
    for label, probability in _identifier().rank(sample):
        code = _LANGUAGE_FOLD.get(label, label)
        totals[code] = totals.get(code, 0.0) + float(probability)
    best = max(totals, key=totals.__getitem__)
    return best, min(1.0, max(0.0, totals[best]))


# Kurdish. The model has two Kurdish labels: "ku", trained on Kurmanji in Latin
# script, and "sdh" (Southern Kurdish), which is where Sorani in Arabic script lands;
# both fold into "ku". Sorani written in the older orthography (ه for ە, ر for ڕ)
# can tip the model to Persian, so a script rule backs it up: letters of the Kurdish
# alphabet that Arabic, Persian, Urdu and Pashto never use (ڕ ڵ ێ ۆ ە), making at
# least _SORANI_MIN_SHARE of the Arabic-script letters, mean Kurdish. In Sorani
# prose they are 15-25 % of the letters; an Arabic or Persian article that names a
# Kurdish town or two stays far below the threshold.
_SORANI_LETTERS = re.compile("[\u0695\u06b5\u06ce\u06c6\u06d5]")
_ARABIC_SCRIPT_LETTERS = re.compile("[\u0620-\u063f\u0641-\u064a\u066e-\u06d3\u06d5\u06fa-\u06ff]")
_SORANI_MIN_LETTERS = 5
_SORANI_MIN_SHARE = 0.03
_SORANI_RULE_CONFIDENCE = 0.7
_SORANI_LOOKALIKES = frozenset({"ar", "fa", "ur", "ps"})


def _sorani_by_script(sample: str) -> bool:
    """Enough Kurdish-only letters among the Arabic-script letters of ``sample``."""
    if _SORANI_LETTERS.search(sample) is None:
        return False
    kurdish = len(_SORANI_LETTERS.findall(sample))
    letters = len(_ARABIC_SCRIPT_LETTERS.findall(sample))
    return kurdish >= _SORANI_MIN_LETTERS and kurdish >= _SORANI_MIN_SHARE * letters


_HINT = re.compile(r"^\s*([A-Za-z]{2})(?:[-_][A-Za-z0-9]+)*\s*$")


@cache
def _known_languages() -> frozenset[str]:
    return frozenset(_LANGUAGE_FOLD.get(c, c) for c in _identifier().labels)


def _normalise_hint(hint: str | None) -> str | None:
    """The primary subtag of a BCP 47 hint ("ar-SY" → "ar") if the model knows it."""
    match = _HINT.match(hint) if hint else None
    code = match.group(1).lower() if match else None
    return code if code in _known_languages() else None


def _enough_letters(sample: str) -> bool:
    for count, _ in enumerate(_LETTER.finditer(sample), start=1):
        if count >= _MIN_LANGID_LETTERS:
            return True
    return False


def _language(title: str, text: str, hint: str | None, warnings: list[str]) -> tuple[str, float]:
    """``title`` is empty when it was derived from ``text`` (so it is not counted twice)."""
    sample = f"{title}\n{text[:_LANGID_SAMPLE_CHARS]}" if title else text[:_LANGID_SAMPLE_CHARS]
    if hint and not _enough_letters(sample):
        warnings.append("language_from_hint")
        return hint, _HINT_CONFIDENCE
    code, confidence = _detect_language(sample)
    if code in _SORANI_LOOKALIKES and _sorani_by_script(sample):
        warnings.append("language_from_script")
        code, confidence = "ku", _SORANI_RULE_CONFIDENCE
    if hint and hint != code:
        if confidence < _HINT_CONFIDENCE:
            warnings.append("language_from_hint")
            return hint, _HINT_CONFIDENCE
        warnings.append("language_hint_mismatch")
    return code, confidence


# --------------------------------------------------------------------------- entry point


def parse_article(raw: RawArticle) -> ParsedArticle:
    """Parse one scraped page; raises ``ParseError`` when nothing publishable is left."""
    body = _sanitize(raw.body)
    if not body.strip():
        raise ParseError("empty_body", "the body is empty or whitespace only")
    warnings: list[str] = []
    if raw.metadata.get(DETECTED_ENCODING_KEY):
        warnings.append("encoding_detected")
    if raw.metadata.get(DECODE_REPAIR_KEY):
        warnings.append("utf8_repaired")

    as_html = raw.content_type == "text/html"
    if as_html and not _MARKUP.search(body):
        as_html = False
        warnings.append("html_without_markup")
    elif not as_html and _HTML_DOC.match(body[:4096]):
        as_html = True
        warnings.append("plain_text_is_html")
    extract = _extract_html(raw, body, warnings) if as_html else _extract_plain(body, warnings)

    paragraphs = [p for p in extract.paragraphs if p]
    while len(paragraphs) > 1 and _is_date_line(paragraphs[0]):
        extract.header.append(paragraphs.pop(0))  # a date line under the title
    if not any(_has_letters(p) for p in paragraphs):
        kind = "HTML" if as_html else "text"
        raise ParseError("no_content", f"no text left in the {kind} body after removing chrome")
    text = "\n\n".join(paragraphs)
    if len(text) < _SHORT_TEXT_CHARS:
        warnings.append("short_text")

    title = extract.title
    derived = not title
    if not title:
        title = _derive_title(paragraphs[0])
        warnings.append("title_from_text")

    published_at, precision, source = _publish_date(raw, extract, paragraphs, warnings)
    hint = _normalise_hint(raw.language) or _normalise_hint(extract.language_hint)
    language, confidence = _language("" if derived else title, text, hint, warnings)

    return ParsedArticle(
        title=title,
        text=text,
        lead=paragraphs[0],
        url=extract.url if as_html else raw.url,
        author=extract.author,
        published_at=published_at,
        date_precision=precision,
        date_source=source,
        language=language,
        language_confidence=confidence,
        warnings=_dedupe(warnings),
    )


def _publish_date(
    raw: RawArticle, extract: _Extract, paragraphs: list[str], warnings: list[str]
) -> tuple[datetime, DatePrecision, DateSource]:
    if raw.published_at is not None:
        return raw.published_at, _producer_precision(raw.published_at), "producer"
    if extract.meta_date is not None:
        return extract.meta_date[0], extract.meta_date[1], "metadata"
    fetched = raw.fetched_at.astimezone(UTC)
    units = [(h, True) for h in extract.header]
    units += [(p, False) for p in paragraphs[:_DATELINE_PARAGRAPHS]]
    hit = _pick_date(_find_dates(units, fetched), fetched.date())
    if hit is not None:
        warnings.extend(hit.warnings)
        day = hit.day
        return datetime(day.year, day.month, day.day, tzinfo=UTC), "day", "dateline"
    warnings.append("date_from_fetched_at")
    return fetched, "day", "fetched_at"
