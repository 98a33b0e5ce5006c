"""The scenario reference: every field of a scenario file, from the pydantic models.

The page walks :class:`alosim.scenario.Scenario` depth first. Each model (a
section of the file) gets one heading, the dotted paths where it appears, its
docstring, and a table of its fields: the key as written in YAML (aliases
such as ``for`` included), its type with the unit the file takes it in
(durations, rates and sizes are read by :mod:`alosim.units`), the bounds the
schema enforces, the default, and the field's description.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic.functional_validators import BeforeValidator
from pydantic_core import PydanticUndefined

from alosim import units
from alosim.scenario import Scenario
from docsgen.markup import docstring, to_markdown

#: How a value written with a unit is read, by the function that parses it.
UNITS: dict[Any, tuple[str, str]] = {
    units.parse_duration: ("duration", "seconds; written `0.25`, `250ms`, `2s`, `1min`"),
    units.parse_rate: ("rate", "per second; written `100` or `100/s`"),
    units.parse_size: ("size", "bytes; written `67108864`, `64MiB` or `512MB`"),
}

_BOUNDS = ((annotated_types.Ge, "ge", "≥"), (annotated_types.Gt, "gt", ">"),
           (annotated_types.Le, "le", "≤"), (annotated_types.Lt, "lt", "<"),
           (annotated_types.MinLen, "min_length", "at least items:"))


@dataclass
class TypeText:
    """A field's type as a reader needs it: words, the unit, the bounds, and the
    sections (models) it leads to."""

    words: str
    unit: str = ""
    bounds: list[str] = field(default_factory=list)
    models: list[type[BaseModel]] = field(default_factory=list)


def _bounds(metadata: list[Any]) -> list[str]:
    found: list[str] = []
    for item in metadata:
        items = item.metadata if isinstance(item, FieldInfo) else [item]
        for each in items:
            for kind, attr, sign in _BOUNDS:
                if isinstance(each, kind):
                    value = getattr(each, attr)
                    found.append(f"{sign} {_number(value)}")
    return found


def _number(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**6:
        exponent = len(str(abs(value))) - 1
        if value == 10**exponent:
            return f"10^{exponent}"
        if value & (value - 1) == 0:
            return f"2^{value.bit_length() - 1}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def describe(annotation: Any, metadata: list[Any] | None = None) -> TypeText:
    """The reader's words for a type annotation of the scenario schema."""
    metadata = list(metadata or [])
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        inner = _read_as(describe(base), extra)
        inner.bounds = _bounds([*extra, *metadata]) or inner.bounds
        return inner
    if origin in (Union, types.UnionType):
        arms = [a for a in typing.get_args(annotation) if a is not type(None)]
        parts = [describe(a) for a in arms]
        models = [m for p in parts for m in p.models]
        if len(models) == len(arms) > 1 and all(m.__module__ == "alosim.dists" for m in models):
            # A distribution: one of the dist kinds, each its own section.
            names = ", ".join(f"[{_title(m).split('dist: ')[-1].rstrip(')')}](#{_anchor(m)})" for m in models)
            parts = [TypeText(f"distribution ({names})", models=models)]
        text = TypeText(" or ".join(p.words for p in parts),
                        unit="; ".join(p.unit for p in parts if p.unit),
                        bounds=[b for p in parts for b in p.bounds] + _bounds(metadata),
                        models=[m for p in parts for m in p.models])
        if len(arms) < len(typing.get_args(annotation)):
            text.words += " or null"
        return text
    if origin is Literal:
        return TypeText("one of " + ", ".join(f"`{v}`" for v in typing.get_args(annotation)))
    if origin in (list, tuple):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        if origin is tuple and len(args) == 2 and args[0] == args[1]:
            item = describe(args[0])
            return TypeText(f"pair of {item.words}s", item.unit, models=item.models)
        item = describe(args[0]) if args else TypeText("value")
        return TypeText(f"list of {item.words}", item.unit, _bounds(metadata), item.models)
    if origin is dict:
        _, value = typing.get_args(annotation)
        item = describe(value)
        return TypeText(f"mapping of name to {item.words}", item.unit, models=item.models)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return TypeText(f"[{_title(annotation)}](#{_anchor(annotation)})", models=[annotation])
    words = {float: "number", int: "whole number", bool: "true or false", str: "text"}
    return _read_as(TypeText(words.get(annotation, "any value"), bounds=_bounds(metadata)), metadata)


