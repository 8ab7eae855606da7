"""Reading the classifier's data files: the shipped copy or a user's own."""

from __future__ import annotations

import tomllib
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any


def read_data_text(
    name: str, path: str | PathLike[str] | None, error: type[ValueError]
) -> tuple[str, str]:
    """(source, text) of ``path``, or of ``service/data/<name>`` when ``path`` is None.

    A file that cannot be read raises ``error`` naming it.
    """
    if path is None:
        return f"service.data/{name}", resources.files("service.data").joinpath(name).read_text(
            encoding="utf-8"
        )
    try:
        return str(path), Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {name} file {path}: {exc}") from exc


def load_data_toml(
    name: str, path: str | PathLike[str] | None, error: type[ValueError]
) -> tuple[str, dict[str, Any]]:
    """(source, table) of a TOML data file, as ``read_data_text`` finds it."""
    source, text = read_data_text(name, path, error)
    return source, parse_data_toml(text, source, error)


def parse_data_toml(text: str, source: str, error: type[ValueError]) -> dict[str, Any]:
    """The table of a data file's text; invalid TOML raises ``error`` naming ``source``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{source}: not valid TOML: {exc}") from exc
