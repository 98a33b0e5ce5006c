"""The commit-interval picture draws what it is given, and the closed form beside it."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402

from alosim.plots_log import commit_replays  # noqa: E402


def test_commit_replays_draws_each_policy_and_lambda_t_over_two() -> None:
    table = pd.DataFrame({"policy": ["interval", "interval", "after-each", "after-each"],
                          "interval_s": [1.0, 5.0, 1.0, 5.0],
                          "duplicates_per_consumer_crash": [90.0, 510.0, 0.0, 0.0]})
    fig = commit_replays(table, rate_per_s=200.0)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert list(lines["interval"].get_ydata()) == [90.0, 510.0]
    assert list(lines["after-each"].get_ydata()) == [0.0, 0.0]
    assert list(lines["λT/2, λ = 200/s"].get_ydata()) == [100.0, 500.0]
