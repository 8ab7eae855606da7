"""Matching every input record to what the service wrote for it."""

from __future__ import annotations

import base64
import contextlib
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson

VOLATILE = ("processed_at", "failed_at")

_WORDS = [
    "government",
    "council",
    "minister",
    "city",
    "province",
    "forces",
    "talks",
    "market",
    "water",
    "river",
    "road",
    "school",
    "hospital",
    "harvest",
    "election",
    "court",
    "border",
    "port",
    "factory",
    "village",
    "storm",
    "rain",
    "bridge",
    "budget",
    "exports",
    "prices",
    "workers",
    "teachers",
    "doctors",
    "police",
    "convoy",
    "aid",
    "refugees",
    "museum",
    "festival",
    "team",
    "league",
    "coach",
    "season",
    "agreement",
    "plan",
    "report",
    "committee",
    "study",
    "researchers",
    "drought",
    "floods",
]


def article_body(rng: random.Random) -> str:
    title = " ".join(rng.choice(_WORDS) for _ in range(6)).capitalize()
    paragraphs = [
        " ".join(rng.choice(_WORDS) for _ in range(rng.randint(25, 60))).capitalize() + "."
        for _ in range(rng.randint(2, 4))
    ]
    return title + "\n\n" + "\n\n".join(paragraphs)


def mixed_records(count: int, seed: int) -> list[tuple[bytes, bytes]]:
    """(key, value): ~85% distinct articles, ~10% exact re-posts, ~5% bad records."""
    rng = random.Random(seed)
    records: list[tuple[bytes, bytes]] = []
    bodies: list[str] = []
    for n in range(count):
        roll = rng.random()
        key = f"rec-{n}".encode()
        if roll < 0.05:
            bad = rng.choice(
                [
                    b"{not json",
                    b"\xff\xfe garbage \x00",
                    b'{"source": "x"}',
                    b"   ",
                    orjson.dumps({"source": "x", "fetched_at": "2024-01-01T00:00:00Z", "body": ""}),
                ]
            )
            records.append((key, bad))
            continue
        body = rng.choice(bodies) if roll < 0.15 and bodies else article_body(rng)
        bodies.append(body)
        value = {
            "id": f"art-{n}",
            "source": f"outlet-{rng.randint(1, 30)}.example",
            # Within one day: well inside the dedup window, as a live stream is.
            "fetched_at": f"2024-11-13T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z",
            "body": body,
        }
        records.append((key, orjson.dumps(value)))
    return records


