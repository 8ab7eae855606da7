from __future__ import annotations

import logging
import logging.config

import orjson

from service.logs import JsonFormatter, json_logging_config


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "service.pipeline", logging.INFO, __file__, 1, "dead %s", ("x",), None
    )
    record.__dict__.update(extra)
    return record


def test_json_line_carries_the_context_fields() -> None:
    line = orjson.loads(JsonFormatter().format(_record(stage="parse", article_id="a-1", offset=7)))
    assert line["message"] == "dead x"
    assert line["level"] == "info"
    assert line["logger"] == "service.pipeline"
    assert (line["stage"], line["article_id"], line["offset"]) == ("parse", "a-1", 7)
    assert "reason" not in line
    assert line["time"].endswith("+00:00")


def test_exceptions_are_kept_inside_the_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = _record()
        record.exc_info = sys.exc_info()
    text = JsonFormatter().format(record)
    assert "\n" not in text
    assert "ValueError: boom" in orjson.loads(text)["exception"]


def test_config_is_accepted_by_dictconfig() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging.config.dictConfig(json_logging_config("warning"))
        assert root.level == logging.WARNING
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
