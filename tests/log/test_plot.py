"""The commit-interval picture draws what it is given, and the closed form beside it."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402

from alosim.plots.log import commit_replays  # noqa: E402


def test_commit_replays_draws_each_policy_and_lambda_t_over_two() -> None:
    table = pd.DataFrame({"policy": ["interval", "interval", "after-each", "after-each"],
                          "interval_s": [1.0, 5.0, 1.0, 5.0],
                          "duplicates_per_consumer_crash": [90.0, 510.0, 0.0, 0.0]})
    fig = commit_replays(table, rate_per_s=200.0)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert list(lines["interval"].get_ydata()) == [90.0, 510.0]
    assert list(lines["after-each"].get_ydata()) == [0.0, 0.0]
    assert list(lines["λT/2, λ = 200/s"].get_ydata()) == [100.0, 500.0]


def test_alosim_sweep_draws_replays_per_crash_against_the_commit_interval(tmp_path) -> None:
    from click.testing import CliRunner

    from alosim.cli import cli
    from alosim.plots import sweep_figure
    from alosim.store import load_sweep
    from tests.conftest import SCENARIOS

    out = tmp_path / "results"
    result = CliRunner().invoke(cli, [
        "sweep", str(SCENARIOS / "kafka-commit-interval.yaml"), "--executor", "serial", "--no-progress",
        "--out", str(out), "--set", "duration=60s", "--set", "sweep.replications=1"])
    assert result.exit_code == 0, result.output
    assert "commit-interval.png" in result.output
    (folder,) = (out / "kafka-commit-interval").glob("sweep-*")
    assert (folder / "plots" / "commit-interval.svg").is_file()
    again = CliRunner().invoke(cli, ["plot", str(folder), "--kind", "commit-interval",
                                     "--out", str(tmp_path / "plots")])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "plots" / "commit-interval.png").is_file()

    fig = sweep_figure("commit-interval", load_sweep(folder))
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    # lambda T / 2 at lambda = 200/s (one consumer takes the whole rate), over T = 1, 2, 5, 10 s.
    assert list(lines["λT/2, λ = 200/s"].get_xdata()) == [1.0, 2.0, 5.0, 10.0]
    assert list(lines["λT/2, λ = 200/s"].get_ydata()) == [100.0, 200.0, 500.0, 1000.0]
    # The policies without a clock: level lines across the same T.
    for policy in ("after-batch", "after-each"):
        level = lines[f"{policy} (no clock)"]
        assert list(level.get_xdata()) == [1.0, 2.0, 5.0, 10.0]
        assert len(set(level.get_ydata())) == 1
    # Auto-commit: one point per T, growing with it.
    (auto,) = [c for c in ax.containers if c.get_label() == "interval (auto-commit)"]
    xs, ys = auto.lines[0].get_xdata(), auto.lines[0].get_ydata()
    assert list(xs) == [1.0, 2.0, 5.0, 10.0] and ys[0] < ys[-1]
