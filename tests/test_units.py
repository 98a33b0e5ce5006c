import math

import pytest

from alosim.units import format_duration, parse_duration, parse_rate


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (0.25, 0.25),
        (2, 2.0),
        ("250ms", 0.25),
        ("2s", 2.0),
        ("5min", 300.0),
        ("1h", 3600.0),
        ("1500us", 0.0015),
        (" 3 ms ", 0.003),
        ("1e3ms", 1.0),
        ("0.5", 0.5),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize(("text", "per_second"), [("100/s", 100.0), ("6000/min", 100.0),
                                                  (200, 200.0), ("1/ms", 1000.0), ("50", 50.0)])
def test_rates(text, per_second):
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize("bad", ["5 parsecs", "ms", "", "1..2s", True, None, [1], "nan", "inf s"])
def test_bad_durations_are_refused_with_a_reason(bad):
    with pytest.raises(ValueError) as info:
        parse_duration(bad)
    assert "duration" in str(info.value) or "unit" in str(info.value)


def test_unknown_unit_lists_the_known_ones():
    with pytest.raises(ValueError, match="known units: .*ms"):
        parse_duration("3 fortnights")


def test_non_finite_refused():
    with pytest.raises(ValueError):
        parse_duration(math.inf)


def test_format_duration():
    assert format_duration(0.0168) == "16.8 ms"
    assert format_duration(2.0) == "2 s"
    assert format_duration(0) == "0 s"
    assert format_duration(600) == "10 min"
    # The largest unit that fits, never an exponent.
    assert format_duration(1e-3) == "1 ms"
    assert format_duration(0.99999e-3) == "1 ms"
    assert format_duration(86400.0) == "24 h"
    assert format_duration(3 * 86400.0) == "3 d"
    assert format_duration(5400.0) == "1.5 h"
    assert format_duration(101.2) == "1.69 min"
    assert format_duration(54.8e-6) == "54.8 us"
