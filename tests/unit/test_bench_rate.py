"""The benchmark's rate: outputs over the span from a stack's first write to its last output."""

from __future__ import annotations

import pytest

from tests.bench.harness import Collected


def test_a_stack_that_emits_in_step_is_timed_over_its_whole_run() -> None:
    arrivals = [1.0 + 0.01 * n for n in range(1, 1001)]  # 100/s after a first write at 1.0
    assert Collected(1.0, arrivals, None).rate == pytest.approx(100.0)


def test_a_second_half_that_lags_the_first_is_not_timed_alone() -> None:
    # The first half runs through the backlog for 9 s, then the outputs all come in 1 s.
    arrivals = [10.0 + 0.001 * n for n in range(1, 1001)]
    rate = Collected(0.0, arrivals, None).rate
    assert rate == pytest.approx(1000 / 11.0, rel=1e-3)  # not the ~1,000/s of the burst


def test_outputs_that_arrived_with_the_first_write_are_not_counted() -> None:
    arrivals = [5.0] * 10 + [5.0 + 0.1 * n for n in range(1, 11)]
    assert Collected(5.0, arrivals, None).rate == pytest.approx(10 / 1.0)


def test_no_outputs_means_no_rate() -> None:
    assert Collected(1.0, [], None).rate == 0.0
