"""Turning a knob: the sliders read from the ranges, and the rerun behind them, without a browser."""

from __future__ import annotations

import math

import pytest

import alosim
from alosim import knobs
from alosim.scenario import ScenarioError
from tests.conftest import SCENARIOS, make

BASE = """
name: knob
seed: 5
semantics: at-least-once
messages: 20000
sender: {window: 64, retry: {timeout: 300ms}}
network:
  data: {loss: 0.0, latency: {dist: exponential, mean: 10ms}}
  ack: {loss: 0.1, latency: {dist: exponential, mean: 10ms}}
"""


def test_ranges_become_sliders_of_the_right_kind_starting_at_the_scenarios_value():
    found = {k.path: k for k in knobs.knobs(make(BASE), {
        "network.ack.loss": (0, 0.5), "sender.retry.timeout": ("50ms", "1s"), "sender.rate": ("10/s", "500/s"),
        "sender.window": (1, 128), "semantics": ["at-least-once", "exactly-once"],
        "network.data.loss": (0.2, 0.4)})}
    loss = found["network.ack.loss"]
    assert (loss.kind, loss.low, loss.high, loss.start, loss.step) == ("number", 0.0, 0.5, 0.1, 0.005)
    timeout = found["sender.retry.timeout"]
    assert (timeout.kind, timeout.low, timeout.high, timeout.start) == ("duration", 0.05, 1.0, 0.3)
    assert timeout.description == "sender.retry.timeout (s)"
    rate = found["sender.rate"]
    assert (rate.kind, rate.low, rate.high, rate.start) == ("rate", 10.0, 500.0, 10.0)  # closed loop: no rate
    window = found["sender.window"]
    assert (window.kind, window.start, window.step) == ("integer", 64, 1.0)
    assert found["semantics"].choices == ("at-least-once", "exactly-once")
    assert found["semantics"].start == "at-least-once"
    assert found["network.data.loss"].start == 0.2  # 0 is outside the range: the low end


@pytest.mark.parametrize("spec, message", [
    ((0.5, 0.1), "expected low < high"),
    (("50ms", "soon"), "expected a duration"),
    ((True, 1), "expected a range of numbers"),
    (0.3, "expected a range (low, high) or a list of choices"),
    ([], "expected a range (low, high) or a list of choices"),
])
def test_a_range_that_cannot_be_read_names_its_path(spec, message):
    with pytest.raises(ValueError, match=r"^network\.ack\.loss: ") as caught:
        knobs.knobs(make(BASE), {"network.ack.loss": spec})
    assert message in str(caught.value)


def test_a_rerun_applies_the_values_to_a_small_run():
    shown = knobs.rerun(make(BASE), {"network.ack.loss": 0.3, "sender.retry.timeout": 0.5}, limit=3000)
    assert shown.scenario.network.ack.loss == 0.3 and shown.scenario.sender.retry.timeout == 0.5
    assert shown.scenario.messages == 3000  # cut from 20000 so that it answers at once
    table = shown.table.set_index("measure")
    assert table.loc["messages created", "value"] == shown.result.summary["messages"] == 3000
    dup = table.loc["duplicate deliveries"]
    assert dup["value"] == shown.result.summary["duplicate_deliveries"]
    assert dup["per message"] == dup["value"] / 3000
    assert math.isnan(table.loc["messages created", "per message"])
    assert "create -> processed p99 (s)" in table.index  # the registry's words and unit
    # The knob moves the measurement where theory says: p_a / (1 - p_a), within a 99 % interval
    # from the closed-form variance p_a / (1 - p_a)^2 over 3000 messages.
    p = 0.3
    half = 2.5758293035489 * math.sqrt(p / (1 - p) ** 2 / 3000)
    assert abs(dup["per message"] - p / (1 - p)) < half
    top, bottom = shown.figure.axes  # the growth picture: store above, duplicates below
    assert list(bottom.lines[0].get_ydata())[-1] == shown.result.summary["duplicate_deliveries"]
    assert shown.figure.axes[0].get_title() == "network.ack.loss=0.3, sender.retry.timeout=0.5"


def test_the_same_setting_gives_the_same_picture_and_another_a_different_one():
    scenario = make(BASE)
    first = knobs.rerun(scenario, {"network.ack.loss": 0.2}, limit=1000)
    again = knobs.rerun(scenario, {"network.ack.loss": 0.2}, limit=1000)
    other = knobs.rerun(scenario, {"network.ack.loss": 0.4}, limit=1000)
    assert knobs.png(first.figure) == knobs.png(again.figure) != knobs.png(other.figure)
    assert first.result.fingerprint == again.result.fingerprint != other.result.fingerprint


def test_a_rerun_can_draw_the_sequence_of_its_first_messages():
    shown = knobs.rerun(make(BASE), {"network.ack.loss": 0.5}, plot="sequence")
    assert shown.scenario.observe.trace_messages == knobs.SEQUENCE_MESSAGES
    arrows = [p for p in shown.figure.axes[0].patches if (p.get_gid() or "").startswith("arrow ")]
    events = shown.result.trace or []
    assert len(arrows) == sum(e.event in ("send", "ack_sent") for e in events) > knobs.SEQUENCE_MESSAGES
    with pytest.raises(ValueError, match="unknown plot 'cdf'"):
        knobs.rerun(make(BASE), {}, plot="cdf")


def test_a_run_of_fixed_duration_is_cut_by_its_rate():
    scenario = alosim.load_scenario(SCENARIOS / "store-growth-ttl.yaml")  # 120 s at 200/s
    assert knobs.small(scenario, limit=4000).duration == pytest.approx(20.0)
    assert knobs.small(scenario, limit=10**6).duration == scenario.duration
    assert knobs.small(make(BASE), limit=10**6).messages == 20000


def test_the_panel_has_a_slider_per_path_and_redraws_when_one_moves():
    box = alosim.interact(make(BASE), {"network.ack.loss": (0, 0.5), "semantics": ["at-least-once",
                                                                                   "exactly-once"]},
                          limit=500)
    slider, choice, status, table, picture = box.children
    assert (slider.description, slider.min, slider.max, slider.value) == ("network.ack.loss", 0, 0.5, 0.1)
    assert not slider.continuous_update  # reruns when released, not at every pixel
    assert choice.options == ("at-least-once", "exactly-once")
    assert "500 messages" in status.value and "duplicate deliveries" in table.value
    before = picture.value
    slider.value = 0.4
    expected = knobs.rerun(make(BASE), {"network.ack.loss": 0.4, "semantics": "at-least-once"}, limit=500)
    assert picture.value == knobs.png(expected.figure) != before
    assert table.value == knobs.table_html(expected)


def test_the_panel_refuses_a_path_the_scenario_does_not_have():
    with pytest.raises(ScenarioError, match="netwrk"):
        alosim.interact(make(BASE), {"netwrk.ack.loss": (0, 0.5)})
