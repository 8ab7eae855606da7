from __future__ import annotations

import signal
import threading
import time
from typing import Any

import orjson
import pytest

from schemas.models import DeadLetter
from service import pipeline as pipeline_module
from service.budget import BudgetExceeded, time_budget
from service.metrics import Metrics
from service.pipeline import Origin, Pipeline, PreparedArticle
from service.settings import Settings


def spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_a_busy_block_is_interrupted_at_its_budget() -> None:
    handler = signal.getsignal(signal.SIGALRM)
    start = time.perf_counter()
    with pytest.raises(BudgetExceeded, match=r"0\.05 s budget"), time_budget(0.05):
        spin(5)
    assert time.perf_counter() - start < 1
    assert signal.getsignal(signal.SIGALRM) == handler


def test_a_timer_armed_by_someone_else_is_put_back() -> None:
    handler = signal.getsignal(signal.SIGALRM)
    fired: list[int] = []
    signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    try:
        with time_budget(0.05):
            spin(0.01)
        pending, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 0.1 < pending <= 0.3  # still armed, with what was left
        spin(0.4)
        assert fired == [signal.SIGALRM]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, handler)


def test_a_block_within_its_budget_runs_to_the_end() -> None:
    with time_budget(1.0):
        spin(0.01)
    spin(0.05)  # disarmed: nothing fires afterwards


def test_zero_means_no_budget_and_other_threads_are_not_interrupted() -> None:
    with time_budget(0):
        spin(0.05)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with time_budget(0.01):
                spin(0.05)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert errors == []


def _stage_with_a_bug_handler() -> str:
    try:
        spin(5)
    except Exception:  # what the stages do with their own bugs
        return "taken for an ordinary error"
    return "finished"


def test_a_stage_bug_handler_does_not_swallow_the_interruption() -> None:
    with pytest.raises(BudgetExceeded), time_budget(0.02):
        _stage_with_a_bug_handler()


def _record(n: int) -> Origin:
    value = orjson.dumps(
        {
            "id": f"r{n}",
            "source": "a.example",
            "fetched_at": "2024-11-13T09:00:00Z",
            "body": "Floods hit villages\n\nHeavy rain flooded villages on Tuesday, "
            "officials said, and rescue teams evacuated hundreds of residents by boat.",
        }
    )
    return Origin(topic="articles.raw", partition=0, offset=n, value=value)


def test_a_slow_record_becomes_a_timeout_dead_letter_and_the_next_one_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline = Pipeline(Settings(record_budget_s=0.05), Metrics())
    real = pipeline_module.classify

    def slow_once(*args: Any) -> Any:
        monkeypatch.setattr(pipeline_module, "classify", real)
        spin(5)
        return real(*args)

    monkeypatch.setattr(pipeline_module, "classify", slow_once)
    out = pipeline.prepare(_record(1))
    assert not isinstance(out, PreparedArticle)
    letter = out.record
    assert isinstance(letter, DeadLetter)
    assert (letter.stage, letter.reason, letter.error_type) == (
        "classify",
        "timeout",
        "BudgetExceeded",
    )
    assert letter.value_b64  # the original bytes, kept
    assert isinstance(pipeline.prepare(_record(2)), PreparedArticle)


def test_budget_must_stay_under_half_the_session_timeout() -> None:
    with pytest.raises(ValueError, match="record_budget_s"):
        Settings(record_budget_s=6, session_timeout_s=10)
    assert Settings(record_budget_s=0, session_timeout_s=1).record_budget_s == 0
