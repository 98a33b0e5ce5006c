"""Any sweep can be drawn: a figure against a swept path, by another, with intervals and theory."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
from click.testing import CliRunner

import alosim
from alosim.cli import cli
from tests.conftest import SCENARIOS


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def lease_sweep(tmp_path_factory):
    """A pipeline sweep that no dedicated plot fits: lease length x consumer store x ack loss."""
    out = tmp_path_factory.mktemp("res")
    shown = invoke("sweep", str(SCENARIOS / "visibility-timeout-too-short.yaml"), "--out", str(out),
                   "--executor", "serial", "--no-progress",
                   "--set", "sweep.grid={broker.visibility_timeout: [10s, 40s], consumer.dedup.kind: [none, set],"
                   " network.consume.ack.loss: [0, 0.1]}",
                   "--set", "sweep.replications=2", "--set", "messages=120")
    assert shown.exit_code == 0, shown.output
    return out / "visibility-timeout-too-short", shown.stdout


def test_a_sweep_no_dedicated_plot_fits_draws_a_figure_against_its_own_axes(lease_sweep):
    folder, stdout = lease_sweep
    (sweep,) = folder.glob("sweep-*")
    plots = sorted(p.name for p in (sweep / "plots").glob("*.png"))
    assert plots == ["duplicate_effects_per_message-vs-broker.visibility_timeout-by-consumer.dedup.kind.png"]
    assert f"plot: {sweep / 'plots' / plots[0]}" in stdout


def test_any_figure_against_any_swept_path_with_intervals_a_named_slice_and_zero_visible(lease_sweep):
    from alosim.plots import point_scenarios
    from alosim.plots.figure import figure_against
    from alosim.store import load_sweep

    data = load_sweep(lease_sweep[0])
    fig = figure_against(data.runs, "broker.visibility_timeout", "lost", by="consumer.dedup.kind",
                         scenarios=point_scenarios(data), name="lease")
    ax = fig.axes[0]
    assert {c.get_label() for c in ax.containers} == {"consumer.dedup.kind = none", "consumer.dedup.kind = set"}
    # Both lines lie at zero: both stay visible (the axis starts below zero; dodged sideways).
    assert ax.get_ylim()[0] < 0
    xs = [tuple(c.lines[0].get_xdata()) for c in ax.containers]
    assert xs[0] != xs[1]
    # The slice the picture shows is named; the legend is outside the axes.
    assert "at network.consume.ack.loss = 0.1" in ax.get_title()
    assert ax.get_legend().get_bbox_to_anchor().x0 > ax.get_window_extent().x1 - 1
    assert ax.get_xlabel() == "broker.visibility_timeout (s)" and ax.get_ylabel() == "lost (never processed)"


def test_plot_takes_x_y_by_and_refuses_what_it_cannot_draw_in_one_line(lease_sweep, tmp_path):
    folder = str(lease_sweep[0])
    drawn = invoke("plot", folder, "--x", "broker.visibility_timeout", "--y", "redeliveries_per_message",
                   "--by", "network.consume.ack.loss", "--out", str(tmp_path))
    assert drawn.exit_code == 0, drawn.output
    assert (tmp_path / "redeliveries_per_message-vs-broker.visibility_timeout-by-network.consume.ack.loss.png"
            ).is_file()
    bad = CliRunner().invoke(cli, ["plot", folder, "--x", "consumer.dedup.kind", "--y", "lost"])
    assert bad.exit_code == 2 and "--x consumer.dedup.kind: expected a swept path with numeric values" in bad.stderr
    bad = CliRunner().invoke(cli, ["plot", folder, "--x", "broker.visibility_timeout", "--y", "nope"])
    assert bad.exit_code == 2 and "--y nope: not a registered figure" in bad.stderr


def test_the_python_route_takes_what_load_results_returns(lease_sweep):
    from alosim.plots.pipeline import lease_duplicates, lease_table

    table = lease_table(alosim.load_results(lease_sweep[0]))
    assert sorted(set(table.visibility_timeout_s)) == [10.0, 40.0] and len(table) == 16
    assert lease_duplicates(table).axes[0].containers


def test_the_closed_form_is_drawn_where_it_applies():
    import pandas as pd

    from alosim.plots.figure import figure_against

    base = alosim.load_scenario(SCENARIOS / "ack-lost.yaml", ["messages=400", "receiver.dedup.kind=none"])
    rows, scenarios = [], {}
    for point, loss in enumerate((0.1, 0.3)):
        scenario = base.with_overrides({"network.ack.loss": loss})
        scenarios[point] = scenario
        for replication in range(2):
            summary = alosim.simulate(scenario, seed=replication).summary
            rows.append({"point": point, "network.ack.loss": loss, "replication": replication, "error": "",
                         **{k: v for k, v in summary.items() if k != "network.ack.loss"}})
    fig = figure_against(pd.DataFrame(rows), "network.ack.loss", "duplicate_deliveries_per_message",
                         scenarios=scenarios)
    (closed,) = [line for line in fig.axes[0].get_lines() if line.get_label() == "closed form"]
    assert list(closed.get_ydata()) == pytest.approx([0.1 / 0.9, 0.3 / 0.7])


def test_plot_of_one_run_lists_the_plots_it_has(tmp_path):
    out = tmp_path / "r"
    assert invoke("run", str(SCENARIOS / "ack-lost.yaml"), "--out", str(out), "--no-plot",
                  "--set", "messages=100").exit_code == 0
    (run,) = (out / "ack-lost").iterdir()
    shown = invoke("plot", str(run))
    assert shown.exit_code == 0 and "is one run; plots of it:" in shown.stdout
    assert "growth" in shown.stdout and "overload: only a single hop with a scheduled pause" in shown.stdout


def test_the_overload_picture_names_its_variant_and_keeps_its_legends_off_the_data(tmp_path, monkeypatch):
    import alosim.plots as plots

    shown = {}
    monkeypatch.setattr(plots, "save", lambda fig, path: shown.setdefault("fig", fig))
    out = tmp_path / "r"
    assert invoke("run", str(SCENARIOS / "metastable-retry-storm.yaml"), "--out", str(out), "--no-plot",
                  "--set", "receiver.queue.lifo_above=20", "--set", "duration=20s").exit_code == 0
    (run,) = (out / "metastable-retry-storm").iterdir()
    assert invoke("plot", str(run), "--kind", "overload").exit_code == 0
    fig = shown["fig"]
    assert fig._suptitle.get_text() == "metastable-retry-storm [lifo_above=20, duration=20s]"
    for ax in fig.axes:
        assert ax.get_legend().get_bbox_to_anchor().x0 > ax.get_window_extent().x1 - 1


def test_the_dedicated_sweep_plots_keep_lines_at_zero_visible():
    from matplotlib.figure import Figure

    from alosim.plots import keep_zero_visible

    fig = Figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 0])
    ax.plot([0, 1], [0, 5])
    keep_zero_visible(fig)
    assert ax.get_ylim()[0] < 0
    log = fig.add_subplot()
    log.set_yscale("log")
    log.plot([1, 2], [1, 10])
    before = log.get_ylim()
    keep_zero_visible(fig)
    assert log.get_ylim() == before  # a log axis has no zero to show


def test_plot_of_a_sweep_no_dedicated_plot_fits_draws_the_default_instead_of_refusing(lease_sweep, tmp_path):
    shown = invoke("plot", str(lease_sweep[0]), "--out", str(tmp_path))
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines()[0].endswith(
        "duplicate_effects_per_message-vs-broker.visibility_timeout-by-consumer.dedup.kind.png")


def test_a_variant_is_named_in_the_titles_of_its_pictures():
    from alosim.fieldunits import variant

    assert variant("alosim run s.yaml --set sender.retry.policy=fixed --set 'receiver.queue.lifo_above=20'") == (
        "policy=fixed, lifo_above=20")
    assert variant("alosim run s.yaml") == ""


def test_the_growth_picture_of_a_run_names_its_variant(tmp_path, monkeypatch):
    import alosim.plots as plots

    titles = []
    monkeypatch.setattr(plots, "save", lambda fig, path: titles.append(fig.axes[0].get_title()))
    assert invoke("run", str(SCENARIOS / "ack-lost.yaml"), "--out", str(tmp_path),
                  "--set", "messages=100", "--set", "network.ack.loss=0.1").exit_code == 0
    assert titles and titles[0].startswith("ack-lost [messages=100, loss=0.1] (seed 7)")
