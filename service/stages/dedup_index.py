"""The dedup index: every distinct article of the time window, compared in one order.

One sequenced stage owns one :class:`DedupIndex`; fingerprints computed anywhere
(:mod:`service.stages.fingerprint`) reach it in a single total order, so a verdict
never depends on partitions or workers. The index lives in memory and is rebuilt
on start-up from the changelog-backed table that stores one :class:`Entry` (as
:meth:`Entry.to_bytes`) per indexed article; :meth:`DedupIndex.add` is idempotent,
so restoring and re-indexing are the same operation.

Detectors, in order (:meth:`DedupIndex.check`):

1. ``url``: same canonical URL key;
2. ``exact``: same content hash of the normalised body (bodies with fewer than
   ``min_shingles`` shingles are exempt: captions such as "كاريكاتير" collide by accident);
3. ``near``: MinHash LSH candidates (``bands`` x ``rows``) verified by the estimated
   Jaccard similarity of the full signatures, at least ``near_threshold``.

A distinct article whose best verified similarity is at least ``story_threshold``
joins that article's story (same ``story_id``) but is still published. Failing
that, an article reporting one of the same events as an earlier one (same
:func:`~service.stages.fingerprint.event_key`: ACLED sub-event type at one place)
fetched within ``event_window`` joins its story, however differently worded. Only
distinct articles are indexed: a duplicate points at the first-seen article of its
group, and the group is found through that article.

Replays: each entry remembers the record it came from (``origin``: topic/partition/
offset). A record met again from the same origin is the same record replayed after
a crash: it is reported as the original it was, with its stored ``story_id``, so the
output is the same the second time.

Memory (numpy arrays but for one ``bytes`` object per article; measured by
:meth:`DedupIndex.memory_bytes`, about 700 bytes per article):

* per slot: the signature (``num_perm`` x uint16), content hash and URL key (16 bytes
  each), an article-id hash, ``fetched_at`` (int64 microseconds), the shingle count
  and flags; the three strings (article id, story id unless equal to it, origin)
  packed into one ``bytes`` object;
* one bucketised open-addressing hash table for every key of every article (its
  article id, URL key, content hash, ``bands`` band keys and up to two event keys):
  16 entries per bucket, each an int32 slot and a one-byte tag, at most 80 % full;
  a lookup reads one bucket per key (rarely two) in a single vectorised gather, so
  its cost does not grow with the number of indexed articles;
* an expiry queue: the slots of each hour of ``fetched_at`` in an ``array('i')``.

Slots of expired articles are reused. When live entries plus deletion markers pass
80 % of the table, a new table (60 % full) takes every insert while the old one keeps
answering lookups and is drained a few hundred slots per ``add()``/``expire()``, so
growing never stalls the stream (at 1M articles: about 2,000 calls of ~4 ms instead
of one 10 s rebuild). ``add_many`` (start-up restore) builds the table in one go, in
parts of 65,536 articles so its temporaries stay small.
"""

from __future__ import annotations

import hashlib
import struct
import sys
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from service.stages.fingerprint import Fingerprint, minhash_scheme, mix64, splitmix64_sequence

__all__ = ["DedupConfig", "DedupIndex", "Entry", "Verdict"]

