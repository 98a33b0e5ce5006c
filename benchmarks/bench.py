"""alosim's speed in one invocation, as ratios that hold on a loaded machine.

Figures (each measured in a fresh interpreter, ``--repeat`` times, the
variants alternating, so that load from other work falls on all alike):

* messages per second of the single hop, against the bare callbacks SimPy
  model and the idiomatic process-per-message one on the same workload
  (``benchmarks/models.py``); of two hops (publish + consume) and of the log,
  against the single hop;
* start-up: wall time of ``alosim --help``, ``alosim validate`` and a
  10-message ``alosim run`` with its picture;
* sweep runs per second, per executor (a 40-run sweep of 1,000 messages each).

With ``--baseline PATH`` (a checkout of another version, e.g. a git worktree
of main) every alosim figure is measured for both, alternating, and printed
as this / baseline. Each figure is the median over the repeats, with
[min-max]; a ratio is the median of the per-repeat ratios.

``--instructions`` counts instructions under ``valgrind --tool=callgrind``
instead of timing: deterministic to the instruction, so the ratios of the
simulation workloads (per message: the count at ``--messages`` less that at
a tenth of it, so imports and set-up cancel) are the same on a busy machine.

Usage: python benchmarks/bench.py [--baseline DIR] [--repeat 3] [--messages 100000]
                                  [--only simulations startup sweeps] [--cases single-hop bare ...]
                                  [--instructions]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable

SIMULATIONS = ("single-hop", "bare", "idiomatic", "two-hops", "log")
TREE_FREE = ("bare", "idiomatic")  # the plain SimPy models do not depend on alosim's version
STARTUP = ("help", "validate", "run-10-with-picture")
EXECUTORS = ("serial", "local", "default")
GROUPS = ("simulations", "startup", "sweeps")

RUN_CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[3])
import models
run = models.PREPARE[sys.argv[1]](int(sys.argv[2]))
started = time.perf_counter()
settled = run()
print(json.dumps({"seconds": time.perf_counter() - started, "messages": settled}))
"""

SWEEP = """
name: bench-sweep
seed: 1
messages: 1000
sender: {window: 32, retry: {timeout: 40ms}}
network:
  data: {loss: 0.1, latency: {dist: exponential, mean: 1ms}}
  ack:  {loss: 0.1, latency: {dist: exponential, mean: 1ms}}
observe: {trace_messages: 0}
sweep:
  grid: {network.ack.loss: [0.0, 0.05, 0.1, 0.2, 0.3]}
  replications: 8
"""

SWEEP_CHILD = """
import json, sys, tempfile, time
from alosim.executors import make_executor
from alosim.scenario import parse_scenario
from alosim.sweep import run_sweep
scenario = parse_scenario(sys.argv[2], source="bench")
with tempfile.TemporaryDirectory() as out:
    started = time.perf_counter()
    with make_executor(sys.argv[1], 2) as executor:
        outcome = run_sweep(scenario, out=out, executor=executor)
    seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "runs": outcome.computed}))
"""


def _env(tree: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(tree))


def simulation(case: str, messages: int, tree: Path) -> float:
    """Messages per second of one run of ``case``."""
    out = subprocess.run([PYTHON, "-c", RUN_CHILD, case, str(messages), str(HERE)], env=_env(tree),
                         cwd=tree, check=True, capture_output=True, text=True).stdout
    run = json.loads(out)
    return run["messages"] / run["seconds"]


