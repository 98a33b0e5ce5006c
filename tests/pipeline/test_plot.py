"""The lease comparison plot draws the runs' numbers and the closed form where it applies."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import pytest

import alosim
from alosim import analytic
from alosim.plots.pipeline import lease_duplicates, lease_table
from tests.conftest import SCENARIOS


@pytest.fixture(scope="module")
def runs() -> list[alosim.RunResult]:
    base = alosim.load_scenario(SCENARIOS / "visibility-timeout-too-short.yaml")
    out = []
    for lease in ("20s", "40s"):
        for store in ("none", "set"):
            scenario = base.with_overrides({"broker.visibility_timeout": lease, "messages": 400,
                                            "consumer.dedup.kind": store}, drop_sweep=True)
            out.append(alosim.simulate(scenario))
    return out


def test_the_table_reads_lease_processing_store_and_duplicates(runs) -> None:
    table = lease_table(runs)
    assert list(table.visibility_timeout_s) == [20.0, 20.0, 40.0, 40.0]
    assert set(table.mean_processing_s) == {20.0}
    assert list(table.consumer_store) == ["none", "set", "none", "set"]
    assert list(table.latency_s) == [0.01] * 4
    assert list(table.duplicate_effects) == [r.summary["duplicate_processing"] for r in runs]


def test_the_plot_draws_each_store_and_the_closed_form(runs) -> None:
    fig = lease_duplicates(lease_table(runs))
    ax = fig.axes[0]
    bars = {container.get_label(): container for container in ax.containers}
    assert set(bars) == {"consumer store: none", "consumer store: set"}
    (closed,) = [line for line in ax.get_lines() if line.get_label().startswith("closed form")]
    x, y = closed.get_data()
    for r, v in list(zip(x, y))[::50]:
        assert v == pytest.approx(analytic.lease_redeliveries(r * 20, 0.01, 20))
    px, py = bars["consumer store: none"].lines[0].get_data()
    assert list(px) == [1.0, 2.0]
    assert py[0] == runs[0].summary["duplicate_processing"] / runs[0].summary["messages"]
    assert not math.isnan(py[1])


def test_a_single_hop_is_refused() -> None:
    single = alosim.simulate(alosim.parse_scenario("name: s\nmessages: 5\n"))
    with pytest.raises(ValueError, match="not a pipeline"):
        lease_table([single])
