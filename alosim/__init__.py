"""alosim: a deterministic discrete-event simulator of at-least-once delivery.

The names below are imported on first use (``alosim.simulate`` loads the
model, ``alosim.interact`` the widgets), so that ``import alosim`` -- and the
command line, which imports only what each command needs -- starts fast.
"""

from __future__ import annotations

import sys
import types
from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Each public name and the module that defines it.
_WHERE: dict[str, str] = {
    "interact": "alosim.knobs",
    "Scenario": "alosim.scenario",
    "ScenarioError": "alosim.scenario",
    "load_scenario": "alosim.scenario",
    "parse_scenario": "alosim.scenario",
    "RunResult": "alosim.simulate",
    "simulate": "alosim.simulate",
    "aggregate": "alosim.store",
    "load_results": "alosim.store",
    "run_sweep": "alosim.sweep",
}

if TYPE_CHECKING:
    from alosim.knobs import interact
    from alosim.scenario import Scenario, ScenarioError, load_scenario, parse_scenario
    from alosim.simulate import RunResult, simulate
    from alosim.store import aggregate, load_results
    from alosim.sweep import run_sweep


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'alosim' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


class _Package(types.ModuleType):
    """The package, whose public names are not shadowed by its submodules.

    Loading a submodule binds it to its package's attribute of the same name:
    ``alosim.simulate`` would become the module once anything imported
    ``alosim.simulate``. Here that binding is skipped for the public names, so
    ``alosim.simulate`` stays the function (as it was when this package
    imported its names eagerly); the module is in ``sys.modules``.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _WHERE and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "RunResult",
    "Scenario",
    "ScenarioError",
    "__version__",
    "aggregate",
    "interact",
    "load_results",
    "load_scenario",
    "parse_scenario",
    "run_sweep",
    "simulate",
]
