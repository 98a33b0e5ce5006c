"""alosim: a deterministic discrete-event simulator of at-least-once delivery."""

__version__ = "0.1.0"

from alosim.knobs import interact  # noqa: E402
from alosim.scenario import Scenario, ScenarioError, load_scenario, parse_scenario  # noqa: E402
from alosim.simulate import RunResult, simulate  # noqa: E402
from alosim.store import aggregate, load_results  # noqa: E402
from alosim.sweep import run_sweep  # noqa: E402

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
