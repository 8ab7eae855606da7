"""Finding cue phrases in text: one tokenizer and one matcher for every lexicon.

The classifier's lexicons (topics, events, actors, places, figure cues) all
match the same way: on the ``normalize_for_matching`` form of each word, so
case, diacritics, tatweel and Arabic letter variants do not matter, while
every match keeps the character span of the original text as its evidence.
An article is tokenized once (``tokenize``) and each compiled ``PhraseIndex``
walks the same tokens. A phrase matches its words consecutively; at each word
the longest phrase wins. A word also matches behind the Arabic proclitics
و ف ب ل and the article; Arabic and English phrases get their inflected forms
generated when the index compiles, unless added as exact.

Hand-written rather than a library: Aho-Corasick packages match substrings,
not words behind Arabic clitics with spans mapped back through Unicode
normalisation, which is what evidence spans need.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from itertools import accumulate
from typing import Final, NamedTuple, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from service.stages.normalize import normalize_for_matching

# --------------------------------------------------------------------------- words

_MEMO_SIZE: Final = 200_000
_V = TypeVar("_V")


class _Memo(dict[str, _V]):
    """A dictionary that computes what it lacks, so ``map(memo.__getitem__, words)`` looks
    up known words in C and calls Python only for new ones. It starts over when full."""

    __slots__ = ("compute", "limit")

    def __init__(self, compute: Callable[[str], _V], limit: int) -> None:
        super().__init__()
        self.compute = compute
        self.limit = limit

    def __missing__(self, key: str) -> _V:
        if len(self) >= self.limit:
            self.clear()
        value = self[key] = self.compute(key)
        return value


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


def _proclitics_by_letter() -> dict[str, tuple[str, ...]]:
    grouped: dict[str, list[str]] = {}
    for proclitic in _AR_PROCLITICS:
        grouped.setdefault(proclitic[0], []).append(proclitic)
    return {first: tuple(group) for first, group in grouped.items()}


_PROCLITICS_BY_LETTER: Final = _proclitics_by_letter()


def _stems_of(form: str) -> tuple[str, ...]:
    """What is left of ``form`` after each proclitic it may carry, longest proclitic first.

    Every phrase index looks behind the same proclitics; ``_STEMS`` works them out once
    per word, not once per word and index: each new word of the stream meets every index.
    """
    return tuple(
        form[len(proclitic) :]
        for proclitic in _PROCLITICS_BY_LETTER.get(form[0], ())
        if len(form) - len(proclitic) >= 2 and form.startswith(proclitic)
    )


_STEMS: Final = _Memo(_stems_of, _MEMO_SIZE)


# --------------------------------------------------------------------------- tokens

_form_memo: Final = _Memo(_matching_form, _MEMO_SIZE)
"""Raw word -> matching form, filled as articles are read: news vocabulary repeats."""

_FORM_MEMO_SIZE: Final = 200_000
"""The vocabulary numbers at most this many forms, then starts over."""


class _Vocabulary(dict[str, int]):
    """Matching forms numbered as they are first seen, so that each index can tell the
    words that begin one of its phrases with one array lookup per text (``PhraseIndex``)
    instead of a dictionary lookup per word."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[str] = []
        self.generation = 0  # bumped when the numbering starts over

    def __missing__(self, form: str) -> int:
        number = self[form] = len(self.forms)
        self.forms.append(form)
        return number

    def numbers(self, forms: list[str]) -> NDArray[np.intp]:
        if len(self.forms) + len(forms) > _FORM_MEMO_SIZE:
            self.clear()
            self.forms.clear()
            self.generation += 1
        return np.fromiter(map(self.__getitem__, forms), dtype=np.intp, count=len(forms))


_VOCABULARY: Final = _Vocabulary()


