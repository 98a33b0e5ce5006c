"""Every number of the schema is written as a number, every flag as a flag: one test
walks the whole schema.

The walk starts at :class:`alosim.scenario.Scenario` and follows every field into
every model it can hold (optional sections, lists, mappings, the members of a
union such as the latency distributions), so a field added tomorrow is checked
without anyone adding it here. Each numeric field -- a count, a number, a
probability, a duration, a rate, a size -- gets booleans, strings, NaN,
infinities and control characters, each flag numbers and strings, and must
answer with a :class:`ScenarioError` naming the field's dotted path.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Iterator
from typing import Any, Literal, Union, get_args, get_origin

import pytest
from pydantic import BaseModel
from pydantic.functional_validators import BeforeValidator

from alosim.scenario import Scenario, ScenarioError, _duration_range, schema_models, validate_scenario
from alosim.units import parse_duration, parse_rate, parse_size

Path = tuple[str, ...]
_UNIT_PARSERS = (parse_duration, parse_rate, parse_size, _duration_range)

# A number in every field's place is wrong if it is any of these.
BOOLEANS = [True, False]
NUMERIC_STRINGS = ["1", "0.5", "1e3"]
OTHER_STRINGS = ["many", "", "true", "nan", "inf", "1\x00", "\x1b[31m1", "1\u2028"]
NON_FINITE = [math.nan, math.inf, -math.inf]

#: The least a scenario needs around a field: a pipeline's consumer needs a broker.
BASE: dict[str, Any] = {"name": "walk", "messages": 10}
NEEDS: dict[str, dict[str, Any]] = {"consumer": {"broker": {}}, "network": {"broker": {}}}


def _strip(annotation: Any) -> tuple[Any, list[Any]]:
    """The annotation without ``Annotated`` layers, and the metadata they carried."""
    metadata: list[Any] = []
    while get_origin(annotation) is typing.Annotated:
        metadata.extend(annotation.__metadata__)
        annotation = get_args(annotation)[0]
    return annotation, metadata


def _options(annotation: Any) -> tuple[list[Any], list[Any]]:
    """The alternatives of a union (or the annotation alone), without None, and all metadata."""
    annotation, metadata = _strip(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        options = []
        for arg in get_args(annotation):
            inner, more = _strip(arg)
            metadata += more
            if inner is not type(None):
                options.append(inner)
        return options, metadata
    return [annotation], metadata


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _is_number(annotation: Any) -> bool:
    return annotation in (int, float)


def _tags(model: type[BaseModel]) -> dict[str, Any]:
    """The required single-valued Literal fields of a member of a union (``dist: constant``)."""
    tags = {}
    for name, field in model.model_fields.items():
        annotation, _ = _strip(field.annotation)
        if get_origin(annotation) is Literal and len(get_args(annotation)) == 1:
            tags[field.alias or name] = get_args(annotation)[0]
    return tags


def numeric_fields(model: type[BaseModel] = Scenario, path: Path = (),
                   seen: frozenset[type] = frozenset()) -> Iterator[tuple[Path, dict[str, Any], list[Any]]]:
    """Every numeric field reachable from ``model``: its dotted path, the data that
    must surround it (tags of union members on the way), and the values it must refuse."""
    for name, field in model.model_fields.items():
        key = field.alias or name
        options, metadata = _options(field.annotation)
        metadata += field.metadata  # pydantic moves Annotated[...] metadata of a plain field here
        here = (*path, key)
        yield from _walk(options, metadata, here, seen | {model})


def _walk(options: list[Any], metadata: list[Any], path: Path,
          seen: frozenset[type]) -> Iterator[tuple[Path, dict[str, Any], list[Any]]]:
    numbers = [o for o in options if _is_number(o)]
    if numbers:
        yield path, {}, _refused(options, metadata)
    elif bool in options:  # a flag: true or false, nothing that merely looks like one
        yield path, {}, [1, 0, "true", "yes", "", math.nan, "\x1b[31mtrue"]
    for option in options:
        origin = get_origin(option)
        if _is_model(option) and option not in seen:
            tags = _tags(option)
            for inner, surround, bad in numeric_fields(option, path, seen):
                yield inner, {**_at(path, tags), **_merge(_at(path, tags), surround)}, bad
        elif origin is list:
            (item,) = get_args(option)
            inner_options, inner_meta = _options(item)
            yield from _walk(inner_options, inner_meta, (*path, "0"), seen)
        elif origin is dict:
            _, value = get_args(option)
            inner_options, inner_meta = _options(value)
            yield from _walk(inner_options, inner_meta, (*path, "lost"), seen)
        elif origin is tuple and all(_is_number(_strip(a)[0]) for a in get_args(option)):
            yield path, {}, [[bad, bad] for bad in _refused(list(get_args(option)), metadata)]


def _refused(options: list[Any], metadata: list[Any]) -> list[Any]:
    with_units = any(isinstance(m, BeforeValidator) and m.func in _UNIT_PARSERS for m in metadata)
    bad = [*OTHER_STRINGS, *NON_FINITE]
    if bool not in options:
        bad += BOOLEANS
    if not with_units:  # "250ms", "200/s", "2GiB" and a bare "1" are how units are written
        bad += NUMERIC_STRINGS
    return bad


def _at(path: Path, value: dict[str, Any]) -> dict[str, Any]:
    """``value`` nested under ``path`` (list indices and mapping keys included)."""
    if not value:
        return {}
    out: Any = value
    for part in reversed(path):
        out = [out] if part == "0" else {part: out}
    return out  # type: ignore[no-any-return]


def _merge(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = _merge(out[k], v) if k in out else v
        return out
    if isinstance(a, list) and isinstance(b, list):
        return [_merge(a[0], b[0])]
    return b


def scenario_with(path: Path, surround: dict[str, Any], value: Any) -> dict[str, Any]:
    data = _merge({**BASE, **NEEDS.get(path[0], {})}, surround)
    return _merge(data, _set(path, value))


def _set(path: Path, value: Any) -> Any:
    out: Any = value
    for part in reversed(path):
        out = [out] if part == "0" else {part: out}
    return out


FIELDS = sorted({(".".join(p), repr(s)): (p, s, bad) for p, s, bad in numeric_fields()}.values(),
                key=lambda t: t[0])
CASES = [(path, surround, value) for path, surround, bad in FIELDS for value in bad]


def test_the_walk_reaches_every_model_and_the_new_fields():
    paths = {".".join(p) for p, _, _ in FIELDS}
    # A few that pipelines, logs and overload added, and one of each kind of union member.
    for expected in ("broker.durable", "receiver.dedup_on_arrival", "explore.vary_seed",
                     "broker.partitions", "broker.keys.count", "broker.keys.s", "consumer.fetch_batch",
                     "consumer.commit.interval", "receiver.queue.lifo_above",
                     "sender.circuit_breaker.window", "budget.memory", "expect.lost.min",
                     "network.data.latency.mean", "network.data.loss.p", "faults.0.factor",
                     "explore.crashes.0.at", "observe.recovery.tolerance"):
        assert expected in paths
    reached = {p[0] for p, _, _ in FIELDS}
    assert reached >= {"sender", "network", "receiver", "broker", "consumer", "observe", "faults",
                       "sweep", "budget", "expect", "explore", "guarantees"}
    # Every model of the schema (the list that suggestions for misspelt keys use) is walked.
    walked = {type_ for type_ in schema_models()}
    assert Scenario in walked and len(walked) >= 25


@pytest.mark.parametrize("path, surround, value", CASES,
                         ids=[f"{'.'.join(p)}={v!r}" for p, _, v in CASES])
def test_every_numeric_field_refuses_what_is_not_a_number(path, surround, value):
    data = scenario_with(path, surround, value)
    dotted = ".".join(path)
    with pytest.raises(ScenarioError) as caught:
        validate_scenario(data, "walk.yaml")
    problems = dict(caught.value.problems)
    assert dotted in problems, f"{dotted}={value!r} was not refused by its field: {caught.value}"
    assert problems[dotted]
    assert all(line.isprintable() for line in str(caught.value).split("\n"))
