"""Every statement of a printout is derived from what the run recorded: cause names from the
registries of causes, the backlog's explanation from the scenario, the sweep table's legend from
the runs each point has (and, in tests/test_compare.py, common random numbers from the seeds)."""

from __future__ import annotations

import pandas as pd

import alosim
from alosim.cli import format_summary, format_sweep_table
from tests.conftest import make
from tests.log.test_model import BASE as LOG

SINGLE = "name: s\nseed: 1\nmessages: 50\nsender: {rate: 100/s, window: 4}"


def _section(text: str, title: str) -> list[str]:
    """The lines under ``title`` (up to the next section) of a run's printout."""
    lines = text.splitlines()
    start = lines.index(f"  {title}") + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("    ")), len(lines))
    return [line.strip() for line in lines[start:end]]


def test_cause_lines_name_registered_causes_only():
    scenario = make(SINGLE)
    summary = dict(alosim.simulate(scenario).summary)
    # Counts whose names look like causes but are none: never printed as causes.
    summary.update({"duplicates_no_dedup": 3, "duplicates_total": 9, "lost_max_attempts": 2,
                    "lost_in_transit": 4})
    shown = format_summary(scenario, summary, 0.1)
    assert [line.split()[:2] for line in _section(shown, "duplicates processed, by cause")] == [["no", "dedup"]]
    assert [line.split()[:2] for line in _section(shown, "losses, by cause")] == [["max", "attempts"]]
    assert "total" not in shown and "in transit" not in shown


def test_a_logs_duplicate_causes_name_their_hop():
    scenario = make(LOG, messages=200)
    summary = dict(alosim.simulate(scenario).summary)
    # Both hops have an 'unexplained' cause: printed bare, the two were indistinguishable.
    summary.update({"duplicates_publish_unexplained": 1, "duplicates_consume_unexplained": 2})
    # A log leads with them, under its answer.
    shown = format_summary(scenario, summary, 0.1).splitlines()
    start = shown.index("    by hop and cause") + 1
    lines = [line.strip() for line in shown[start:] if line.startswith("      ")][:2]
    assert [(line.rsplit(None, 1)[0], line.split()[-1]) for line in lines] == [
        ("publish: unexplained", "1"), ("consume: unexplained", "2")]


def test_the_backlog_title_says_what_can_hold_a_message_back_in_this_scenario():
    def title(scenario: alosim.Scenario) -> str:
        shown = format_summary(scenario, alosim.simulate(scenario).summary, 0.1).splitlines()
        return next(line.strip() for line in shown if line.strip().startswith("sender backlog"))

    assert title(make(SINGLE)) == "sender backlog (create -> first send: waiting for window room)"
    # Open loop without a window, and a closed loop (created only when it can be sent): nothing.
    assert title(make(SINGLE, **{"sender.window": None})) == "sender backlog (create -> first send)"
    assert title(make(SINGLE, **{"sender.rate": None})) == "sender backlog (create -> first send)"
    # A durable outbox keeps what waited for window room until the crashed sender restarts.
    crash = make(SINGLE, **{"sender.durable_outbox": True, "sender.rate": "1000/s",
                            "faults": [{"target": "sender-0", "at": 0.02, "for": 0.5}]})
    assert title(crash) == ("sender backlog (create -> first send: waiting for window room "
                            "or a crashed sender's restart)")
    assert alosim.simulate(crash).summary["outbox_wait_max_s"] > 0.5  # and it did wait that long


def test_the_sweep_table_legend_follows_the_runs_each_point_has():
    def legend(runs: list[int]) -> str:
        agg = pd.DataFrame({"point": range(len(runs)), "semantics": ["at-least-once"] * len(runs),
                            "runs": runs, "lost_per_message_mean": [0.0] * len(runs),
                            "lost_per_message_ci_high": [0.0] * len(runs)})
        return format_sweep_table(agg, ["semantics"]).splitlines()[0]

    assert legend([1, 1]).startswith("one run per point: each value is that run's, without a confidence")
    assert "± half-width" not in legend([1, 1])
    assert legend([4, 4]) == ("mean over each point's runs ± half-width of its 95% confidence interval "
                              "(Student t, n - 1 degrees of freedom)")
    assert legend([4, 1]).endswith("(Student t, n - 1 degrees of freedom; none for a point with one run)")
