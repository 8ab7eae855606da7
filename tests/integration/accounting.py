"""Matching every input record to what the service wrote for it."""

from __future__ import annotations

import base64
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
            "fetched_at": f"2024-11-{rng.randint(10, 20):02d}T{rng.randint(0, 23):02d}:00:00Z",
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
