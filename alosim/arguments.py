"""What the public functions are given, checked where they are called.

``alosim.simulate(None)`` would otherwise fail deep inside with an
``AttributeError`` about ``with_seed``, and ``alosim.load_results(None)``
with a ``TypeError`` from ``os.fspath``: messages about alosim's insides,
not about the call. :func:`expect` turns such a call into a ``TypeError``
naming the function, the argument, what it takes and what it got.

This module imports nothing from alosim.
"""

from __future__ import annotations

import os
from typing import Any


def expect(value: Any, kinds: type | tuple[type, ...], function: str, argument: str, wanted: str) -> None:
    """``TypeError`` unless ``value`` is an instance of ``kinds`` (a boolean never
    passes for a number). ``wanted`` says what the argument takes, for a person."""
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    is_bool = isinstance(value, bool) and bool not in kinds
    if is_bool or not isinstance(value, kinds):
        raise TypeError(f"{function}(): {argument} must be {wanted}, got {_described(value)}")


def expect_path(value: Any, function: str, argument: str = "path") -> None:
    """A file or folder name: ``str`` or ``os.PathLike``."""
    expect(value, (str, os.PathLike), function, argument, "a file or folder name (str or pathlib.Path)")


def _described(value: Any) -> str:
    if value is None:
        return "None"
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


__all__ = ["expect", "expect_path"]
