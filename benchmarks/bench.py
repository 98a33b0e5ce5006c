"""alosim's speed in one invocation, as ratios that hold on a loaded machine.

Figures (each measured in a fresh interpreter, ``--repeat`` times, the
variants alternating, so that load from other work falls on all alike):

* messages per second of the single hop, against the bare callbacks SimPy
  model and the idiomatic process-per-message one on the same workload
  (``benchmarks/models.py``); of two hops (publish + consume), of a
  three-hop topology chain and of the log, against the single hop;
* peak memory of each of those runs: the process's peak resident set size,
  and what the run added to it over the imports (``run MiB``);
* start-up: wall time of ``alosim --help``, ``alosim validate`` and a
  10-message ``alosim run`` with its picture and without, as a user sees
  it: with the compiled bytecode cached (each tree is run once unmeasured,
  with ``PYTHONPYCACHEPREFIX`` pointing at a temporary folder, so that no
  tree gets ``__pycache__`` folders);
* runs per second of a sweep (40 runs of 1,000 messages) and of a search
  (``alosim explore``, 200 runs of 20 messages), per executor: ``serial``,
  ``local`` (a process pool of 2) and ``auto`` (the default; a tree without it
  gets n/a), with ``auto / serial`` within each tree: the default executor
  should never be slower than serial.

With ``--baseline PATH`` (a checkout of another version, e.g. a git worktree
of main) every alosim figure is measured for both, alternating, and printed
as this / baseline. Each figure is the median over the repeats, with
[min-max]; a ratio is the median of the per-repeat ratios.

``--instructions`` counts instructions under ``valgrind --tool=callgrind``
instead of timing: deterministic to the instruction, so the ratios of the
simulation workloads (per message: the count at ``--messages`` less that at
a tenth of it, so imports and set-up cancel) are the same on a busy machine.

Usage: python benchmarks/bench.py [--baseline DIR] [--repeat 3] [--messages 100000]
                                  [--only simulations startup sweeps explore] [--cases single-hop bare ...]
                                  [--instructions]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
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

SIMULATIONS = ("single-hop", "bare", "idiomatic", "two-hops", "three-hops", "log")
#: Cases a tree can run only if it has the feature (a previous main may not): case -> file.
NEEDS = {"three-hops": Path("alosim/model/topology.py")}
TREE_FREE = ("bare", "idiomatic")  # the plain SimPy models do not depend on alosim's version
STARTUP = ("help", "validate", "run-10-with-picture", "run-10-no-picture")
EXECUTORS = ("serial", "local", "auto")
GROUPS = ("simulations", "startup", "sweeps", "explore")

RUN_CHILD = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[3])
import models
run = models.PREPARE[sys.argv[1]](int(sys.argv[2]))
before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
settled = run()
seconds = time.perf_counter() - started
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "messages": settled, "peak_mib": peak_kib / 1024,
                  "run_mib": (peak_kib - before_kib) / 1024}))
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

EXPLORE_RUNS = 200
EXPLORE_CHILD = """
import json, sys, tempfile, time
from alosim.executors import make_executor
from alosim.explore import explore
from alosim.scenario import load_scenario
scenario = load_scenario(sys.argv[2])
with tempfile.TemporaryDirectory() as out:
    started = time.perf_counter()
    with make_executor(sys.argv[1], 2) as executor:
        explore(scenario, int(sys.argv[3]), seed=1, out=out, executor=executor, draw=False)
    seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "runs": int(sys.argv[3])}))
