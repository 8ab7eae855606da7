"""What the dedup index needs to know about one article, computed without any state.

The fingerprint is computed in the parallel half of the pipeline (any worker, any
partition) and travels inside the internal record to the one sequenced dedup
stage, which only compares it with what it has already indexed. It holds:

* ``content_hash``: blake2b-128 of the normalised body (the exact detector; the same
  digest as ``EnrichedArticle.content_hash``);
* ``url_key``: blake2b-128 of :func:`canonical_url` (the URL detector);
* ``signature``: a MinHash signature of the body's word shingles (the near
  detector), empty when the body has fewer than ``min_shingles`` shingles;
* ``shingle_count``: the number of distinct shingles (the short-text guard).

Hashing is vectorised with numpy. Every word is hashed once (a polynomial hash of
its UTF-8 bytes, reduced per word with ``np.add.reduceat``, then a 64-bit
finaliser); consecutive word hashes are combined into shingle hashes; all
``num_perm`` permutations ``x -> a*x + b (mod 2**64)`` are applied to the distinct
shingle hashes as one matrix operation and the minimum is taken per permutation.
Each minimum is finalised once more and its top 16 bits are kept (b-bit MinHash):
two signatures then agree at a position with probability ``J + (1 - J) / 65536``,
which the index corrects for, and a signature costs 2 bytes per permutation.

All constants derive from ``DedupConfig.seed`` through a fixed splitmix64 sequence
implemented here, never from a library random generator whose stream could change
between versions: fingerprints computed by different workers or releases compare.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from service.stages.dedup_index import DedupConfig

__all__ = [
    "Fingerprint",
    "canonical_url",
    "content_hash",
    "fingerprint",
    "minhash_scheme",
    "mix64",
    "shingle_hashes",
    "splitmix64_sequence",
    "url_key",
]

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S48 = np.uint64(48)
_BYTE_BASE = np.uint64(0x100000001B3)  # odd multiplier of the per-word polynomial hash
_SHINGLE_MUL = np.uint64(0xD6E8FEB86659FD93)  # odd multiplier chaining words into shingles
_LENGTH_MUL = np.uint64(0xC2B2AE3D27D4EB4F)
_MAX_WORD_BYTES = 256  # bytes past this position in one token share one power of the base
_SPACE = 0x20
_MINHASH_BLOCK = 4096  # shingles per block: 128 permutations x 4096 x 8 bytes = 4 MB


# --------------------------------------------------------------------------- hashing


def splitmix64_sequence(seed: int, count: int) -> list[int]:
    """``count`` 64-bit values of the splitmix64 generator: stable across numpy versions."""
    out = []
    state = seed & _MASK64
    for _ in range(count):
        state = (state + _GOLDEN) & _MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        out.append(z ^ (z >> 31))
    return out


def mix64(values: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """splitmix64 finaliser, element-wise (uint64 arithmetic wraps modulo 2**64)."""
    z = values ^ (values >> _S30)
    z = z * _MIX1
    z = z ^ (z >> _S27)
    z = z * _MIX2
    out: NDArray[np.uint64] = z ^ (z >> _S31)
    return out


@cache
def _byte_powers() -> NDArray[np.uint64]:
    powers = np.full(_MAX_WORD_BYTES, _BYTE_BASE, dtype=np.uint64)
    powers[0] = 1
    return np.cumprod(powers, dtype=np.uint64)


@cache
def _permutations(num_perm: int, seed: int) -> tuple[NDArray[np.uint64], NDArray[np.uint64]]:
    values = splitmix64_sequence(seed, 2 * num_perm)
    a = np.array([v | 1 for v in values[:num_perm]], dtype=np.uint64).reshape(num_perm, 1)
    b = np.array(values[num_perm:], dtype=np.uint64).reshape(num_perm, 1)
    return a, b


def _word_hashes(text: str) -> NDArray[np.uint64]:
    """One 64-bit hash per space-separated word, in order."""
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    if data.size == 0:
        return np.empty(0, dtype=np.uint64)
    is_space = data == _SPACE
    keep = ~is_space
    previous_space = np.empty_like(is_space)
    previous_space[0] = True
    previous_space[1:] = is_space[:-1]
    starts_mask = (keep & previous_space)[keep]
    if starts_mask.size == 0:
        return np.empty(0, dtype=np.uint64)
    values = data[keep].astype(np.uint64) + np.uint64(1)
    starts = np.flatnonzero(starts_mask)
    word_of = np.cumsum(starts_mask) - 1
    position = np.arange(values.size) - starts[word_of]
    np.minimum(position, _MAX_WORD_BYTES - 1, out=position)
    sums = np.add.reduceat(values * _byte_powers()[position], starts)
    lengths = np.diff(np.append(starts, values.size)).astype(np.uint64)
    return mix64(sums ^ (lengths * _LENGTH_MUL))


def shingle_hashes(normalised_text: str, shingle_size: int) -> NDArray[np.uint64]:
    """Sorted distinct 64-bit hashes of the word ``shingle_size``-grams of the text.

    A text with fewer words than ``shingle_size`` has one shingle (all its words).
    """
    words = _word_hashes(normalised_text)
    if words.size == 0:
        return words
    span = min(shingle_size, int(words.size))
    count = int(words.size) - span + 1
    shingles = words[:count].copy()
    for offset in range(1, span):
        shingles = mix64(shingles * _SHINGLE_MUL + words[offset : offset + count])
    return np.unique(shingles)


def _minhash(hashes: NDArray[np.uint64], num_perm: int, seed: int) -> NDArray[np.uint16]:
    a, b = _permutations(num_perm, seed)
    minima = np.full(num_perm, np.iinfo(np.uint64).max, dtype=np.uint64)
    # Column blocks keep the (num_perm x shingles) temporary small for very long bodies.
    for start in range(0, hashes.size, _MINHASH_BLOCK):
        block = hashes[np.newaxis, start : start + _MINHASH_BLOCK]
        np.minimum(minima, (a * block + b).min(axis=1), out=minima)
    return (mix64(minima) >> _S48).astype(np.uint16)


def minhash_scheme(shingle_size: int, num_perm: int, seed: int) -> int:
    """16-bit tag of the parameters that make two signatures comparable."""
    basis = f"minhash-b16:{shingle_size}:{num_perm}:{seed}".encode("ascii")
    return int.from_bytes(hashlib.blake2b(basis, digest_size=2).digest(), "big")


def content_hash(normalised_text: str) -> str:
    """128-bit digest of the normalised body: collisions between bodies are not a concern."""
    return hashlib.blake2b(normalised_text.encode("utf-8"), digest_size=16).hexdigest()


# --------------------------------------------------------------------------- URLs

# Query parameters that say how a reader arrived, not which page they read.
_TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "ref_src",
        "ito",
        "cmpid",
        "smid",
        "at_medium",
        "at_campaign",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_")
# AMP and mobile renderings of a page: query flags, host labels and path forms.
_AMP_PARAMS = {"amp": {"", "1", "true", "yes"}, "output": {"amp"}, "outputtype": {"amp"}}
_VARIANT_HOST_LABELS = ("www", "m", "mobile", "amp")
_WWW_NUMBERED = re.compile(r"^www\d*$")
_AMP_SEGMENT = "amp"
_AMP_SUFFIX = re.compile(r"\.amp(?=\.html?$|$)", re.IGNORECASE)
_OTHER_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:(?!\d)", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def _canonical_host(host: str) -> str:
    host = host.strip(".").lower()
    if not host.isascii():
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    labels = host.split(".")
    while len(labels) > 2 and (
        labels[0] in _VARIANT_HOST_LABELS or _WWW_NUMBERED.match(labels[0]) is not None
    ):
        labels = labels[1:]
    return ".".join(labels)


def _canonical_path(path: str) -> str:
    # Percent-decode then re-encode one way, so a raw Arabic path and its encoded form agree.
    text = unicodedata.normalize("NFC", unquote(path))
    segments = [s for s in text.split("/") if s]
    if segments and segments[-1].lower() == _AMP_SEGMENT:
        segments = segments[:-1]
    if segments and segments[0].lower() == _AMP_SEGMENT:
        segments = segments[1:]
    if segments:
        segments[-1] = _AMP_SUFFIX.sub("", segments[-1])
    return "/" + quote("/".join(segments), safe=_PATH_SAFE) if segments else ""


def _is_variant_param(name: str, value: str) -> bool:
    key = name.lower()
    if key in _TRACKING_PARAMS or key.startswith(_TRACKING_PREFIXES):
        return True
    return value.lower() in _AMP_PARAMS.get(key, ())


def canonical_url(url: str) -> str | None:
    """The one spelling of a page's address that its variants share, or ``None``.

    Scheme (http/https), ``www.``/``m.``/``mobile.``/``amp.`` host labels, default
    ports, tracking parameters (``utm_*``, ``fbclid``, ``gclid`` and the like), AMP
    flags and path forms (``/amp``, ``/amp/...``, ``.amp.html``, ``?amp=1``), the
    fragment, the trailing slash and the percent-encoding of the path are dropped
    or made uniform; the remaining query parameters are kept, sorted. ``None`` for
    anything that is not an http(s) address with a dotted host name.
    """
    text = url.strip()
    if not text:
        return None
    if "://" not in text:
        if _OTHER_SCHEME.match(text):  # mailto:, tel:, javascript:, ...
            return None
        text = "http://" + text.lstrip("/")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = _canonical_host(parts.hostname)
    if "." not in host:  # not a public web host ("tel:123", "localhost")
        return None
    if port is not None and port not in _DEFAULT_PORTS.values():
        host = f"{host}:{port}"
    params = sorted(
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if not _is_variant_param(name, value)
    )
    query = urlencode(params, quote_via=quote) if params else ""
    return f"https://{host}{_canonical_path(parts.path)}" + (f"?{query}" if query else "")


def url_key(url: str | None) -> str | None:
    """blake2b-128 hex digest of the canonical URL; ``None`` without a usable URL."""
    if not url:
        return None
    canonical = canonical_url(url)
    if canonical is None:
        return None
    return hashlib.blake2b(canonical.encode("utf-8"), digest_size=16).hexdigest()


# --------------------------------------------------------------------------- fingerprint


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """Everything the dedup index compares; small enough to travel in a JSON record."""

    content_hash: str
    """Exact key: blake2b-128 hex of the normalised body (the body text, not the title)."""
    url_key: str | None
    """blake2b-128 hex of the canonical URL, ``None`` when there is no usable URL."""
    signature: bytes
    """``num_perm`` little-endian uint16 b-bit MinHash values; ``b""`` when too short."""
    shingle_count: int
    """Distinct word shingles in the body (the short-text guard)."""
    scheme: int = 0
    """:func:`minhash_scheme` of the parameters that produced ``signature``."""
    entities: frozenset[str] = field(default_factory=frozenset)
    """What the article reports, for story clustering beyond text similarity: the
    :func:`event_key` of its events (an ACLED sub-event type at a place)."""

    def to_json_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "content_hash": self.content_hash,
            "url_key": self.url_key,
            "signature": base64.b64encode(self.signature).decode("ascii"),
            "shingle_count": self.shingle_count,
            "scheme": self.scheme,
        }
        if self.entities:
            data["entities"] = sorted(self.entities)
        return data

    @classmethod
    def from_json_dict(cls, data: dict[str, object]) -> Fingerprint:
        url = data.get("url_key")
        signature = data.get("signature") or ""
        entities = data.get("entities") or ()
        count = data.get("shingle_count", 0)
        scheme = data.get("scheme", 0)
        if not isinstance(signature, str) or not isinstance(entities, list | tuple):
            raise ValueError("fingerprint: signature must be base64 text, entities a list")
        if not isinstance(count, int) or not isinstance(scheme, int):
            raise ValueError("fingerprint: shingle_count and scheme must be integers")
        return cls(
            content_hash=str(data["content_hash"]),
            url_key=None if url is None else str(url),
            signature=base64.b64decode(signature, validate=True),
            shingle_count=count,
            scheme=scheme,
            entities=frozenset(str(e) for e in entities),
        )

    def signature_array(self) -> NDArray[np.uint16]:
        return np.frombuffer(self.signature, dtype="<u2").astype(np.uint16)


def fingerprint(normalised_text: str, url: str | None, config: DedupConfig) -> Fingerprint:
    """Fingerprint of one article's normalised body (see ``normalize_for_matching``) and URL."""
    hashes = shingle_hashes(normalised_text, config.shingle_size)
    count = int(hashes.size)
    signature = b""
    if count >= config.min_shingles:
        signature = _minhash(hashes, config.num_perm, config.seed).astype("<u2").tobytes()
    return Fingerprint(
        content_hash=content_hash(normalised_text),
        url_key=url_key(url),
        signature=signature,
        shingle_count=count,
        scheme=config.scheme,
    )


def event_key(sub_event_type: str, location_id: str) -> str:
    """The key two reports of one event share: its sub-event type at its place.

    ``event:`` and 16 hex digits (blake2b-64), so the index keeps it as one uint64.
    """
    digest = hashlib.blake2b(f"{sub_event_type}@{location_id}".encode(), digest_size=8)
    return "event:" + digest.hexdigest()