def _read_as(text: TypeText, metadata: list[Any]) -> TypeText:
    """The words and unit of a value read by a validator (a duration, a rate, a flag)."""
    for item in metadata:
        func = getattr(item, "func", None) if isinstance(item, BeforeValidator) else None
        if func in UNITS:
            text.words, text.unit = UNITS[func]
        elif func is not None and func.__name__ == "_flag":
            text.words = "true or false"
        elif func is not None and func.__name__ == "_whole":
            text.words = "whole number"
    return text


def _title(model: type[BaseModel]) -> str:
    dist = model.model_fields.get("dist") if model.__module__ == "alosim.dists" else None
    if dist is not None and typing.get_origin(dist.annotation) is Literal:
        return f"{model.__name__} (dist: {typing.get_args(dist.annotation)[0]})"
    return model.__name__


def _anchor(model: type[BaseModel]) -> str:
    return model.__name__.lower()


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return "required"
    else:
        value = info.default
    if isinstance(value, BaseModel):
        dumped = value.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        return "its defaults" if not dumped else f"`{_inline(dumped)}`"
    if value is None:
        return "null"
    return f"`{_inline(value)}`"


def _inline(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    if isinstance(value, (int, float)):
        return _number(value)
    return str(value) if value != "" else '""'


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def walk(root: type[BaseModel] = Scenario) -> Iterator[tuple[type[BaseModel], list[str]]]:
    """Every model reachable from ``root`` with the dotted paths it is found at, in
    the order a reader meets them (depth first, fields in declaration order)."""
    paths: dict[type[BaseModel], list[str]] = {root: [""]}
    order: list[type[BaseModel]] = [root]

    def visit(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            key = info.alias or name
            for sub in describe(info.annotation, info.metadata).models:
                path = f"{prefix}{key}"
                if sub not in paths:
                    paths[sub] = [path]
                    order.append(sub)
                    visit(sub, f"{path}.")
                elif path not in paths[sub]:
                    paths[sub].append(path)

    visit(root, "")
    for model in order:
        yield model, paths[model]


def page() -> str:
    """The Markdown of the scenario reference."""
    out = [
        "# Scenario reference",
        "",
        "Every key a scenario file may hold, generated from the schema that validates it "
        "(`alosim/scenario.py`) each time the site is built. A misspelt key is an error, never "
        "ignored. Durations, rates and sizes take units; the *type* column says which. "
        "`alosim schema` prints the same schema as JSON Schema, for editors.",
        "",
    ]
    for model, paths in walk():
        out.append(f"## {_title(model)} {{#{_anchor(model)}}}")
        out.append("")
        where = ", ".join(f"`{p}`" for p in paths if p)
        if where:
            out.append(f"*Found at:* {where}")
            out.append("")
        text = docstring(model)
        if text:
            out.append(text)
            out.append("")
        out.append("| key | type | unit | bounds | default | description |")
        out.append("| --- | --- | --- | --- | --- | --- |")
        for name, info in model.model_fields.items():
            kind = describe(info.annotation, info.metadata)
            description = to_markdown(info.description or "")
            out.append("| " + " | ".join(_cell(c) for c in (
                f"`{info.alias or name}`", kind.words, kind.unit, ", ".join(kind.bounds),
                _default(info), description or "see the section's text")) + " |")
        out.append("")
    return "\n".join(out)