"""

#: Where the start-up commands cache their bytecode (set by main): start-up is measured as
#: a user sees it, with compiled modules cached, even where PYTHONDONTWRITEBYTECODE is set.
PYCACHE: Path | None = None


def _env(tree: Path, *, cached: bool = False) -> dict[str, str]:
    """The children's environment: ``tree``'s alosim; with ``cached``, bytecode in :data:`PYCACHE`.
    OpenBLAS runs one thread: its idle worker threads would add a varying count of
    instructions to every run (about 2,000 per message) and none of alosim's work."""
    env = dict(os.environ, PYTHONPATH=str(tree), OPENBLAS_NUM_THREADS="1")
    if cached and PYCACHE is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def _has(case: str, tree: Path) -> bool:
    """Whether ``tree`` can run ``case`` (see :data:`NEEDS`)."""
    return case not in NEEDS or (tree / NEEDS[case]).exists()


def simulation(case: str, messages: int, tree: Path) -> dict[str, float]:
    """Messages per second of one run of ``case``, its peak RSS and what the run added to it."""
    out = subprocess.run([PYTHON, "-c", RUN_CHILD, case, str(messages), str(HERE)], env=_env(tree),
                         cwd=tree, check=True, capture_output=True, text=True).stdout
    run = json.loads(out)
    return {"": run["messages"] / run["seconds"], "peak": run["peak_mib"], "run": run["run_mib"]}


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
            "run-10-with-picture": ["run", scenario, "--set", "messages=10"],
            "run-10-no-picture": ["run", scenario, "--set", "messages=10", "--no-plot"]}[case]
    with tempfile.TemporaryDirectory() as cwd:
        started = time.perf_counter()
        subprocess.run([PYTHON, "-m", "alosim", *args], env=_env(tree, cached=True), cwd=cwd, check=True,
                       capture_output=True)
        return time.perf_counter() - started


def sweep(kind: str, tree: Path) -> float:
    """Runs per second of the benchmark sweep on executor ``kind``."""
    out = subprocess.run([PYTHON, "-c", SWEEP_CHILD, kind, SWEEP],
                         env=_env(tree), cwd=tree, check=True, capture_output=True, text=True).stdout
    run = json.loads(out)
    return run["runs"] / run["seconds"]


def search(kind: str, tree: Path) -> float:
    """Runs per second of the benchmark search (``alosim explore``) on executor ``kind``."""
    scenario = str(ROOT / "scenarios" / "explore-safe-config.yaml")
    out = subprocess.run([PYTHON, "-c", EXPLORE_CHILD, kind, scenario, str(EXPLORE_RUNS)],
                         env=_env(tree), cwd=tree, check=True, capture_output=True, text=True).stdout
    run = json.loads(out)
    return run["runs"] / run["seconds"]


def executors_of(tree: Path) -> tuple[str, ...]:
    """The executors ``tree`` has (``auto`` came later than the others)."""
    source = (tree / "alosim" / "executors.py").read_text(encoding="utf-8")
    return tuple(kind for kind in EXECUTORS if kind != "auto" or "class AutoExecutor" in source)


def warm_up(tree: Path) -> None:
    """Run every start-up command once, unmeasured: their bytecode is cached from then on."""
    for case in STARTUP:
        startup(case, tree)


def spread(values: list[float], unit: str) -> str:
    return f"{statistics.median(values):12,.4g} {unit} [{min(values):,.4g}-{max(values):,.4g}]"


def main() -> None:
    global PYCACHE
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
                if case in TREE_FREE and label != "this" or not _has(case, tree):
                    continue
                measure(case, label, lambda: instructions(case, n, tree))
                print(f"{case:>10} {label:>8}: {figures[case, label][-1]:12,.0f} instructions per message",
                      flush=True)
        report(figures, trees, "instructions per message", lower_is_better=True)
        return

    PYCACHE = Path(tempfile.mkdtemp(prefix="alosim-bench-pycache-"))
    try:
        if "startup" in args.only:
            for tree in trees.values():
                warm_up(tree)
        kinds = {label: executors_of(tree) for label, tree in trees.items()}
        for r in range(args.repeat):
            for label, tree in trees.items():
                if "simulations" in args.only:
                    for case in args.cases:
                        if case in TREE_FREE and label != "this" or not _has(case, tree):
                            continue
                        run = simulation(case, args.messages, tree)
                        for what, value in run.items():
                            figures.setdefault((f"{case}{f'-{what}-mib' if what else ''}", label), []).append(value)
                if "startup" in args.only:
                    for case in STARTUP:
                        measure(case, label, lambda: startup(case, tree))
                for group, fn in (("sweeps", sweep), ("explore", search)):
                    if group in args.only:
                        for kind in kinds[label]:
                            measure(f"{'sweep' if group == 'sweeps' else 'explore'}-{kind}", label,
                                    lambda: fn(kind, tree))
            print(f"repeat {r + 1}/{args.repeat} done (load {os.getloadavg()[0]:.2f})", flush=True)
    finally:
        shutil.rmtree(PYCACHE, ignore_errors=True)
    report(figures, trees, "", lower_is_better=False)