Method = Literal["exact", "near", "url"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO: Final = timedelta(microseconds=1)
_HOUR_US: Final = 3_600_000_000


# --------------------------------------------------------------------------- config


@dataclass(frozen=True, slots=True)
class DedupConfig:
    """Every knob of fingerprinting and matching. Defaults were chosen on the
    SaudiNewsNet development corpus (12,824 Arabic articles) with
    ``scripts/eval_dedup.py``; ``docs/dedup.md`` has the figures."""

    shingle_size: int = 3
    """Words per shingle. A changed word touches at most 3 shingles, so a copy with a
    new headline line, first line or end stays close to its source, while unrelated
    articles share almost none (see ``bands``)."""
    num_perm: int = 128
    """MinHash permutations, ``bands * rows``; standard error of the similarity
    estimate at J = 0.8: 0.035."""
    bands: int = 32
    rows: int = 4
    """LSH shape. 32 x 4 makes 73 % of corpus pairs with 0.3 <= J < 0.8 candidates
    (story clustering) at 0.053 unrelated (J < 0.3) candidates per article per 10k
    indexed, the figure that grows with the index. 16 x 4: 60 % at 0.018; 42 x 3:
    93 % but 0.277, five times as many."""
    near_threshold: float = 0.7
    """Estimated Jaccard from which a body is a near duplicate: the highest threshold
    that keeps recall >= 0.98 (0.981) with no flagged pair under true J 0.5 (lowest
    true J of a near pair: 0.60). 0.6 finds 0.995 but flags a pair at J 0.48;
    0.8 drops recall to 0.90."""
    story_threshold: float = 0.3
    """Estimated Jaccard from which a distinct article joins the other's story. Corpus
    pairs from 0.3 up are the same release rewritten by another outlet; with it, 1,077
    distinct articles joined an earlier story, their median true J with the story's
    first article 0.51, 99 % of them >= 0.2."""
    min_shingles: int = 10
    """Short-text guard for ``exact`` and ``near``: in the corpus every repeated body
    under 3 words is an accidental collision (18 cartoons captioned "كاريكاتير") and
    no repeated body has 3 to 25 words; 10 shingles (12 words) sits in that gap."""
    event_window: timedelta = timedelta(days=2)
    """A distinct article that reports the same event as an earlier one (the same ACLED
    sub-event type at the same place: :func:`event_key`) joins that article's story
    when the two were fetched at most this far apart, however differently they are
    worded. Shorter than ``window`` (a longer one acts as ``window``): two strikes on
    one town a week apart are two stories."""
    window: timedelta = timedelta(days=7)
    """Articles fetched longer than this before an article are not compared with it,
    and :meth:`DedupIndex.expire` drops them."""
    seed: int = 0x6E657773
    """Seed of the hash and permutation constants; changing it (or ``shingle_size``
    or ``num_perm``) makes stored signatures incomparable (see :attr:`scheme`)."""
    initial_capacity: int = 1024
    """Slots allocated up front (set it to the expected articles per window to skip
    growth); the index grows by a quarter as needed."""

    def __post_init__(self) -> None:
        if self.bands * self.rows != self.num_perm or self.bands < 1 or self.rows < 1:
            raise ValueError("num_perm must equal bands * rows")
        if not 0.0 < self.story_threshold <= self.near_threshold <= 1.0:
            raise ValueError("need 0 < story_threshold <= near_threshold <= 1")
        if self.shingle_size < 1 or self.min_shingles < 1:
            raise ValueError("shingle_size and min_shingles must be positive")
        if self.window <= timedelta(0):
            raise ValueError("window must be positive")
        if self.event_window < timedelta(0):
            raise ValueError("event_window must not be negative")
        if self.initial_capacity < 1:
            raise ValueError("initial_capacity must be positive")

    @property
    def scheme(self) -> int:
        """Tag carried by every fingerprint: signatures compare only under one scheme."""
        return minhash_scheme(self.shingle_size, self.num_perm, self.seed)


# --------------------------------------------------------------------------- records


def _micros(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _MICRO


def _datetime(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


_ENTRY_VERSION: Final = 1
_HEAD = struct.Struct("<BBHqI")  # version, flags, scheme, fetched_at µs, shingle_count
_LEN = struct.Struct("<H")
_F_URL, _F_SAME_STORY, _F_ENTITIES = 1, 2, 4


def _put(out: bytearray, data: bytes) -> None:
    if len(data) > 0xFFFF:
        raise ValueError("entry field longer than 65535 bytes")
    out += _LEN.pack(len(data))
    out += data


def _take(data: bytes, pos: int) -> tuple[bytes, int]:
    (size,) = _LEN.unpack_from(data, pos)
    pos += _LEN.size
    if pos + size > len(data):
        raise ValueError("truncated entry")
    return data[pos : pos + size], pos + size


@dataclass(frozen=True, slots=True)
class Entry:
    """One indexed (distinct) article: what the changelog table stores under its id."""

    article_id: str
    story_id: str
    origin: str
    fetched_at: datetime
    fp: Fingerprint

    def to_bytes(self) -> bytes:
        """Compact binary form (about 300 bytes with a 128-permutation signature)."""
        fp = self.fp
        flags = (_F_URL if fp.url_key is not None else 0) | (
            _F_SAME_STORY if self.story_id == self.article_id else 0
        )
        if fp.entities:
            flags |= _F_ENTITIES
        out = bytearray(
            _HEAD.pack(_ENTRY_VERSION, flags, fp.scheme, _micros(self.fetched_at), fp.shingle_count)
        )
        out += _key_bytes(fp.content_hash, "content_hash")
        if fp.url_key is not None:
            out += _key_bytes(fp.url_key, "url_key")
        _put(out, self.article_id.encode("utf-8"))
        if not flags & _F_SAME_STORY:
            _put(out, self.story_id.encode("utf-8"))
        _put(out, self.origin.encode("utf-8"))
        _put(out, fp.signature)
        if fp.entities:
            entities = sorted(fp.entities)
            out += _LEN.pack(len(entities))
            for name in entities:
                _put(out, name.encode("utf-8"))
        return bytes(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> Entry:
        version, flags, scheme, fetched, count = _HEAD.unpack_from(data, 0)
        if version != _ENTRY_VERSION:
            raise ValueError(f"unknown entry version {version}")
        pos = _HEAD.size
        chash = data[pos : pos + 16].hex()
        pos += 16
        url = None
        if flags & _F_URL:
            url = data[pos : pos + 16].hex()
            pos += 16
        raw_id, pos = _take(data, pos)
        article_id = raw_id.decode("utf-8")
        story_id = article_id
        if not flags & _F_SAME_STORY:
            raw_story, pos = _take(data, pos)
            story_id = raw_story.decode("utf-8")
        raw_origin, pos = _take(data, pos)
        signature, pos = _take(data, pos)
        entities: list[str] = []
        if flags & _F_ENTITIES:
            (n,) = _LEN.unpack_from(data, pos)
            pos += _LEN.size
            for _ in range(n):
                raw_name, pos = _take(data, pos)
                entities.append(raw_name.decode("utf-8"))
        if pos != len(data):
            raise ValueError("trailing bytes after entry")
        fp = Fingerprint(chash, url, signature, count, scheme, frozenset(entities))
        return cls(article_id, story_id, raw_origin.decode("utf-8"), _datetime(fetched), fp)


def _key_bytes(key: str, what: str) -> bytes:
    if len(key) != 32:
        raise ValueError(f"{what} must be 32 hex digits (blake2b-128), got {key!r}")
    return bytes.fromhex(key)


@dataclass(frozen=True, slots=True)
class Verdict:
    """``original`` is set for a duplicate. A distinct article has ``original=None`` and
    either its own id as ``story_id`` or, when it is similar enough to an indexed one
    (``story_threshold``), that article's ``story_id``. ``similarity`` is the best
    estimated Jaccard found (1.0 for exact copies and replays, 0.0 when nothing matched)."""

    story_id: str
    original: Entry | None = None
    method: Method | None = None
    similarity: float = 0.0
    replay: bool = False
    """True when this exact record (same origin) was indexed before."""

    @property
    def is_duplicate(self) -> bool:
        return self.original is not None


# --------------------------------------------------------------------------- hash table

_BUCKET: Final = 16
_EMPTY: Final = -1
_DELETED: Final = -2
_MAX_LOAD: Final = 0.8
_REBUILD_LOAD: Final = 0.6
_S32 = np.uint64(32)
_TAG_MASK = np.uint64(0xFF)

U64 = NDArray[np.uint64]
I64 = NDArray[np.int64]


def _homes(keys: U64, nbuckets: int) -> tuple[I64, NDArray[np.uint8]]:
    h = mix64(keys)
    bucket = (((h >> _S32) * np.uint64(nbuckets)) >> _S32).astype(np.int64)
    return bucket, (h & _TAG_MASK).astype(np.uint8)


class _Table:
    """Multimap uint64 key -> int32 slot: buckets of 16 entries, linear probing by bucket.

    Only an 8-bit tag of each key is stored: a lookup returns every slot whose tag
    matches (about one in 256 unrelated entries of the probed buckets) and the caller
    verifies candidates against the slot's own data. A probe sequence ends at the
    first bucket with an empty entry; deleted entries are marked, reused by inserts,
    and cleared when the table is rebuilt.
    """

    __slots__ = ("deleted", "live", "nbuckets", "slots", "tags")

    def __init__(self, nbuckets: int) -> None:
        self.nbuckets = max(1, nbuckets)
        self.slots = np.full((self.nbuckets, _BUCKET), _EMPTY, dtype=np.int32)
        self.tags = np.zeros((self.nbuckets, _BUCKET), dtype=np.uint8)
        self.live = 0
        self.deleted = 0

    @classmethod
    def for_entries(cls, count: int) -> _Table:
        return cls(int(np.ceil(max(count, 1) / (_BUCKET * _REBUILD_LOAD))))

    @property
    def capacity(self) -> int:
        return self.nbuckets * _BUCKET

    def nbytes(self) -> int:
        return int(self.slots.nbytes + self.tags.nbytes)

    def needs_rebuild(self, incoming: int) -> bool:
        return self.live + self.deleted + incoming > _MAX_LOAD * self.capacity

    def lookup(self, keys: U64) -> tuple[I64, NDArray[np.int32]]:
        """(query index, slot) for every stored entry whose tag matches a query key."""
        bucket, tag = _homes(keys, self.nbuckets)
        query = np.arange(keys.size, dtype=np.int64)
        found_q: list[I64] = []
        found_s: list[NDArray[np.int32]] = []
        for _ in range(self.nbuckets):
            rows = self.slots[bucket]
            hit = (self.tags[bucket] == tag[:, np.newaxis]) & (rows >= 0)
            if hit.any():
                r, c = np.nonzero(hit)
                found_q.append(query[r])
                found_s.append(rows[r, c])
            more = ~(rows == _EMPTY).any(axis=1)
            if not more.any():
                break
            query, bucket, tag = query[more], bucket[more] + 1, tag[more]
            bucket[bucket == self.nbuckets] = 0
        if not found_q:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32)
        return np.concatenate(found_q), np.concatenate(found_s)

    def insert(self, keys: U64, values: NDArray[np.int32]) -> None:
        """Insert (key, slot) pairs; the caller keeps the load under ``_MAX_LOAD``."""
        bucket, tag = _homes(keys, self.nbuckets)
        pending = np.arange(keys.size, dtype=np.int64)
        for _ in range(keys.size * self.nbuckets + 1):
            b = bucket[pending]
            rows = self.slots[b]
            free = rows < 0
            column = free.argmax(axis=1)
            picked = rows[np.arange(b.size), column]
            has_free = picked < 0
            homes = b.tolist()
            if has_free.all() and len(set(homes)) == len(homes):  # the usual case
                won = np.arange(b.size)
            else:  # one insertion per bucket per round: two keys never take one entry
                candidates = np.flatnonzero(has_free)
                _, first = np.unique(b[candidates], return_index=True)
                won = candidates[first]
            wb, wc = b[won], column[won]
            self.deleted -= int(np.count_nonzero(picked[won] == _DELETED))
            self.slots[wb, wc] = values[pending[won]]
            self.tags[wb, wc] = tag[pending[won]]
            self.live += int(won.size)
            if won.size == pending.size:
                return
            full = ~has_free
            bucket[pending[full]] = (b[full] + 1) % self.nbuckets
            placed = np.zeros(pending.size, dtype=bool)
            placed[won] = True
            pending = pending[~placed]
        raise RuntimeError("dedup table is full")  # unreachable below _MAX_LOAD

    def remove(self, keys: U64, values: NDArray[np.int32]) -> None:
        """Mark the entry (key, slot) deleted, for each pair; absent pairs are ignored."""
        bucket, tag = _homes(keys, self.nbuckets)
        query = np.arange(keys.size, dtype=np.int64)
        for _ in range(keys.size * self.nbuckets + 1):
            rows = self.slots[bucket]
            hit = (rows == values[query][:, np.newaxis]) & (self.tags[bucket] == tag[:, np.newaxis])
            found = hit.any(axis=1)
            column = hit.argmax(axis=1)
            hits = np.flatnonzero(found)
            # Two pairs may match one entry (same bucket, tag and slot): one takes it, the
            # other looks again in the same bucket.
            _, first = np.unique(bucket[hits] * _BUCKET + column[hits], return_index=True)
            won = hits[first]
            self.slots[bucket[won], column[won]] = _DELETED
            self.live -= int(won.size)
            self.deleted += int(won.size)
            retry = found.copy()
            retry[won] = False
            advance = ~found & ~(rows == _EMPTY).any(axis=1)
            if not (retry.any() or advance.any()):
                return
            bucket[advance] += 1
            bucket[bucket == self.nbuckets] = 0
            keep = retry | advance
            query, bucket, tag = query[keep], bucket[keep], tag[keep]

    @classmethod
    def build(cls, count: int, parts: Iterable[tuple[U64, NDArray[np.int32]]]) -> _Table:
        """A fresh table, 60 % full, holding ``count`` pairs given in parts; each part is
        placed in bulk (sorted by home bucket) after the ones before it."""
        table = cls.for_entries(count)
        fill = np.zeros(table.nbuckets, dtype=np.int64)
        placed = 0
        for keys, values in parts:
            table._place(keys, values, fill)
            placed += int(keys.size)
        if placed != count:
            raise ValueError(f"expected {count} table entries, got {placed}")
        table.live = count
        return table

    def _place(self, keys: U64, values: NDArray[np.int32], fill: I64) -> None:
        """Bulk insertion into buckets filled from their first entry (``fill`` counts
        them): each key takes the next entry of its bucket, or of the next one."""
        nb = self.nbuckets
        bucket, tag = _homes(keys, nb)
        vals = values
        while bucket.size:
            order = np.argsort(bucket, kind="stable")
            bucket, tag, vals = bucket[order], tag[order], vals[order]
            starts = np.empty(bucket.size, dtype=bool)
            starts[0] = True
            np.not_equal(bucket[1:], bucket[:-1], out=starts[1:])
            first = np.flatnonzero(starts)
            rank = np.arange(bucket.size) - first[np.cumsum(starts) - 1]
            position = fill[bucket] + rank
            ok = position < _BUCKET
            self.slots[bucket[ok], position[ok]] = vals[ok]
            self.tags[bucket[ok], position[ok]] = tag[ok]
            fill += np.bincount(bucket[ok], minlength=nb)
            rest = ~ok
            bucket, tag, vals = (bucket[rest] + 1) % nb, tag[rest], vals[rest]


# --------------------------------------------------------------------------- index

_B_LIVE, _B_URL, _B_SIG, _B_EXACT, _B_MOVED, _B_EVENT = 1, 2, 4, 8, 16, 32
_EVENT_PREFIX: Final = "event:"
MAX_EVENT_KEYS: Final = 2
"""Event keys kept per article (its most confident events)."""
_DRAIN_SLOTS: Final = 512  # slots moved to a new hash table per add() while it grows
_SYNC_REBUILD_SLOTS: Final = 8192  # smaller indexes rebuild at once (well under 0.1 s)
_CORRECTION: Final = 1.0 / 65536.0  # chance that two different 16-bit minima agree
_CHAIN = np.uint64(0x9E3779B97F4A7C15)


def _id_hash(article_id: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(article_id.encode("utf-8"), digest_size=8).digest(), "little"
    )


def _key_words(key: str, what: str) -> U64:
    """A 128-bit hex key as two uint64 words."""
    return np.frombuffer(_key_bytes(key, what), dtype="<u8").astype(np.uint64)


def _event_keys(fp: Fingerprint) -> list[int]:
    """The event keys an index keeps of a fingerprint: the first ``MAX_EVENT_KEYS`` as
    given by :func:`event_key` strings (``event:`` and 16 hex digits); others are ignored."""
    keys: list[int] = []
    for name in sorted(fp.entities):
        if name.startswith(_EVENT_PREFIX) and len(name) == len(_EVENT_PREFIX) + 16:
            try:
                keys.append(int(name[len(_EVENT_PREFIX) :], 16))
            except ValueError:
                continue
            if len(keys) == MAX_EVENT_KEYS:
                break
    return keys


def _pack_meta(article_id: str, story_id: str, origin: str) -> bytes:
    a = article_id.encode("utf-8")
    s = b"" if story_id == article_id else story_id.encode("utf-8")
    if len(a) > 0xFFFF or len(s) > 0xFFFF:
        raise ValueError("article or story id longer than 65535 bytes")
    return _LEN.pack(len(a)) + _LEN.pack(len(s)) + a + s + origin.encode("utf-8")


def _unpack_meta(meta: bytes) -> tuple[str, str, str]:
    (na,) = _LEN.unpack_from(meta, 0)
    (ns,) = _LEN.unpack_from(meta, 2)
    article_id = meta[4 : 4 + na].decode("utf-8")
    story_id = meta[4 + na : 4 + na + ns].decode("utf-8") if ns else article_id
    return article_id, story_id, meta[4 + na + ns :].decode("utf-8")


_A = TypeVar("_A", bound=NDArray[Any])


def _grown(values: _A, size: int) -> _A:
    """A copy with ``size`` rows, zero-filled past the old ones."""
    bigger = np.zeros((size, *values.shape[1:]), dtype=values.dtype)
    bigger[: values.shape[0]] = values
    return cast(_A, bigger)


class DedupIndex:
    """In-memory index of the distinct articles of the window. Not thread-safe: one
    sequenced consumer calls it, in stream order."""

    def __init__(self, config: DedupConfig) -> None:
        self.config = config
        self._scheme = config.scheme
        salts = splitmix64_sequence(0xD1CE, 3 + config.bands)
        self._salt_id, self._salt_url, self._salt_exact = salts[:3]
        self._salt_bands = np.array(salts[3:], dtype=np.uint64)
        self._salt_event = splitmix64_sequence(0xE7E7, 1)[0]
        self._event_window_us = min(config.event_window, config.window) // _MICRO
        self._row_offsets = np.arange(config.rows, dtype=np.int64)
        self._window_us = config.window // _MICRO
        self._sig_bytes = 2 * config.num_perm
        capacity = config.initial_capacity
        self._sig = np.zeros((capacity, config.num_perm), dtype=np.uint16)
        self._chash = np.zeros((capacity, 2), dtype=np.uint64)
        self._ukey = np.zeros((capacity, 2), dtype=np.uint64)
        self._ekey = np.zeros((capacity, MAX_EVENT_KEYS), dtype=np.uint64)
        self._nekey = np.zeros(capacity, dtype=np.uint8)
        self._idkey = np.zeros(capacity, dtype=np.uint64)
        self._fetched = np.zeros(capacity, dtype=np.int64)
        self._count = np.zeros(capacity, dtype=np.int32)
        self._flags = np.zeros(capacity, dtype=np.uint8)
        self._meta: list[bytes | None] = [None] * capacity
        self._meta_bytes = 0
        self._free = array("i")
        self._high = 0  # slots below this have been used at least once
        self._live = 0
        self._table = _Table.for_entries(capacity * (3 + config.bands))
        # While the table is replaced by a larger (or cleaner) one, the old one keeps
        # answering lookups for the slots not moved yet (those without _B_MOVED).
        self._draining: _Table | None = None
        self._drain_next = 0
        self._drain_end = 0
        self._hours: dict[int, array[int]] = {}
        self._next_due = sys.maxsize  # no live entry is older than this (µs)

    # ------------------------------------------------------------------ storage

    def _take_slot(self) -> int:
        if self._free:
            return self._free.pop()
        capacity = self._flags.shape[0]
        if self._high == capacity:
            size = max(capacity + 1, capacity * 5 // 4)
            self._sig = _grown(self._sig, size)
            self._chash = _grown(self._chash, size)
            self._ukey = _grown(self._ukey, size)
            self._ekey = _grown(self._ekey, size)
            self._nekey = _grown(self._nekey, size)
            self._idkey = _grown(self._idkey, size)
            self._fetched = _grown(self._fetched, size)
            self._count = _grown(self._count, size)
            self._flags = _grown(self._flags, size)
            self._meta.extend([None] * (size - capacity))
        self._high += 1
        return self._high - 1

    def _pack_rows(self, values: NDArray[np.uint16], bands: I64) -> U64:
        """Band keys from (..., rows) signature values: packed 16 bits a row when they
        fit in 64 bits, chained through the mixer otherwise; salted by band index."""
        if self.config.rows == 4:
            # Four little-endian uint16 rows read as one uint64 are exactly the packing
            # below, without widening every value to 64 bits first.
            packed = np.ascontiguousarray(values, dtype="<u2").view("<u8")[..., 0]
            return packed.astype(np.uint64, copy=False) ^ self._salt_bands[bands]
        rows = values.astype(np.uint64)
        key = rows[..., 0]
        for r in range(1, self.config.rows):
            if self.config.rows <= 4:
                key = key | (rows[..., r] << np.uint64(16 * r))
            else:
                key = mix64(key * _CHAIN + rows[..., r])
        return key ^ self._salt_bands[bands]

    def _band_keys(self, sig: NDArray[np.uint16]) -> U64:
        """(n, bands) band keys of n signatures."""
        cfg = self.config
        shaped = sig.reshape(sig.shape[0], cfg.bands, cfg.rows)
        return self._pack_rows(shaped, np.arange(cfg.bands, dtype=np.int64)[np.newaxis, :])

    def _band_keys_at(self, slots: NDArray[np.int32], bands: I64) -> U64:
        """The key of band ``bands[i]`` of the signature in ``slots[i]``."""
        columns = bands[:, np.newaxis] * self.config.rows + self._row_offsets[np.newaxis, :]
        return self._pack_rows(self._sig[slots[:, np.newaxis], columns], bands)

    def _keys_of(self, slots: I64) -> tuple[U64, NDArray[np.int32]]:
        """Every table key of the given live slots, with the slot each key points at."""
        flags = self._flags[slots]
        with_url = slots[(flags & _B_URL) != 0]
        exact = slots[(flags & _B_EXACT) != 0]
        signed = slots[(flags & _B_SIG) != 0]
        keys = [
            self._idkey[slots] ^ np.uint64(self._salt_id),
            self._ukey[with_url, 0] ^ np.uint64(self._salt_url),
            self._chash[exact, 0] ^ np.uint64(self._salt_exact),
            self._band_keys(self._sig[signed]).ravel(),
        ]
        owners = [slots, with_url, exact, np.repeat(signed, self.config.bands)]
        for k in range(MAX_EVENT_KEYS):
            with_event = slots[self._nekey[slots] > k]
            keys.append(self._ekey[with_event, k] ^ np.uint64(self._salt_event))
            owners.append(with_event)
        return np.concatenate(keys), np.concatenate(owners).astype(np.int32)

    # ------------------------------------------------------------------ entries

    def _meta_of(self, slot: int) -> tuple[str, str, str]:
        meta = self._meta[slot]
        if meta is None:
            raise KeyError(f"dedup slot {slot} is empty")
        return _unpack_meta(meta)

    def _entry(self, slot: int) -> Entry:
        article_id, story_id, origin = self._meta_of(slot)
        flags = int(self._flags[slot])
        url = self._ukey[slot].astype("<u8").tobytes().hex() if flags & _B_URL else None
        signature = self._sig[slot].astype("<u2").tobytes() if flags & _B_SIG else b""
        fp = Fingerprint(
            content_hash=self._chash[slot].astype("<u8").tobytes().hex(),
            url_key=url,
            signature=signature,
            shingle_count=int(self._count[slot]),
            scheme=self._scheme,
            entities=frozenset(
                f"{_EVENT_PREFIX}{int(key):016x}"
                for key in self._ekey[slot, : int(self._nekey[slot])].tolist()
            ),
        )
        return Entry(article_id, story_id, origin, _datetime(int(self._fetched[slot])), fp)

    def _usable_signature(self, fp: Fingerprint) -> NDArray[np.uint16] | None:
        """The signature as uint16 values, if it can be compared under this config."""
        if (
            fp.scheme != self._scheme
            or len(fp.signature) != self._sig_bytes
            or fp.shingle_count < self.config.min_shingles
        ):
            return None
        return fp.signature_array()

    def _stored_form(self, entry: Entry) -> Entry:
        """The entry as the index gives it back (UTC time, signature only if usable,
        of its entities only the event keys it keeps)."""
        fp = entry.fp
        signature = fp.signature if self._usable_signature(fp) is not None else b""
        events = frozenset(f"{_EVENT_PREFIX}{key:016x}" for key in _event_keys(fp))
        stored = Fingerprint(
            fp.content_hash, fp.url_key, signature, fp.shingle_count, self._scheme, events
        )
        fetched = _datetime(_micros(entry.fetched_at))
        return Entry(entry.article_id, entry.story_id, entry.origin, fetched, stored)

    def __len__(self) -> int:
        return self._live

    @property
    def capacity(self) -> int:
        """Slots allocated; slots of expired articles are reused before it grows."""
        return int(self._flags.shape[0])

    def __contains__(self, article_id: object) -> bool:
        return isinstance(article_id, str) and self._find_id(article_id) is not None

    def get(self, article_id: str) -> Entry | None:
        """The indexed entry of this article, if any."""
        slot = self._find_id(article_id)
        return None if slot is None else self._entry(slot)

    def entries(self) -> list[Entry]:
        """Every indexed entry (slot order)."""
        live = np.flatnonzero(self._flags[: self._high] & _B_LIVE)
        return [self._entry(int(slot)) for slot in live]

    def _find_id(self, article_id: str) -> int | None:
        key = _id_hash(article_id)
        query = np.array([key ^ self._salt_id], dtype=np.uint64)
        _, slots = self._lookup(query)
        live = (self._flags[slots] & _B_LIVE) != 0
        for slot in slots[live & (self._idkey[slots] == np.uint64(key))].tolist():
            if self._meta_of(slot)[0] == article_id:
                return int(slot)
        return None

    # ------------------------------------------------------------------ check

    def check(self, fp: Fingerprint, article_id: str, origin: str, fetched_at: datetime) -> Verdict:
        """The verdict for one article; the index is not changed.

        Detectors run in the order url, exact, near. Entries fetched more than
        ``window`` before ``fetched_at`` are ignored whether expired or not, so the
        verdict does not depend on when :meth:`expire` last ran.
        """
        cfg = self.config
        oldest = _micros(fetched_at) - self._window_us
        id_key = _id_hash(article_id)
        chash = _key_words(fp.content_hash, "content_hash")
        ukey = None if fp.url_key is None else _key_words(fp.url_key, "url_key")
        exact_ok = fp.shingle_count >= cfg.min_shingles
        query_sig = self._usable_signature(fp)

        keys = [id_key ^ self._salt_id]
        url_q = exact_q = -1
        if ukey is not None:
            url_q = len(keys)
            keys.append(int(ukey[0]) ^ self._salt_url)
        if exact_ok:
            exact_q = len(keys)
            keys.append(int(chash[0]) ^ self._salt_exact)
        events = _event_keys(fp)
        event_q = len(keys)
        keys.extend(key ^ self._salt_event for key in events)
        band_q = len(keys)
        query = np.array(keys, dtype=np.uint64)
        if query_sig is not None:
            band_keys = self._band_keys(query_sig[np.newaxis, :]).ravel()
            query = np.concatenate([query, band_keys])
        qidx, slots = self._lookup(query)

        # Freed slots may still be named by entries of a table being replaced: every
        # candidate is checked against its slot, starting with "is it live".
        flags = self._flags[slots]
        live = (flags & _B_LIVE) != 0

        # This very record (same article id, same origin) indexed before: a replay.
        same_id = (qidx == 0) & live & (self._idkey[slots] == np.uint64(id_key))
        for slot in slots[same_id].tolist():
            found_id, story_id, found_origin = self._meta_of(slot)
            if found_id == article_id and found_origin == origin:
                return Verdict(story_id=story_id, similarity=1.0, replay=True)

        in_window = self._fetched[slots] >= oldest
        if ukey is not None:
            hit = (
                (qidx == url_q)
                & in_window
                & ((flags & _B_URL) != 0)
                & (self._ukey[slots, 0] == ukey[0])
                & (self._ukey[slots, 1] == ukey[1])
            )
            if hit.any():
                slot = self._first_seen(slots[hit])
                return self._duplicate(slot, origin, "url", self._url_similarity(slot, fp))
        if exact_ok:
            hit = (
                (qidx == exact_q)
                & in_window
                & ((flags & _B_EXACT) != 0)
                & (self._chash[slots, 0] == chash[0])
                & (self._chash[slots, 1] == chash[1])
            )
            if hit.any():
                return self._duplicate(self._first_seen(slots[hit]), origin, "exact", 1.0)
        by_event = self._event_story(
            events, qidx, slots, event_q, flags, _micros(fetched_at), query_sig, article_id
        )
        if query_sig is None:
            return by_event
        hit = (qidx >= band_q) & in_window & ((flags & _B_SIG) != 0)
        if not hit.any():
            return by_event
        # Keep only candidates that really share the band (not just its 8-bit tag), so
        # verdicts never depend on the table's size or layout.
        band = qidx[hit] - band_q
        shared = self._band_keys_at(slots[hit], band) == band_keys[band]
        candidates = np.unique(slots[hit][shared])
        if candidates.size == 0:
            return by_event
        similarity = self._similarity(self._sig[candidates], query_sig)
        best_value = float(similarity.max())
        best = self._first_seen(candidates[similarity == best_value])
        if best_value >= cfg.near_threshold:
            return self._duplicate(best, origin, "near", best_value)
        if best_value >= cfg.story_threshold:
            return Verdict(story_id=self._meta_of(best)[1], similarity=best_value)
        if by_event.story_id != article_id:
            return by_event
        return Verdict(story_id=article_id, similarity=best_value)

    def _event_story(
        self,
        events: list[int],
        qidx: I64,
        slots: NDArray[np.int32],
        event_q: int,
        flags: NDArray[np.uint8],
        fetched_us: int,
        query_sig: NDArray[np.uint16] | None,
        article_id: str,
    ) -> Verdict:
        """The story of the first-seen article reporting one of the same events within
        ``event_window``; the article's own story when there is none."""
        if not events:
            return Verdict(story_id=article_id)
        hit = (
            (qidx >= event_q)
            & (qidx < event_q + len(events))
            & ((flags & _B_EVENT) != 0)
            & (self._fetched[slots] >= fetched_us - self._event_window_us)
        )
        if not hit.any():
            return Verdict(story_id=article_id)
        wanted = np.array(events, dtype=np.uint64)[qidx[hit] - event_q]
        candidates = slots[hit]
        # the slot's own key, not just the 8-bit tag, must be the event asked for
        same = (self._ekey[candidates] == wanted[:, np.newaxis]).any(axis=1)
        candidates = np.unique(candidates[same])
        if candidates.size == 0:
            return Verdict(story_id=article_id)
        first = self._first_seen(candidates)
        similarity = 0.0
        if query_sig is not None and self._flags[first] & _B_SIG:
            similarity = float(self._similarity(self._sig[[first]], query_sig)[0])
        return Verdict(story_id=self._meta_of(first)[1], similarity=max(0.0, similarity))

    def _similarity(
        self, rows: NDArray[np.uint16], query: NDArray[np.uint16]
    ) -> NDArray[np.float64]:
        """Estimated Jaccard, corrected for chance agreement of 16-bit values."""
        agree = np.count_nonzero(rows == query[np.newaxis, :], axis=1) / self.config.num_perm
        estimate = (agree - _CORRECTION) / (1.0 - _CORRECTION)
        clipped: NDArray[np.float64] = np.clip(estimate, 0.0, 1.0).astype(np.float64)
        return clipped

    def _url_similarity(self, slot: int, fp: Fingerprint) -> float:
        """1.0 for the same body, else the estimated Jaccard (0.0 if not comparable)."""
        if self._chash[slot].astype("<u8").tobytes().hex() == fp.content_hash:
            return 1.0
        query = self._usable_signature(fp)
        if query is None or not self._flags[slot] & _B_SIG:
            return 0.0
        return float(self._similarity(self._sig[slot : slot + 1], query)[0])

    def _first_seen(self, slots: NDArray[np.int32] | I64) -> int:
        """The earliest fetched of these slots; ties broken by article id."""
        unique = np.unique(slots)
        if unique.size == 1:
            return int(unique[0])
        fetched = self._fetched[unique]
        earliest: list[int] = unique[fetched == fetched.min()].tolist()
        return min(earliest, key=lambda slot: self._meta_of(slot)[0])

    def _duplicate(self, slot: int, origin: str, method: Method, similarity: float) -> Verdict:
        original = self._entry(slot)
        if original.origin == origin:  # this very record, indexed before: a replay
            return Verdict(story_id=original.story_id, similarity=1.0, replay=True)
        return Verdict(
            story_id=original.story_id, original=original, method=method, similarity=similarity
        )

    # ------------------------------------------------------------------ add

    def add(self, entry: Entry) -> None:
        """Index a distinct article. Idempotent: the same entry again changes nothing; a
        different entry under an indexed article id replaces it (the changelog keeps the
        latest value per key, and so does the index)."""
        existing = self._find_id(entry.article_id)
        if existing is not None:
            if self._entry(existing) == self._stored_form(entry):
                return
            self._remove_slots(np.array([existing], dtype=np.int64))
        slot = self._store(entry)
        self._insert(np.array([slot], dtype=np.int64))
        self._drain_some()

    def add_many(self, entries: Iterable[Entry]) -> None:
        """Bulk :meth:`add`, for restoring from the changelog on start-up: the same result
        (the last entry of an article id wins), entries consumed one at a time, and the
        hash table rebuilt once at the end. The rebuild costs time in proportion to the
        whole index, so the stream itself uses :meth:`add`."""
        stored = array("i")
        for entry in entries:
            stored.append(self._store(entry))
        if not stored:
            return
        # Several entries of one article id (a repeated changelog key, or an id that was
        # indexed already): keep the one stored last.
        rank = np.full(self._flags.shape[0], -1, dtype=np.int64)
        rank[np.frombuffer(stored, dtype=np.int32)] = np.arange(len(stored))
        live = np.flatnonzero(self._flags[: self._high] & _B_LIVE)
        ids = self._idkey[live]
        order = np.lexsort((rank[live], ids))
        live, ids = live[order], ids[order]
        repeated = np.flatnonzero(ids[1:] == ids[:-1])
        superseded: dict[int, None] = {}
        for start in np.unique(np.searchsorted(ids, ids[repeated])).tolist():
            group = live[start : int(np.searchsorted(ids, ids[start], side="right"))].tolist()
            latest: dict[str, int] = {}
            for slot in group:  # ascending rank: a later entry replaces an earlier one
                article_id = self._meta_of(slot)[0]
                if article_id in latest:
                    superseded[latest[article_id]] = None
                latest[article_id] = slot
        for slot in superseded:
            self._release(slot)
        self._rebuild()

    def discard(self, article_id: str) -> bool:
        """Forget one article (a deleted changelog key); False if it was not indexed."""
        slot = self._find_id(article_id)
        if slot is None:
            return False
        self._remove_slots(np.array([slot], dtype=np.int64))
        return True

    def _store(self, entry: Entry) -> int:
        """Fill a free slot with the entry (the hash table is the caller's business)."""
        fp = entry.fp
        chash = _key_words(fp.content_hash, "content_hash")
        ukey = None if fp.url_key is None else _key_words(fp.url_key, "url_key")
        meta = _pack_meta(entry.article_id, entry.story_id, entry.origin)
        signature = self._usable_signature(fp)
        fetched = _micros(entry.fetched_at)
        slot = self._take_slot()
        flags = _B_LIVE
        self._chash[slot] = chash
        self._ukey[slot] = 0 if ukey is None else ukey
        if ukey is not None:
            flags |= _B_URL
        self._sig[slot] = 0 if signature is None else signature
        if signature is not None:
            flags |= _B_SIG
        events = _event_keys(fp)
        self._ekey[slot] = 0
        self._ekey[slot, : len(events)] = events
        self._nekey[slot] = len(events)
        if events:
            flags |= _B_EVENT
        if fp.shingle_count >= self.config.min_shingles:
            flags |= _B_EXACT
        self._flags[slot] = flags
        self._idkey[slot] = _id_hash(entry.article_id)
        self._fetched[slot] = fetched
        self._count[slot] = min(max(fp.shingle_count, 0), 2**31 - 1)
        self._meta[slot] = meta
        self._meta_bytes += sys.getsizeof(meta)
        self._live += 1
        hour = fetched // _HOUR_US
        queue = self._hours.get(hour)
        if queue is None:
            queue = self._hours[hour] = array("i")
        queue.append(slot)
        self._next_due = min(self._next_due, fetched)
        return slot

    # ------------------------------------------------------------------ hash table

    def _lookup(self, query: U64) -> tuple[I64, NDArray[np.int32]]:
        qidx, slots = self._table.lookup(query)
        if self._draining is None:
            return qidx, slots
        # Entries of moved (or since freed) slots linger in the old table: every
        # candidate is verified against its slot's data, so they are harmless.
        old_q, old_slots = self._draining.lookup(query)
        return np.concatenate([qidx, old_q]), np.concatenate([slots, old_slots])

    def _insert(self, slots: I64) -> None:
        """Put the keys of these (stored, live) slots into the current table."""
        keys, owners = self._keys_of(slots)
        if self._table.needs_rebuild(int(keys.size)):
            if self._draining is not None or self._live <= _SYNC_REBUILD_SLOTS:
                self._rebuild()  # every live slot, these included
                return
            self._start_draining(extra=int(keys.size))
        self._table.insert(keys, owners)
        if self._draining is not None:
            self._flags[slots] |= _B_MOVED

    def _start_draining(self, extra: int = 0) -> None:
        """Replace the table by one 60 % full, moving entries over a few slots per add()
        instead of all at once, so no single call stalls the stream."""
        self._draining = self._table
        self._table = _Table.for_entries(self._table.live + extra)
        self._flags[: self._high] &= np.uint8(~_B_MOVED & 0xFF)
        self._drain_next, self._drain_end = 0, self._high

    def _drain_some(self, count: int | None = None) -> None:
        if self._draining is None:
            return
        stop = min(self._drain_next + (count or _DRAIN_SLOTS), self._drain_end)
        span = np.arange(self._drain_next, stop, dtype=np.int64)
        flags = self._flags[span]
        waiting = span[((flags & _B_LIVE) != 0) & ((flags & _B_MOVED) == 0)]
        if waiting.size:
            keys, owners = self._keys_of(waiting)
            if self._table.needs_rebuild(int(keys.size)):  # sized not to happen; if it does
                self._rebuild()
                return
            self._table.insert(keys, owners)
            self._flags[waiting] |= _B_MOVED
        self._drain_next = stop
        if stop >= self._drain_end:
            self._draining = None

    def settle(self) -> None:
        """Finish replacing the hash table now (otherwise a few hundred slots move per
        add() and expire() call); e.g. when idle, or before measuring memory."""
        if self._draining is not None:
            self._drain_some(self._drain_end)

    def _rebuild(self) -> None:
        """A fresh hash table for every live slot, 60 % full, built in one go (restore)."""
        live = np.flatnonzero(self._flags[: self._high] & _B_LIVE).astype(np.int64)
        flags = self._flags[live]
        count = (
            live.size
            + np.count_nonzero(flags & _B_URL)
            + np.count_nonzero(flags & _B_EXACT)
            + self.config.bands * np.count_nonzero(flags & _B_SIG)
            + int(self._nekey[live].sum())
        )
        step = 65_536  # slots per part: the temporaries stay small at any size
        parts = (self._keys_of(live[i : i + step]) for i in range(0, live.size, step))
        self._draining = None
        self._table = _Table(1)  # the old table goes before the new one is built
        self._table = _Table.build(int(count), parts)

    # ------------------------------------------------------------------ remove / expire

    def _remove_slots(self, slots: I64) -> list[str]:
        if slots.size == 0:
            return []
        if self._draining is None:
            self._table.remove(*self._keys_of(slots))
        else:
            moved = (self._flags[slots] & _B_MOVED) != 0
            if moved.any():
                self._table.remove(*self._keys_of(slots[moved]))
            if not moved.all():
                self._draining.remove(*self._keys_of(slots[~moved]))
        removed = [self._release(slot) for slot in slots.tolist()]
        if self._draining is None and self._table.deleted > self._table.live:
            # Mostly deletion markers: a smaller, clean table.
            if self._live <= _SYNC_REBUILD_SLOTS:
                self._rebuild()
            else:
                self._start_draining()
        return removed

    def _release(self, slot: int) -> str:
        """Free a slot (its hash-table entries are the caller's business); its article id."""
        meta = self._meta[slot]
        if meta is None:
            raise KeyError(f"dedup slot {slot} is empty")
        self._meta_bytes -= sys.getsizeof(meta)
        self._meta[slot] = None
        self._flags[slot] = 0
        self._free.append(slot)
        self._live -= 1
        return _unpack_meta(meta)[0]

    def _queued(self, hour: int) -> I64:
        """Live slots queued under this hour that still belong to it (a freed slot may
        have been reused by an article of another hour)."""
        queue = np.frombuffer(self._hours[hour], dtype=np.int32).astype(np.int64)
        live = queue[(self._flags[queue] & _B_LIVE) != 0]
        return np.unique(live[self._fetched[live] // _HOUR_US == hour])

    def expire(self, now: datetime, limit: int | None = None) -> list[str]:
        """Drop entries fetched before ``now - window``; return their article ids (sorted)
        for the caller to delete from the changelog table. Pass stream time (the latest
        ``fetched_at`` seen), not the wall clock, so a replay expires the same entries.
        Cheap when nothing is due, so it can be called after every article. ``limit``
        bounds the work of one call (whole hours of entries are dropped, oldest first,
        until at least ``limit`` are); verdicts ignore entries outside the window anyway,
        so a backlog left for later calls changes no result."""
        cutoff = _micros(now) - self._window_us
        if cutoff <= self._next_due:
            return []
        cutoff_hour = cutoff // _HOUR_US
        due: list[I64] = []
        count = 0
        for hour in sorted(h for h in self._hours if h <= cutoff_hour):
            if limit is not None and count >= limit:
                break
            queued = self._queued(hour)
            old = self._fetched[queued] < cutoff
            due.append(queued[old])
            count += int(due[-1].size)
            if hour < cutoff_hour or old.all():
                del self._hours[hour]
            else:
                self._hours[hour] = array("i", queued[~old].astype(np.int32).tobytes())
        removed = self._remove_slots(np.concatenate(due)) if due else []
        self._next_due = self._oldest_live()
        self._drain_some()
        return sorted(removed)

    def _oldest_live(self) -> int:
        for hour in sorted(self._hours):
            queued = self._queued(hour)
            if queued.size:
                return int(self._fetched[queued].min())
            del self._hours[hour]
        return sys.maxsize

    # ------------------------------------------------------------------ memory

    def memory_bytes(self) -> int:
        """Bytes held by the index: numpy buffers at their allocated capacity, the packed
        strings (``sys.getsizeof`` of each, kept as a running total), the list holding
        them, the free-slot stack and the expiry queues. The few hundred bytes of the
        index object itself are left out."""
        arrays = (
            self._sig,
            self._chash,
            self._ukey,
            self._ekey,
            self._nekey,
            self._idkey,
            self._fetched,
            self._count,
            self._flags,
        )
        total = sum(int(a.nbytes) for a in arrays) + self._table.nbytes()
        if self._draining is not None:
            total += self._draining.nbytes()
        total += self._meta_bytes + sys.getsizeof(self._meta) + sys.getsizeof(self._free)
        total += sys.getsizeof(self._hours) + sum(sys.getsizeof(q) for q in self._hours.values())
        return total