@dataclass
class Accounting:
    """Each input must end on exactly one topic; a replay must repeat the same record."""

    inputs: list[tuple[bytes, bytes]]
    by_input: dict[int, list[tuple[str, dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    unmatched: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_article: dict[str, int] = {}
        self._by_key: dict[bytes, int] = {}
        for n, (key, value) in enumerate(self.inputs):
            self._by_key[key] = n
            self._by_article.setdefault(key.decode("utf-8", "replace"), n)
            try:
                data = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue
            if isinstance(data, dict) and "id" in data:
                self._by_article[data["id"]] = n

    def add(self, topic: str, value: bytes) -> None:
        record = orjson.loads(value)
        if "value_b64" in record:
            n = self._by_key.get(base64.b64decode(record["key_b64"] or ""))
            if n is not None and base64.b64decode(record["value_b64"]) != self.inputs[n][1]:
                n = None  # a dead letter must keep the original bytes
        else:
            n = self._by_article.get(record["article_id"])
        if n is None:
            self.unmatched.append((topic, record))
        else:
            self.by_input[n].append((topic, record))

    @property
    def accounted(self) -> int:
        return len(self.by_input)

    def lost(self) -> list[str]:
        """The keys of inputs no output accounts for (for the failure message)."""
        return [
            self.inputs[n][0].decode("utf-8", "replace")
            for n in range(len(self.inputs))
            if n not in self.by_input
        ]

    def summary(self) -> dict[str, int]:
        outputs = sum(len(v) for v in self.by_input.values()) + len(self.unmatched)
        return {
            "inputs": len(self.inputs),
            "outputs": outputs,
            "accounted": self.accounted,
            "replayed": sum(len(v) - 1 for v in self.by_input.values()),
            "lost": len(self.inputs) - self.accounted,
            "mismatched": len(self.mismatches()) + len(self.unmatched),
        }

    def mismatches(self) -> list[int]:
        """Inputs whose repeated outputs differ in anything but processing time or topic."""
        bad = []
        for n, outs in self.by_input.items():
            first_topic, first = outs[0]
            stable = {k: v for k, v in first.items() if k not in VOLATILE}
            for topic, record in outs[1:]:
                if (
                    topic != first_topic
                    or {k: v for k, v in record.items() if k not in VOLATILE} != stable
                ):
                    bad.append(n)
                    break
        return bad


def hostile_records(count: int, seed: int, body_limit: int) -> list[tuple[bytes, bytes, bool]]:
    """(key, value, must_be_dead_lettered): generated bad input of every kind we have met."""
    rng = random.Random(seed)
    good = {"source": "h.example", "fetched_at": "2024-11-13T10:00:00Z"}
    out: list[tuple[bytes, bytes, bool]] = []
    for n in range(count):
        key = f"bad-{n}".encode()
        good["id"] = key.decode()  # what is parsed after all can be matched to its input
        body = article_body(rng)
        kind = rng.randrange(12)
        value: bytes
        must = True
        if kind == 0:  # truncated JSON
            full = orjson.dumps({**good, "body": body})
            value = full[: rng.randrange(1, len(full) - 1)]
        elif kind == 1:  # wrong types
            field_name = rng.choice(["source", "fetched_at", "body", "metadata", "content_type"])
            value = orjson.dumps(
                {**good, "body": body, field_name: rng.choice([17, [1], {"a": 1}])}
            )
        elif kind == 2:  # huge field, over the limit
            value = orjson.dumps({**good, "body": body + " x" * (body_limit // 2 + 10)})
        elif kind == 3:  # invalid UTF-8 inside JSON
            raw = bytearray(orjson.dumps({**good, "body": body}))
            raw[rng.randrange(40, len(raw) - 2)] = rng.choice([0xFF, 0xC3, 0x80, 0xFE])
            value = bytes(raw)
        elif kind == 4:  # schema from the future
            value = orjson.dumps({**good, "body": body, "schema_version": f"{rng.randint(2, 9)}.0"})
        elif kind == 5:  # not an object
            value = orjson.dumps(rng.choice([[body], body, 42, None, True]))
        elif kind == 6:  # empty or blank
            value = rng.choice([b"", b" ", b"\n\t", orjson.dumps({**good, "body": " \n "})])
        elif kind == 7:  # binary garbage
            value = bytes(rng.randrange(256) for _ in range(rng.randint(1, 2000)))
            if value.lstrip()[:1] == b"{":
                value = b"\x00" + value
        elif kind == 8:  # NUL bytes in the text: parsed or rejected, never lost
            value = orjson.dumps({**good, "body": body.replace(" ", "\x00 ", 5)})
            must = False
        elif kind == 9:  # deeply nested HTML
            depth = rng.randint(100, 20_000)
            html = "<div>" * depth + f"<p>{body}</p>"
            value = orjson.dumps({**good, "content_type": "text/html", "body": html})
            must = False
        elif kind == 10:  # zip-bomb-like repetition just under the limit
            word = rng.choice(["ا ", "news ", "<b>", "\n"])
            value = orjson.dumps({**good, "body": word * ((body_limit - 100) // len(word))})
            must = False
        else:  # scripts and styles only
            html = "<script>" + "x=1;" * 500 + "</script><style>p{}</style>"
            value = orjson.dumps({**good, "content_type": "text/html", "body": html})
        out.append((key, value, must))
    return out


def describe_mismatch(accounting: Accounting, limit: int = 2) -> str:
    """The fields that differ between an input's repeated outputs, for failure messages."""
    lines = []
    for n in accounting.mismatches()[:limit]:
        outs = accounting.by_input[n]
        (t0, first), (t1, other) = outs[0], next(o for o in outs[1:] if o != outs[0])
        diff = {
            k: (first.get(k), other.get(k))
            for k in sorted(set(first) | set(other))
            if k not in VOLATILE and first.get(k) != other.get(k)
        }
        lines.append(f"input {n}: {t0} vs {t1}: {diff}")
    return "\n".join(lines)


def describe_loss(
    accounting: Accounting, bootstrap: str, raw: str, outputs: list[str], internal: str
) -> str:
    """Where each lost input sat, and whether a fresh read of the topics finds it after all.

    Tells a record the service never wrote from one the test's live reader missed.
    """
    from kafka import KafkaConsumer

    lost = set(accounting.lost())
    if not lost:
        return ""
    fresh = Accounting(accounting.inputs)
    positions: dict[str, list[str]] = defaultdict(list)
    consumer = KafkaConsumer(
        raw,
        *outputs,
        internal,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
    )
    try:
        for record in consumer:
            where = f"{record.topic}/{record.partition}@{record.offset}"
            if record.topic in outputs:
                fresh.add(record.topic, record.value)
                continue
            key = (record.key or b"").decode("utf-8", "replace")
            if record.topic == internal:
                with contextlib.suppress(orjson.JSONDecodeError, TypeError, KeyError):
                    key = str(orjson.loads(record.value)["origin"]["key"])
            if key in lost:
                positions[key].append(where)
    finally:
        consumer.close()
    lines = [f"lost {len(lost)}; a fresh read of the outputs finds {len(fresh.by_input)} inputs"]
    lines += [f"  {key}: {' '.join(positions.get(key, ['nowhere']))}" for key in sorted(lost)[:20]]
    return "\n".join(lines)