class FormFlags:
    """A yes/no answer per vocabulary form, kept as an array by form number, so the words
    of a text that answer yes are found with one array lookup instead of a test per word.

    The answer to a form is computed once, when a text first brings it.
    """

    __slots__ = ("_flags", "_generation", "_known", "_test")

    def __init__(self, test: Callable[[str], bool]) -> None:
        self._test = test
        self.reset()

    def reset(self) -> None:
        """Forget every answer (the test now answers differently)."""
        self._flags: NDArray[np.bool_] = np.zeros(1024, dtype=np.bool_)
        self._known = 0
        self._generation = _VOCABULARY.generation

    def positions(self, tokens: Tokens) -> list[int]:
        """The positions of the words in ``tokens`` whose form answers yes, in order."""
        numbers = tokens.form_numbers()
        if self._generation != _VOCABULARY.generation:
            self.reset()
        known, size = self._known, len(_VOCABULARY.forms)
        if size > known:
            if size > len(self._flags):
                grown = np.zeros(max(size, 2 * len(self._flags)), dtype=np.bool_)
                grown[:known] = self._flags[:known]
                self._flags = grown
            self._flags[known:size] = list(map(self._test, _VOCABULARY.forms[known:size]))
            self._known = size
        positions: list[int] = np.flatnonzero(self._flags[numbers]).tolist()
        return positions


@dataclass(frozen=True, slots=True)
class Tokens:
    """The words of one text in matching form, each with its span in the original text."""

    text: str
    forms: list[str]
    starts: list[int]
    ends: list[int]
    numbers: NDArray[np.intp]  # each form's number in the vocabulary of ``generation``
    generation: int

    def __len__(self) -> int:
        return len(self.forms)

    def form_numbers(self) -> NDArray[np.intp]:
        """The forms' numbers, taken again if the vocabulary started over since."""
        if self.generation == _VOCABULARY.generation:
            return self.numbers
        return _VOCABULARY.numbers(self.forms)


def tokenize(text: str) -> Tokens:
    """Split ``text`` once into matching-form words with original spans.

    Words that are only ignorable marks are dropped, so a phrase may run over them.
    """
    if not text:
        return Tokens(text, [], [], [], np.empty(0, dtype=np.intp), _VOCABULARY.generation)
    view, start_map, end_map = _normalized_view(text)
    parts = _tokenizer().split(view)  # separator, word, separator, ..., separator
    raw = parts[1::2]
    forms = list(map(_form_memo.__getitem__, raw))
    offsets = list(accumulate(map(len, parts)))  # word i spans offsets[2i]:offsets[2i+1]
    starts = offsets[0::2][: len(raw)]
    ends = offsets[1::2]
    if start_map is not None and end_map is not None:
        starts = [start_map[a] for a in starts]
        ends = [end_map[b - 1] for b in ends]
    if "" in forms:
        kept = [i for i, form in enumerate(forms) if form]
        forms = [forms[i] for i in kept]
        starts = [starts[i] for i in kept]
        ends = [ends[i] for i in kept]
    numbers = _VOCABULARY.numbers(forms)
    return Tokens(text, forms, starts, ends, numbers, _VOCABULARY.generation)


# --------------------------------------------------------------------------- index


class Hit(NamedTuple):
    """A phrase found in a text: its id, its first and last word, its character span."""

    phrase: int
    first: int
    last: int
    start: int
    end: int


class PhraseError(ValueError):
    """A phrase that cannot be matched (it has no word in it)."""


_NO_LEMMA: Final = -1


