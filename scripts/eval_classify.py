"""Precision, recall and F1 of the classifier on the labelled evaluation set.

    .venv/bin/python scripts/eval_classify.py [--split dev|test|all] [--json] [--show-errors]

The set (``tests/eval/classify/{ar,en}.jsonl``) holds short news items written
for this purpose and labelled by hand: topics, ACLED events, every named place
with its true coordinates, and figures. ``dev`` and ``test`` (alternate items,
``tuned`` is both) were read while the rules were written; ``heldout`` items
were written afterwards by someone who had not seen the rules, and are only
scored.

Measures:

* topics: per-label precision/recall/F1 over items (multi-label) and their macro-F1;
* event types (6) and sub-event types (25): the same, on the set of types an item
  reports, plus a confusion matrix of event types (``none`` = no event);
* places: a labelled place is resolved when a predicted location lies within
  10 km of its true coordinates and its evidence is the labelled name;
  precision counts predicted locations within 10 km of some labelled place;
* figures: a labelled (kind, value) is found when predicted exactly;
  precision counts predicted figures that are labelled.

Targets (the issue): event-type macro-F1 >= 0.85, topic macro-F1 >= 0.80,
>= 90% of places resolved within 10 km, figures exact >= 0.9.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from schemas.models import Location  # noqa: E402
from service.stages.classify import TOPICS, classify  # noqa: E402
from service.stages.events import EVENT_TYPES  # noqa: E402
from service.stages.gazetteer import distance_km  # noqa: E402
from service.stages.normalize import normalize_for_matching  # noqa: E402

EVAL_DIR = ROOT / "tests" / "eval" / "classify"
RADIUS_KM = 10.0
TARGETS = {
    "event_type_macro_f1": 0.85,
    "topic_macro_f1": 0.80,
    "places_resolved": 0.90,
    "figures_exact": 0.90,
}


@dataclass
class Tally:
    tp: Counter[str] = field(default_factory=Counter)
    fp: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)

    def add(self, gold: set[str], predicted: set[str]) -> None:
        for label in gold & predicted:
            self.tp[label] += 1
        for label in predicted - gold:
            self.fp[label] += 1
        for label in gold - predicted:
            self.fn[label] += 1

    def scores(self, label: str) -> tuple[float, float, float, int]:
        tp, fp, fn = self.tp[label], self.fp[label], self.fn[label]
        p = tp / (tp + fp) if tp + fp else (1.0 if not fn else 0.0)
        r = tp / (tp + fn) if tp + fn else 1.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return p, r, f, tp + fn

    def macro_f1(self, labels: Iterable[str]) -> float:
        values = [self.scores(label)[2] for label in labels if self.tp[label] + self.fn[label]]
        return sum(values) / len(values) if values else 0.0


def load_items(split: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for path in sorted(EVAL_DIR.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                if (
                    split == "all"
                    or item["split"] == split
                    or (split == "tuned" and item["split"] in ("dev", "test"))
                ):
                    items.append(item)
    return items


def _name_matches(name: str, location: Location) -> bool:
    wanted = normalize_for_matching(name)
    return any(
        wanted in normalize_for_matching(e.text) or normalize_for_matching(e.text) in wanted
        for e in location.evidence
    )


def evaluate(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    topics, types, subs = Tally(), Tally(), Tally()
    confusion: Counter[tuple[str, str]] = Counter()
    places_total = places_found = predicted_places = predicted_places_ok = 0
    figures_total = figures_found = predicted_figures = predicted_figures_ok = 0
    errors: list[str] = []
    for item in items:
        result = classify(item["title"], item["text"], item["language"])
        gold_topics = set(item["topics"])
        pred_topics = {t.label for t in result.topics}
        topics.add(gold_topics, pred_topics)
        gold_types = {e["event_type"] for e in item["events"]}
        pred_types = {e.event_type for e in result.events}
        types.add(gold_types, pred_types)
        gold_subs = {e["sub_event_type"] for e in item["events"]}
        pred_subs = {e.sub_event_type or "" for e in result.events}
        subs.add(gold_subs, pred_subs)
        for gold in gold_types or {"none"}:
            if gold in pred_types:
                confusion[(gold, gold)] += 1
            else:
                extra = (pred_types - gold_types) or {"none"}
                for predicted in extra:
                    confusion[(gold, predicted)] += 1
        if not gold_types:
            for predicted in pred_types:
                confusion[("none", predicted)] += 1
        missed: list[str] = []
        for place in item["places"]:
            places_total += 1
            ok = any(
                distance_km(place["lat"], place["lon"], loc.latitude or 0, loc.longitude or 0)
                <= RADIUS_KM
                and _name_matches(place["name"], loc)
                for loc in result.locations
                if loc.latitude is not None
            )
            places_found += ok
            if not ok:
                missed.append(place["name"])
        spurious: list[str] = []
        for loc in result.locations:
            predicted_places += 1
            ok = any(
                distance_km(p["lat"], p["lon"], loc.latitude or 0, loc.longitude or 0) <= RADIUS_KM
                for p in item["places"]
            )
            predicted_places_ok += ok
            if not ok:
                spurious.append(f"{loc.evidence[0].text if loc.evidence else ''}->{loc.id}")
        gold_figures = {(f["kind"], f["value"]) for f in item["figures"]}
        pred_figures = {(f.kind, f.value) for f in result.figures}
        figures_total += len(gold_figures)
        figures_found += len(gold_figures & pred_figures)
        predicted_figures += len(pred_figures)
        predicted_figures_ok += len(gold_figures & pred_figures)
        problems = []
        if gold_topics != pred_topics:
            problems.append(f"topics {sorted(gold_topics)} got {sorted(pred_topics)}")
        if gold_subs != pred_subs:
            problems.append(f"events {sorted(gold_subs)} got {sorted(pred_subs)}")
        if missed or spurious:
            problems.append(f"places missed {missed} spurious {spurious}")
        if gold_figures != pred_figures:
            problems.append(f"figures {sorted(gold_figures)} got {sorted(pred_figures)}")
        if problems:
            errors.append(f"{item['id']}: " + "; ".join(problems))
    return {
        "items": len(items),
        "topics": topics,
        "types": types,
        "subs": subs,
        "confusion": confusion,
        "topic_macro_f1": topics.macro_f1(TOPICS),
        "event_type_macro_f1": types.macro_f1(EVENT_TYPES),
        "sub_event_macro_f1": subs.macro_f1(s for group in EVENT_TYPES.values() for s in group),
        "places_resolved": places_found / places_total if places_total else 1.0,
        "places_total": places_total,
        "places_precision": predicted_places_ok / predicted_places if predicted_places else 1.0,
        "figures_exact": figures_found / figures_total if figures_total else 1.0,
        "figures_total": figures_total,
        "figures_precision": (
            predicted_figures_ok / predicted_figures if predicted_figures else 1.0
        ),
        "errors": errors,
    }


def _table(title: str, tally: Tally, labels: Iterable[str]) -> list[str]:
    lines = [f"\n{title}", f"  {'label':<38} {'P':>6} {'R':>6} {'F1':>6} {'n':>4}"]
    for label in labels:
        p, r, f, n = tally.scores(label)
        if n or tally.fp[label]:
            lines.append(f"  {label:<38} {p:6.3f} {r:6.3f} {f:6.3f} {n:4d}")
    return lines


def report(result: Mapping[str, Any], split: str) -> str:
    lines = [f"classifier evaluation: {result['items']} items ({split})"]
    lines += _table("topics", result["topics"], TOPICS)
    lines += _table("event types", result["types"], EVENT_TYPES)
    lines += _table("sub-event types", result["subs"], [s for g in EVENT_TYPES.values() for s in g])
    names = ["none", *EVENT_TYPES]
    short = {name: name.split("/")[0].split(" ")[0][:9] for name in names}
    lines.append("\nevent-type confusion (rows: labelled, columns: predicted)")
    lines.append("  " + " " * 12 + "".join(f"{short[n]:>10}" for n in names))
    confusion = result["confusion"]
    for gold in names:
        row = "".join(f"{confusion[(gold, predicted)]:>10}" for predicted in names)
        lines.append(f"  {short[gold]:<12}{row}")
    lines.append("")
    lines.append(f"topic macro-F1       {result['topic_macro_f1']:.3f}  (target >= 0.80)")
    lines.append(f"event-type macro-F1  {result['event_type_macro_f1']:.3f}  (target >= 0.85)")
    lines.append(f"sub-event macro-F1   {result['sub_event_macro_f1']:.3f}")
    lines.append(
        f"places resolved      {result['places_resolved']:.3f}  of {result['places_total']}"
        f" within {RADIUS_KM:.0f} km (target >= 0.90); precision {result['places_precision']:.3f}"
    )
    lines.append(
        f"figures exact        {result['figures_exact']:.3f}  of {result['figures_total']}"
        f" (target >= 0.90); precision {result['figures_precision']:.3f}"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--split", choices=("dev", "test", "tuned", "heldout", "all"), default="all"
    )
    parser.add_argument("--json", action="store_true", help="print the headline scores as JSON")
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args(argv)
    result = evaluate(load_items(args.split))
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if isinstance(v, int | float)}))
        return 0
    print(report(result, args.split))
    if args.show_errors:
        print("\n".join(["", "errors:", *result["errors"]]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
