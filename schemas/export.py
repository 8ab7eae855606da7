"""JSON Schema files for consumers that do not speak Python, generated from the models."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.models import DeadLetter, DuplicateNotice, EnrichedArticle, RawArticle

TOP_LEVEL: dict[str, type[BaseModel]] = {
    "raw-article": RawArticle,
    "enriched-article": EnrichedArticle,
    "duplicate-notice": DuplicateNotice,
    "dead-letter": DeadLetter,
}
DEFAULT_DIR = Path(__file__).parent / "json"


def render() -> dict[str, str]:
    """File name → text, deterministic so a stale checked-in file is a plain diff."""
    out = {}
    for name, model in TOP_LEVEL.items():
        schema = model.model_json_schema(mode="serialization")
        schema["$id"] = f"https://newsstream.invalid/schemas/{name}.schema.json"
        out[f"{name}.schema.json"] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return out


def write(directory: Path = DEFAULT_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, text in render().items():
        path = directory / file_name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