def _unit(name: str) -> str:
    if name in STARTUP:
        return "s"
    if name.endswith("-mib"):
        return "MiB"
    return "runs/s" if name.startswith(("sweep-", "explore-")) else "msg/s"


def _lower_is_better(name: str) -> bool:
    """Seconds and MiB: less is better (a ratio is then shown inverted, as a speed-up or a saving)."""
    return _unit(name) in ("s", "MiB")


def _ratio(a: list[float], b: list[float], *, invert: bool) -> str:
    """The median of the per-repeat ratios a/b (b/a with ``invert``), with [min-max]."""
    pairs = [x / y for x, y in zip(a, b)] if len(a) == len(b) else [statistics.median(a) / statistics.median(b)]
    if invert:
        pairs = [1 / p for p in pairs]
    return f"{statistics.median(pairs):.3f}x [{min(pairs):.3f}-{max(pairs):.3f}]"


def report(figures: dict[tuple[str, str], list[float]], trees: dict[str, Path], unit: str, *,
           lower_is_better: bool) -> None:
    """Each figure per tree, the ratios within a tree, and this / baseline."""
    print()
    for (name, label), values in figures.items():
        print(f"{name:>20} {label:>8}: {spread(values, unit or _unit(name))}")

    print("\nratios (as speed: above 1 is faster)")
    for label in trees:
        single = figures.get(("single-hop", label))
        if single is not None:
            for other, what in (("bare", "single hop / bare callbacks"), ("idiomatic", "single hop / idiomatic"),
                                ("two-hops", "two hops / single hop"),
                                ("three-hops", "three-hop chain / single hop"), ("log", "log / single hop")):
                theirs = figures.get((other, "this" if other in TREE_FREE else label))
                if theirs is None:
                    continue
                if other in TREE_FREE:
                    print(f"  {label:>8}  {what:<36} {_ratio(single, theirs, invert=lower_is_better)}")
                else:
                    print(f"  {label:>8}  {what:<36} {_ratio(theirs, single, invert=lower_is_better)}")
        for group in ("sweep", "explore"):
            serial, auto = figures.get((f"{group}-serial", label)), figures.get((f"{group}-auto", label))
            if serial is not None and auto is not None:
                print(f"  {label:>8}  {group + ' auto / serial (at least 1)':<36} {_ratio(auto, serial, invert=False)}")
    if "baseline" in trees:
        print("\nthis / baseline (as speed: above 1 is faster; memory and seconds inverted: above 1 is less)")
        names = [name for name, label in figures if label == "this" and (name, "baseline") in figures]
        for name in names:
            a, b = figures[name, "this"], figures[name, "baseline"]
            print(f"  {name:>20}  {_ratio(a, b, invert=lower_is_better or _lower_is_better(name))}")
        missing = sorted({name for name, label in figures if label == "this" and (name, "baseline") not in figures
                          and name.split("-")[0] not in TREE_FREE})
        if missing:
            print(f"  n/a (not in the baseline): {', '.join(missing)}")


if __name__ == "__main__":
    main()