class PhraseIndex:
    """Phrases compiled for matching; ``add`` them, then ``find`` them in ``Tokens``.

    ``add`` returns a phrase id; the same words added twice get the same id, so
    a caller keeps what a phrase means (topics, an actor, a place) in its own
    table keyed by that id.
    """

    __slots__ = (
        "_begins",
        "_forms",
        "_generators",
        "_heads",
        "_keys",
        "_lemmas",
        "_memo",
        "_roots",
    )

    def __init__(self) -> None:
        self._lemmas: dict[str, int] = {}
        self._generators: dict[int, set[Callable[[str], set[str]]]] = {}
        self._keys: dict[tuple[int, ...], int] = {}
        self._forms: dict[str, int] | None = None
        self._roots: dict[int, _Node] = {}
        self._memo: dict[str, int] = {}
        self._heads: _Memo[_Node | None] = _Memo(self._head, _MEMO_SIZE)
        self._begins = FormFlags(self._begins_phrase)

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, phrase: str, language: str, *, exact: bool = False) -> int:
        """Register ``phrase`` (a cue written naturally) and return its id.

        ``language`` selects generated forms ("ar", "en"; others match as
        written); ``exact`` turns them off for this phrase.
        """
        words = normalize_for_matching(phrase).split()
        if not words:
            raise PhraseError(f"phrase {phrase!r} has no word in it")
        base_of, forms_of = _INFLECTIONS.get(language, (_identity, _only))
        ids: list[int] = []
        for word in words:
            lemma = self._lemmas.setdefault(base_of(word), len(self._lemmas))
            if not exact:
                self._generators.setdefault(lemma, set()).add(forms_of)
            ids.append(lemma)
        self._forms = None
        return self._keys.setdefault(tuple(ids), len(self._keys))

    def _compile(self) -> dict[str, int]:
        forms: dict[str, int] = dict(self._lemmas)  # a word's own form beats another's inflection
        for base, lemma in self._lemmas.items():
            for generate in sorted(self._generators.get(lemma, ()), key=lambda g: g.__name__):
                for form in sorted(generate(base)):
                    forms.setdefault(form, lemma)
        # A trie over lemmas: walking it from a word finds the longest phrase there in
        # one dictionary step per word, however many phrases share their first words.
        roots: dict[int, _Node] = {}
        for ids, key in self._keys.items():
            children = roots
            node: _Node | None = None
            for lemma in ids:
                node = children.get(lemma)
                if node is None:
                    node = children[lemma] = _Node()
                children = node.children
            assert node is not None
            node.key = key
        self._roots = roots
        self._memo = {}
        self._heads = _Memo(self._head, _MEMO_SIZE)
        self._begins.reset()
        self._forms = forms
        return forms

    def _begins_phrase(self, form: str) -> bool:
        return self._heads[form] is not None

    def lemma(self, form: str) -> int:
        """The lemma a matching-form word is a form of, looking behind Arabic proclitics."""
        memo = self._memo
        found = memo.get(form)
        if found is not None:
            return found
        forms = self._forms if self._forms is not None else self._compile()
        lemma = forms.get(form)
        if lemma is None:
            for stem in _STEMS[form]:
                lemma = forms.get(stem)
                if lemma is not None:
                    break
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        memo[form] = _NO_LEMMA if lemma is None else lemma
        return memo[form]

    def _head(self, form: str) -> _Node | None:
        """The trie node of the phrases that begin with ``form``, if any."""
        return self._roots.get(self.lemma(form))

    def find(self, tokens: Tokens) -> list[Hit]:
        """Every phrase occurrence in ``tokens``, left to right, longest first, not overlapping."""
        if self._forms is None:
            self._compile()
        forms = tokens.forms
        heads = self._heads
        lemma_of = self.lemma
        starts, ends = tokens.starts, tokens.ends
        hits: list[Hit] = []
        n = len(forms)
        free = 0  # words before this are inside an earlier match
        for i in self._begins.positions(tokens):  # words that begin some phrase
            if i < free:
                continue
            node = cast("_Node", heads[forms[i]])
            key, last = node.key, i
            j = i + 1
            children = node.children
            while children and j < n:
                child = children.get(lemma_of(forms[j]))
                if child is None:
                    break
                if child.key >= 0:
                    key, last = child.key, j
                children = child.children
                j += 1
            if key >= 0:
                hits.append(Hit(key, i, last, starts[i], ends[last]))
                free = last + 1
        return hits


class _Node:
    """A trie node: the phrase that ends here (-1: none) and the words that may follow."""

    __slots__ = ("children", "key")

    def __init__(self) -> None:
        self.key = -1
        self.children: dict[int, _Node] = {}


def _identity(word: str) -> str:
    return word


def _only(word: str) -> set[str]:
    return {word}