def instructions(case: str, messages: int, tree: Path) -> float:
    """Instructions per message of ``case`` under callgrind (set-up and imports cancel out)."""
    def count(n: int) -> int:
        done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                               PYTHON, "-c", RUN_CHILD, case, str(n), str(HERE)],
                              env=_env(tree), cwd=tree, check=True, capture_output=True, text=True)
        match = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
        if match is None:
            raise SystemExit(f"callgrind gave no count for {case}: {done.stderr[-500:]}")
        return int(match.group(1))
    small = max(1, messages // 10)
    return (count(messages) - count(small)) / (messages - small)


def startup(case: str, tree: Path) -> float:
    """Wall seconds of one command, from the process start to its exit."""
    scenario = str(ROOT / "scenarios" / "ack-lost.yaml")
    args = {"help": ["--help"], "validate": ["validate", scenario],
            "run-10-with-picture": ["run", scenario, "--set", "messages=10"]}[case]
    with tempfile.TemporaryDirectory() as cwd:
        started = time.perf_counter()
        subprocess.run([PYTHON, "-m", "alosim", *args], env=_env(tree), cwd=cwd, check=True,
                       capture_output=True)
        return time.perf_counter() - started


def sweep(kind: str, tree: Path, default: str) -> float:
    """Runs per second of the benchmark sweep on executor ``kind`` (``default``: what
    ``alosim sweep`` uses when not told)."""
    out = subprocess.run([PYTHON, "-c", SWEEP_CHILD, default if kind == "default" else kind, SWEEP],
                         env=_env(tree), cwd=tree, check=True, capture_output=True, text=True).stdout
    run = json.loads(out)
    return run["runs"] / run["seconds"]


def default_executor(tree: Path) -> str:
    """What ``alosim sweep`` runs on when not told: ``auto`` where it exists, else ``local``."""
    source = (tree / "alosim" / "executors.py").read_text(encoding="utf-8")
    return "auto" if "class AutoExecutor" in source else "local"


def spread(values: list[float], unit: str) -> str:
    return f"{statistics.median(values):12,.4g} {unit} [{min(values):,.4g}-{max(values):,.4g}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout to compare with")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--only", nargs="+", choices=GROUPS, default=list(GROUPS))
    parser.add_argument("--cases", nargs="+", choices=SIMULATIONS, default=list(SIMULATIONS),
                        help="the simulation workloads to run")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions under callgrind (simulations only)")
    args = parser.parse_args()
    trees = {"this": ROOT}
    if args.baseline is not None:
        trees["baseline"] = args.baseline.resolve()
    load = os.getloadavg()
    print(f"load average at the start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")

    figures: dict[tuple[str, str], list[float]] = {}

    def measure(name: str, label: str, fn: Callable[[], float]) -> None:
        figures.setdefault((name, label), []).append(fn())

    if args.instructions:
        n = args.messages
        for case in args.cases:
            for label, tree in trees.items():
                if case in TREE_FREE and label != "this":
                    continue
                measure(case, label, lambda: instructions(case, n, tree))
                print(f"{case:>10} {label:>8}: {figures[case, label][-1]:12,.0f} instructions per message",
                      flush=True)
        report(figures, trees, "instructions per message", lower_is_better=True)
        return

    defaults = {label: default_executor(tree) for label, tree in trees.items()}
    for r in range(args.repeat):
        for label, tree in trees.items():
            if "simulations" in args.only:
                for case in args.cases:
                    if case in TREE_FREE and label != "this":
                        continue
                    measure(case, label, lambda: simulation(case, args.messages, tree))
            if "startup" in args.only:
                for case in STARTUP:
                    measure(case, label, lambda: startup(case, tree))
            if "sweeps" in args.only:
                for kind in EXECUTORS:
                    measure(f"sweep-{kind}", label, lambda: sweep(kind, tree, defaults[label]))
        print(f"repeat {r + 1}/{args.repeat} done (load {os.getloadavg()[0]:.2f})", flush=True)
    print(f"default executor: {', '.join(f'{label} {kind}' for label, kind in defaults.items())}")
    report(figures, trees, "", lower_is_better=False)


def report(figures: dict[tuple[str, str], list[float]], trees: dict[str, Path], unit: str, *,
           lower_is_better: bool) -> None:
    """Each figure per tree, the ratios within a tree, and this / baseline."""
    def unit_of(name: str) -> str:
        if unit:
            return unit
        return "s" if name in STARTUP else "runs/s" if name.startswith("sweep-") else "msg/s"

    print()
    for (name, label), values in figures.items():
        print(f"{name:>20} {label:>8}: {spread(values, unit_of(name))}")

    def ratio(a: list[float], b: list[float]) -> str:
        pairs = [x / y for x, y in zip(a, b)] if len(a) == len(b) else [statistics.median(a) / statistics.median(b)]
        if lower_is_better:
            pairs = [1 / p for p in pairs]  # as speed: higher is faster
        return f"{statistics.median(pairs):.3f}x [{min(pairs):.3f}-{max(pairs):.3f}]"

    print("\nratios (as speed: above 1 is faster)")
    for label in trees:
        single = figures.get(("single-hop", label))
        if single is None:
            continue
        for other, what in (("bare", "single hop / bare callbacks"), ("idiomatic", "single hop / idiomatic"),
                            ("two-hops", "two hops / single hop"), ("log", "log / single hop")):
            theirs = figures.get((other, "this" if other in TREE_FREE else label))
            if theirs is None:
                continue
            if other in TREE_FREE:
                print(f"  {label:>8}  {what:<36} {ratio(single, theirs)}")
            else:
                print(f"  {label:>8}  {what:<36} {ratio(theirs, single)}")
    if "baseline" in trees:
        print("\nthis / baseline (as speed: above 1 is faster)")
        names = sorted({name for name, label in figures if label == "baseline"},
                       key=[name for name, _ in figures].index)
        for name in names:
            a, b = figures[name, "this"], figures[name, "baseline"]
            slower_is_bigger = lower_is_better or name in STARTUP
            pairs = [x / y for x, y in zip(a, b)]
            if slower_is_bigger:
                pairs = [1 / p for p in pairs]
            print(f"  {name:>20}  {statistics.median(pairs):.3f}x [{min(pairs):.3f}-{max(pairs):.3f}]")


if __name__ == "__main__":
    main()
