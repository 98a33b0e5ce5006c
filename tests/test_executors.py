"""The default executor (``auto``) never loses to serial: a short sweep stays in this
process, a long one gets a pool once, and a busy machine gets none."""

from __future__ import annotations

import time

from alosim.executors import AutoExecutor, SerialExecutor, default_jobs


def _square_after(item: tuple[int, float]) -> int:
    """A run of ``seconds`` that returns ``index`` squared (a module-level function: pool workers need it)."""
    index, seconds = item
    time.sleep(seconds)
    return index * index


def _idle() -> tuple[float, float, float]:
    return (0.0, 0.0, 0.0)


def _results(executor: AutoExecutor | SerialExecutor, items: list[tuple[int, float]]) -> dict[int, int | None]:
    with executor:
        return {done.item[0]: done.value for done in executor.imap_unordered(_square_after, items)}


def test_a_sweep_too_short_to_pay_for_a_pool_runs_in_this_process() -> None:
    # 40 runs of 10 ms: a pool would save at most 0.2 s, less than it costs to start.
    auto = AutoExecutor(2, loadavg=_idle)
    items = [(i, 0.01) for i in range(40)]
    assert _results(auto, items) == {i: i * i for i in range(40)}
    assert auto.pooled == 0


def test_a_long_sweep_gets_a_pool_once_and_the_same_results() -> None:
    auto = AutoExecutor(2, pool_start_s=0.05, loadavg=_idle)
    items = [(i, 0.02) for i in range(24)]
    assert _results(auto, items) == _results(SerialExecutor(), items)
    assert auto.pooled == 23  # after the first run, timed, the rest paid for a pool


def test_a_busy_machine_gets_no_pool() -> None:
    # Every core taken by other work: a pool's workers would share them with this process.
    busy = default_jobs() + 0.5
    auto = AutoExecutor(2, pool_start_s=0.05, loadavg=lambda: (busy, busy, busy))
    items = [(i, 0.02) for i in range(12)]
    assert _results(auto, items) == {i: i * i for i in range(12)}
    assert auto.pooled == 0
