"""What unit a scenario field takes, by its dotted path, read off the schema.

A duration field (``sender.retry.timeout``, ``broker.visibility_timeout``)
reads a bare number as seconds and a rate field (``sender.rate``) as events
per second (:mod:`alosim.units`). Tables print a swept duration with its
unit (``30 s``, not ``30.0``), and a bare number given to a duration field
where milliseconds are far more likely is pointed out (:func:`suspicious_durations`).
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from alosim.units import format_duration, parse_duration, parse_rate

DURATION = "duration"
RATE = "rate"


def _unit_of(metadata: Sequence[Any]) -> str | None:
    for item in metadata:
        func = getattr(item, "func", None)
        if func is parse_duration:
            return DURATION
        if func is parse_rate:
            return RATE
    return None


def _parts(annotation: Any) -> list[Any]:
    """The types an annotation may hold: Optional, unions, lists and Annotated unwrapped."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return [annotation]
    args = typing.get_args(annotation)
    if not args:
        return [annotation]
    return [part for arg in args for part in _parts(arg)]


def unit_of(path: str, model: type[BaseModel] | None = None) -> str | None:
    """``duration``, ``rate`` or None for the field at dotted ``path`` (list indices allowed:
    ``faults.0.at``); None as well for a path the schema does not have."""
    if model is None:
        from alosim.scenario import Scenario

        model = Scenario
    key, _, rest = path.partition(".")
    field = model.model_fields.get(key) or next(
        (f for f in model.model_fields.values() if f.alias == key), None)
    if field is None:
        return None
    if rest and rest.split(".")[0].isdigit():
        rest = rest.partition(".")[2]
    if not rest:
        found = _unit_of(field.metadata)
        if found:
            return found
        for part in _parts(field.annotation):
            if typing.get_origin(part) is typing.Annotated:
                found = _unit_of(part.__metadata__)
                if found:
                    return found
        return None
    for part in _parts(field.annotation):
        if isinstance(part, type) and issubclass(part, BaseModel):
            found = unit_of(rest, part)
            if found:
                return found
    return None


def format_setting(path: str, value: Any) -> str:
    """A swept or set value as a person reads it: ``30 s`` for a duration, ``200/s`` for a rate."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    unit = unit_of(path)
    if unit == DURATION:
        return format_duration(float(value))
    if unit == RATE:
        from alosim.figures import sig3

        return f"{sig3(float(value))}/s"
    return f"{value:g}" if isinstance(value, float) else str(value)


#: A bare number in a round-trip-scale duration field at least this many times the
#: scenario's mean network latency (and at least 10 s) is likely meant in milliseconds.
SUSPICIOUS_RATIO = 1000.0
#: The duration fields whose values are of the order of a round trip (retry waits, leases,
#: write and commit delays), by the end of their path. Run lengths, fault times and store
#: windows are not among them: ``duration=60`` or ``ttl=300`` mean what they say.
ROUND_TRIP_FIELDS: tuple[str, ...] = (
    "retry.timeout", "retry.min_timeout", "retry.max_timeout", "visibility_timeout", "redelivery_backoff",
    "write_delay", "commit.latency",
)


def suspicious_durations(overrides: Mapping[str, Any], scenario: Any) -> list[str]:
    """Warnings for bare numbers given to duration fields that are likely a mistake: read as
    seconds, they are more than :data:`SUSPICIOUS_RATIO` times the scenario's mean latencies
    (``--set sender.retry.timeout=100`` beside 10 ms latencies is 100 s, not 100 ms)."""
    out = []
    try:
        latency = max(scenario.network.data.latency.mean, scenario.network.ack.latency.mean)
    except AttributeError:
        return out
    if not latency or latency <= 0:
        return out
    for path, value in overrides.items():
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or unit_of(path) != DURATION
                or not path.endswith(ROUND_TRIP_FIELDS)):
            continue
        if value >= SUSPICIOUS_RATIO * latency and value >= 10:
            out.append(f"--set {path}={value}: a bare number is seconds: read as {format_duration(float(value))}, "
                       f"{value / latency:,.0f} times the mean network latency "
                       f"({format_duration(latency)}); write {value}ms for milliseconds")
    return out


def variant_name(overrides: Sequence[str]) -> str:
    """A variant of a scenario named by its ``--set`` options, each as its last path key and
    value, in the order given (``lifo_above=20, policy=fixed``): what names a variant in run
    folders (:func:`alosim.results.run_dir`), picture titles and ``alosim compare``'s columns."""
    return ", ".join(f"{path.strip().rpartition('.')[2]}={value.strip()}"
                     for path, _, value in (item.partition("=") for item in overrides))


#: The longest variant name a folder's name shows (a fingerprint or hash after it keeps folders apart).
VARIANT_CHARS = 40


def variant_label(variant: str) -> str:
    """A variant's name (:func:`variant_name`) as a run or sweep folder's name shows it: safe
    file-name characters only, at most :data:`VARIANT_CHARS` long (``kind=none, loss=0.3`` ->
    ``kind-none-loss-0.3``); the same on any machine."""
    from alosim.files import file_label

    return file_label(variant, VARIANT_CHARS)


def scenario_overrides(overrides: Sequence[str]) -> list[str]:
    """The ``--set`` options of a sweep that change its scenario: those of its ``sweep``
    section (what is swept, how often) are not a variant, they are the sweep."""
    return [item for item in overrides if item.partition("=")[0].strip().split(".")[0] != "sweep"]


def variant_title(name: str, variant: str = "") -> str:
    """What a picture's title calls a run of scenario ``name`` and variant ``variant``
    (:func:`variant_name`): ``ack-lost [kind=none]``, or ``ack-lost`` for the scenario as written."""
    return f"{name} [{variant}]" if variant else name


def variant(command: str) -> str:
    """The variant an alosim command line ran (:func:`variant_name` of its ``--set`` options),
    for runs stored before their manifest named the variant."""
    import shlex

    try:
        words = shlex.split(command)
    except ValueError:
        return ""
    sets = [words[i + 1] for i, word in enumerate(words[:-1]) if word == "--set"]
    sets += [word.removeprefix("--set=") for word in words if word.startswith("--set=")]
    return variant_name(sets)


def override_values(overrides: Sequence[str]) -> dict[str, Any]:
    """``--set path=value`` options as {path: value}, values read as YAML scalars (unreadable ones
    as text: :func:`alosim.scenario.apply_overrides` reports them)."""
    import yaml

    out: dict[str, Any] = {}
    for item in overrides:
        path, _, raw = item.partition("=")
        try:
            out[path.strip()] = yaml.safe_load(raw) if raw.strip() else None
        except (yaml.YAMLError, ValueError, RecursionError, OverflowError):
            out[path.strip()] = raw
    return out


__all__ = ["DURATION", "RATE", "ROUND_TRIP_FIELDS", "SUSPICIOUS_RATIO", "VARIANT_CHARS", "format_setting",
           "override_values", "scenario_overrides", "suspicious_durations", "unit_of", "variant", "variant_label",
           "variant_name", "variant_title"]
