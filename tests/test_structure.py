"""The import graph of the package: data flows one way, and no module imports one that imports it.

Every ``import`` counts, also those inside functions: a circle made of lazy
imports is still a circle for a reader. Imports under ``if TYPE_CHECKING:``
name types for annotations only; they must respect the floors but do not make
a circle. A module not yet given a floor below is still checked for circles.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "alosim"

# Floors, lowest first: a module imports only modules of its own floor or below.
# The writers at the edge (the run folder with its picture, the notebook panel,
# the command line) come last; plots read the store and never feed it.
FLOORS: tuple[frozenset[str], ...] = (
    frozenset({"units", "streams", "observe", "observe.pipeline", "observe.log", "analytic", "files",
               "lifeline", "executors", "determinism", "stored", "arguments", "shown"}),
    frozenset({"dists", "scenario", "guarantees", "figures", "budget", "yamlread", "trace",
               "seqdiagram.layout", "seqdiagram.pipeline", "overload"}),
    frozenset({"model"}),  # every module of alosim/model/
    frozenset({"simulate"}),
    frozenset({"store", "sweep"}),
    frozenset({"plots", "plots.pipeline", "plots.log", "plots.overload", "plots.figure", "plots.ahead",
               "seqdiagram"}),
    frozenset({"results", "knobs", "explore"}),
    frozenset({"cli"}),
)
# The model's actors still import World's module (simulate) until World moves into
# alosim/model/: the only edge allowed upwards, and only from the model to simulate.
WORLD_EDGES = frozenset({("model", "simulate")})


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]  # a subpackage's __init__ is the subpackage
        name = ".".join(parts)
        if name and name != "__main__":  # the package re-exports; __main__ calls the CLI
            found[name] = path
    return found


def _type_only(tree: ast.Module) -> set[int]:
    """Ids of the import nodes that sit under ``if TYPE_CHECKING:``."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            ids.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return ids


def imports(path: Path, known: set[str], *, types: bool = True) -> set[str]:
    """The package's modules that ``path`` imports, anywhere in it (with ``types=False``,
    leaving out those imported under ``TYPE_CHECKING`` for annotations)."""
    found = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = set() if types else _type_only(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        else:
            continue
        for name in names:
            if name.startswith("alosim."):
                short = name.removeprefix("alosim.")
                if short in known:
                    found.add(short)
    return found


def floor(module: str) -> int | None:
    """The floor of ``module``; None for a module not placed yet (still checked for circles)."""
    group = "model" if module.startswith("model.") or module == "model" else module
    for index, members in enumerate(FLOORS):
        if group in members:
            return index
    return None


def test_each_family_of_modules_is_a_subpackage() -> None:
    # A reader sees the parts from the folder list: no flat plots_*, observe_*, seqdiagram_*.
    flat = sorted(p.name for p in PACKAGE.glob("*.py") if "_" in p.stem and p.stem.split("_")[0]
                  in {"plots", "observe", "seqdiagram", "model"})
    assert flat == []
    assert {"plots", "observe", "seqdiagram", "model"} <= {p.name for p in PACKAGE.iterdir() if p.is_dir()}


def graph(*, types: bool = True) -> dict[str, set[str]]:
    found = modules()
    return {name: imports(path, set(found), types=types) - {name} for name, path in found.items()}


def test_every_import_goes_down_a_floor_or_stays_on_it() -> None:
    upward = []
    for module, targets in sorted(graph().items()):
        for target in sorted(targets):
            edge = (module.split(".")[0], target.split(".")[0])
            low, high = floor(module), floor(target)
            if low is not None and high is not None and high > low and edge not in WORLD_EDGES:
                upward.append(f"alosim.{module} imports alosim.{target}")
    assert upward == []


def test_no_import_circles_outside_the_world_wiring() -> None:
    edges = {m: {t for t in ts if (m.split(".")[0], t.split(".")[0]) not in WORLD_EDGES}
             for m, ts in graph(types=False).items()}
    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                circles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert circles == []


def test_the_modules_of_the_data_flow_have_their_floors() -> None:
    placed = {name for name in modules() if floor(name) is not None}
    assert {"simulate", "store", "results", "plots", "seqdiagram", "seqdiagram.layout", "knobs",
            "files", "model.sender", "model.receiver"} <= placed


def test_the_store_and_the_plots_never_import_the_run_writer() -> None:
    # The circle this guards against: results -> plots -> store -> results.
    edges = graph()
    assert "results" not in edges["store"] and "results" not in edges["plots"]
    assert "plots" not in edges["store"]
