"""Quantities with units, as people write them in scenario files.

Durations are seconds internally. A scenario may write ``0.25``, ``250ms``,
``2s``, ``5min``, ``1h`` or ``1500us``. Rates are events per second and may be
written ``200``, ``200/s``, ``6000/min`` or ``1/ms``. Sizes are bytes and may
be written ``1048576``, ``512MB`` or ``2GiB`` (kB/MB/GB/TB are powers of
1000, KiB/MiB/GiB/TiB powers of 1024). Parsing is strict: an unknown unit is
an error that lists the units that are known.
"""

from __future__ import annotations

import math
import re

DURATION_UNITS: dict[str, float] = {
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "min": 60.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
# Spaces and tabs may surround a number and its unit; nothing else (``\s``
# would let a line separator or a form feed pass for a space).
_SPACE = r"[ \t]*"
_DURATION_RE = re.compile(rf"^{_SPACE}({_NUMBER}){_SPACE}([a-zµ]*){_SPACE}$")
_RATE_RE = re.compile(rf"^{_SPACE}({_NUMBER}){_SPACE}(?:/{_SPACE}([a-zµ]+))?{_SPACE}$")


def _finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"expected a finite {what}, got {value!r}")
    return value


def plain_number(value: object) -> object:
    """A number written as a number: pydantic would read ``true`` as 1 and
    ``"0.5"`` as 0.5, and let NaN and infinities through. Returns ``value``
    for the field's own type check; ValueError otherwise."""
    if isinstance(value, (bool, str)):
        raise ValueError(f"expected a number, got {_shown(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return value


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_duration(value: object) -> float:
    """Return a duration in seconds from a number (seconds) or a string with a unit."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 250ms or 2s, got {value!r}")
    if isinstance(value, (int, float)):
        return _finite(float(value), "duration")
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as 250ms or 2s, got {value!r}")
    match = _DURATION_RE.match(value)
    if not match:
        raise ValueError(f"expected a duration such as 250ms or 2s, got {value!r}")
    number, unit = match.groups()
    if unit == "":
        unit = "s"
    if unit not in DURATION_UNITS:
        known = ", ".join(sorted(DURATION_UNITS))
        raise ValueError(f"unknown duration unit {unit!r} in {value!r} (known units: {known})")
    return _finite(float(number) * DURATION_UNITS[unit], "duration")


def parse_rate(value: object) -> float:
    """Return a rate in events per second from a number or a string like ``100/s``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a rate such as 100/s, got {value!r}")
    if isinstance(value, (int, float)):
        return _finite(float(value), "rate")
    if not isinstance(value, str):
        raise ValueError(f"expected a rate such as 100/s, got {value!r}")
    match = _RATE_RE.match(value)
    if not match:
        raise ValueError(f"expected a rate such as 100/s or 6000/min, got {value!r}")
    number, unit = match.groups()
    unit = unit or "s"
    if unit not in DURATION_UNITS:
        known = ", ".join(sorted(DURATION_UNITS))
        raise ValueError(f"unknown rate unit {unit!r} in {value!r} (known units: {known})")
    return _finite(float(number) / DURATION_UNITS[unit], "rate")


SIZE_UNITS: dict[str, int] = {
    "B": 1,
    "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
}
_SIZE_RE = re.compile(rf"^{_SPACE}({_NUMBER}){_SPACE}([A-Za-z]*){_SPACE}$")


def parse_size(value: object) -> int:
    """Return a size in bytes from a whole number or a string like ``512MB`` or ``2GiB``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected a size such as 512MB or 2GiB, got {value!r}")
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if not match:
            raise ValueError(f"expected a size such as 512MB or 2GiB, got {value!r}")
        number, unit = match.groups()
        unit = unit or "B"
        if unit not in SIZE_UNITS:
            known = ", ".join(SIZE_UNITS)
            raise ValueError(f"unknown size unit {unit!r} in {value!r} (known units: {known})")
        size = _finite(float(number), "size") * SIZE_UNITS[unit]
    else:
        size = _finite(float(value), "size")
    return int(size)


def format_size(n: float) -> str:
    """A short human form of a number of bytes (powers of 1024)."""
    for unit, factor in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor:
            return f"{n / factor:.3g} {unit}"
    return f"{n:.0f} bytes"


_SHOWN_UNITS: tuple[tuple[str, float], ...] = (
    ("d", 2 * 86400.0), ("h", 3600.0), ("min", 60.0), ("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9),
)


def format_duration(seconds: float) -> str:
    """A duration in the largest unit it fills, to three significant figures:
    ``16.5 ms``, ``1.82 s``, ``24 h``, ``3 d``, ``0 s`` (never ``1e+03us``). Days
    start at two (one day reads as ``24 h``)."""
    if not math.isfinite(seconds):
        return "-" if math.isnan(seconds) else f"{seconds} s"
    if seconds == 0:
        return "0 s"
    for unit, size in _SHOWN_UNITS:
        if abs(seconds) >= size * (1 - 5e-4):  # 59.99 s rounds to 60.0 s: show 1 min
            if unit == "d":  # days from two on: a day reads better as 24 h
                size /= 2
            return f"{_three_figures(seconds / size)} {unit}"
    return f"{_three_figures(seconds / 1e-9)} ns"


def _three_figures(value: float) -> str:
    """Three significant figures without an exponent; thousands separated (``1,440``)."""
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= 2:
        return f"{round(value, 2 - magnitude):,.0f}"
    text = f"{value:.{2 - magnitude}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
