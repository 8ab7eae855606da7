"""A wall-clock budget for one record's CPU-bound work.

The prepare half (decode, parse, classify, fingerprint) is synchronous Python on
the worker's event loop. A record that takes too long there stalls its partition
and starves the consumer's heartbeats, which ends in a rebalance and a replay of
the same record: a loop. ``time_budget`` arms ``SIGALRM`` for the block; the
handler raises ``BudgetExceeded`` inside the running code, which the pipeline
turns into a dead letter with reason ``timeout``.

A signal rather than a thread or a process: a thread cannot be stopped, and a
process per record costs more than most records take. The signal only works in
the main thread (where the faust worker and batch mode run); elsewhere the block
runs unbounded. ``BudgetExceeded`` derives from ``BaseException`` so that the
stages' own ``except Exception`` handlers do not take it for a bug.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class BudgetExceeded(BaseException):
    """The block ran past its budget."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"processing took longer than the {seconds:g} s budget per record")
        self.seconds = seconds


def can_interrupt() -> bool:
    """Whether ``time_budget`` can stop a block here (main thread, POSIX timers)."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Raise ``BudgetExceeded`` in the block once it has run ``seconds`` (0: no budget).

    A timer someone else armed (a test runner's timeout) is put back afterwards with
    what was left of it; when it is due before the budget, it keeps running and the
    budget is not armed.
    """
    if seconds <= 0 or not can_interrupt():
        yield
        return
    pending, interval = signal.getitimer(signal.ITIMER_REAL)
    if 0 < pending <= seconds:
        yield
        return

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise BudgetExceeded(seconds)

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if pending > 0:
            left = max(pending - (time.monotonic() - started), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, interval)
