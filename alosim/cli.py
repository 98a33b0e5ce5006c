"""The ``alosim`` command line: run, sweep, plot, validate, trace, schema.

Printing and exit codes live here and nowhere else. Every expected failure
(a bad scenario, an unwritable output folder) is reported as one message
naming the file and the field, with exit status 2 and nothing written.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import click

from alosim import __version__
from alosim.shown import join_lines, printable

if TYPE_CHECKING:
    from alosim.plots.ahead import PictureProcess
    from alosim.scenario import Scenario

# Each command imports what it needs when it runs: ``alosim --help`` loads
# neither the schema (pydantic) nor numpy, pandas or matplotlib.

F = TypeVar("F", bound=Callable[..., Any])


def _print_error(message: str) -> None:
    # Lines are split at "\n" only (a ScenarioError lists one problem a line);
    # any other line break or control character came from the input: escaped.
    for line in message.split("\n"):
        click.echo(f"alosim: error: {printable(line)}", err=True)


def _echo(message: object = "", *, err: bool = False, nl: bool = True) -> None:
    """``click.echo`` with every line printable: the last net under the printouts,
    which escape what came from input or storage where they build their lines."""
    click.echo(join_lines(str(message).split("\n")), err=err, nl=nl)


def _fail(message: str) -> None:
    _print_error(message)
    sys.exit(2)


def _friendly(func: F) -> F:
    """Turn expected errors into one clear message and exit status 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from alosim.files import OutputError, reason

        try:
            return func(*args, **kwargs)
        except OutputError as exc:
            _fail(str(exc))
        except OSError as exc:
            # The last net for the surroundings (a file system that fails where
            # no check expected it): still one line that names the path. One
            # without a path is standard output's, reported by main().
            if exc.filename is None:
                raise
            _fail(f"{exc.filename}: {reason(exc)}")
        except Exception as exc:
            if not _is_scenario_error(exc):
                raise
            _fail(str(exc))

    return wrapper  # type: ignore[return-value]


def _is_scenario_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a :class:`alosim.scenario.ScenarioError`, without loading the schema
    to ask: none can exist before it is loaded (``alosim run`` starts its picture process first)."""
    scenario = sys.modules.get("alosim.scenario")
    return scenario is not None and isinstance(exc, scenario.ScenarioError)


def _load(file: Path, overrides: Sequence[str] = ()) -> Scenario:
    """Load a scenario with its ``--set`` options, and say on standard error how a bare number
    given to a duration field was read when it is likely a mistake (seconds, not milliseconds)."""
    from alosim.fieldunits import override_values, suspicious_durations
    from alosim.scenario import load_scenario

    scenario = load_scenario(file, overrides)
    for warning in suspicious_durations(override_values(overrides), scenario):
        _echo(f"alosim: warning: {printable(warning)}", err=True)
    return scenario


_seed_option = click.option("--seed", type=click.IntRange(min=0), default=None,
                            help="Override the scenario's seed.")
_set_option = click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE",
                           help="Override a field, e.g. --set network.ack.loss=0.2 (repeatable).")


class _Group(click.Group):
    """Remembers the arguments it was called with: the exact command is stored with
    the results it writes (``alosim results`` shows it)."""

    invoked_with: list[str] | None = None

    def main(self, args: Sequence[str] | None = None, *rest: Any, **kwargs: Any) -> Any:
        _Group.invoked_with = list(sys.argv[1:] if args is None else args)
        return super().main(args, *rest, **kwargs)


def _command() -> str:
    """The command being run, quoted so that it can be pasted into a shell."""
    import shlex

    return "alosim " + shlex.join(_Group.invoked_with or [])


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="alosim")
def cli() -> None:
    """alosim: simulate at-least-once delivery and measure what it costs."""


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_seed_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help="Results folder.")
@_set_option
@click.option("--no-plot", is_flag=True, help="Do not draw growth.png.")
@click.option("--check-determinism", is_flag=True,
              help="First run the scenario in two separate processes with different hash "
              "seeds and fail unless their fingerprints agree.")
@_friendly
def run(file: Path, seed: int | None, out: Path, overrides: Sequence[str], no_plot: bool,
        check_determinism: bool) -> None:
    """Run a scenario FILE once, print its summary and write its results."""
    if no_plot:
        _run(file, seed, out, overrides, check_determinism, picture=None)
        return
    from alosim.plots.ahead import PictureProcess

    # Started first: matplotlib loads there while this process loads the schema and simulates.
    with PictureProcess() as picture:
        _run(file, seed, out, overrides, check_determinism, picture=picture)


def _run(file: Path, seed: int | None, out: Path, overrides: Sequence[str], check_determinism: bool, *,
         picture: PictureProcess | None) -> None:
    from alosim import theory
    from alosim.results import prepare_out, write_run
    from alosim.simulate import simulate

    scenario = _load(file, overrides).with_seed(seed)
    if scenario.sweep is not None:
        _echo(f"alosim: note: {printable(file)} has a sweep section; 'alosim run' runs only its "
                   f"base point. To run the sweep: alosim sweep {printable(file)}", err=True)
    prepare_out(out, scenario.name)  # before any simulating: a bad --out costs nothing
    if check_determinism:
        _check_determinism(file, overrides, seed)
    with _progress(scenario) as progress:
        result = simulate(scenario, progress=progress)
    folder = write_run(result, out, plot=picture is not None, command=_command(), overrides=overrides,
                       draw=picture.draw_growth if picture is not None else None)
    verdict = None
    if scenario.broker is None:
        found = result.recovery()
        verdict = found.describe() if found.trigger is not None else None
    from alosim.printout import format_summary

    _echo(format_summary(scenario, result.summary, result.wall_time_s, verdict=verdict))
    theory_lines = theory.format_theory(theory.compare(scenario, result.summary, result.series))
    if theory_lines:
        _echo(theory_lines)
    _echo(f"\nresults: {printable(_shown(folder))}")
    from alosim.budget import stop_note

    note = stop_note(result.summary, scenario)
    if note:
        _echo(note)
    for line in result.bugs:
        _echo(line)
    failed = ", ".join(k for k, v in result.checks.items() if not v and not k.startswith("books_"))
    if failed:
        _echo(f"guarantee violated ({scenario.semantics}): {failed}")


def _shown(path: Path) -> Path:
    """``path`` relative to the working folder when it lies inside it (shorter to read)."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _check_determinism(file: Path, overrides: Sequence[str], seed: int | None) -> None:
    from alosim import determinism

    try:
        verdict = determinism.check(file, overrides, seed)
    except determinism.CheckError as exc:
        _fail(str(exc).removeprefix("alosim: error: "))
    if not verdict.ok:
        _fail(f"{printable(file)}: {verdict.describe()}")
    _echo(verdict.describe(), err=True)


@contextmanager
def _progress(scenario: Scenario) -> Iterator[Callable[[float, int], None] | None]:
    """A progress bar on standard error for runs long enough to want one (and
    only on a terminal): messages created, with simulated time beside them."""
    total = scenario.messages
    if total is None or total < 200_000 or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=total, unit="msg", unit_scale=True, file=sys.stderr, leave=False,
              desc=scenario.name) as bar:

        def update(sim_time_s: float, created: int) -> None:
            bar.update(created - bar.n)
            bar.set_postfix_str(f"simulated {sim_time_s:,.0f} s", refresh=False)

        yield update


@cli.command(hidden=True)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_seed_option
@_set_option
@_friendly
def fingerprint(file: Path, seed: int | None, overrides: Sequence[str]) -> None:
    """Run FILE and print only its fingerprint, as JSON (used by --check-determinism)."""
    import os

    from alosim.determinism import PARENT_ENV
    from alosim.lifeline import follow_parent
    from alosim.scenario import load_scenario
    from alosim.simulate import simulate

    if os.environ.get(PARENT_ENV, "").isdigit():
        follow_parent(int(os.environ[PARENT_ENV]))  # a child of --check-determinism ends with it

    result = simulate(load_scenario(file, overrides).with_seed(seed))
    _echo(json.dumps({"fingerprint": result.fingerprint, "seed": result.seed}))


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@_set_option
@click.option("--as-topology", is_flag=True,
              help="Also print each scenario as the topology it stands for (its nodes and links).")
def validate(files: Sequence[Path], overrides: Sequence[str], as_topology: bool) -> None:
    """Check scenario FILES (with any --set applied to each); print one line per file."""
    from alosim.scenario import ScenarioError

    bad = 0
    for file in files:
        try:
            scenario = _load(file, overrides)
            if as_topology:
                from alosim.expand import as_topology as expand

                scenario = expand(scenario)
        except ScenarioError as exc:
            bad += 1
            _print_error(str(exc))
        else:
            _echo(f"{printable(file)}: ok ({scenario.name}, {scenario.semantics})")
            if as_topology:
                import yaml

                _echo(yaml.safe_dump(scenario.as_written(), sort_keys=False, allow_unicode=True, width=100),
                      nl=False)
    if bad:
        sys.exit(2)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of a scenario file (for editors)."""
    from alosim.scenario import json_schema

    _echo(json.dumps(json_schema(), indent=2))


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--messages", "-k", type=click.IntRange(min=1, max=10_000), default=3, show_default=True,
              help="Trace the first K messages.")
@_seed_option
@_set_option
@click.option("--mermaid", "mermaid_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also write the Mermaid diagram to this file.")
@click.option("--png", "png_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also draw the sequence diagram, to scale, into this PNG file (at most 100 messages).")
@click.option("--svg", "svg_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also draw the sequence diagram, to scale, into this SVG file (at most 100 messages).")
@_friendly
def trace(file: Path, messages: int, seed: int | None, overrides: Sequence[str],
          mermaid_path: Path | None, png_path: Path | None, svg_path: Path | None) -> None:
    """Print the event log of the first K messages of FILE and its sequence diagram."""
    from alosim import trace as tracing
    from alosim.files import check_file_target, write_text_atomic
    from alosim.scenario import load_scenario
    from alosim.simulate import simulate

    pictures = [(path, suffix) for path, suffix in ((png_path, ".png"), (svg_path, ".svg")) if path]
    for path, suffix in pictures:
        if path.suffix.lower() != suffix:
            _fail(f"{printable(path)}: expected a file name ending in {suffix}")
    if pictures and messages > 100:
        _fail(f"a picture of {messages} messages would be unreadable: draw at most 100 (--messages)")
    for target in [mermaid_path, *(path for path, _ in pictures)]:
        if target is not None:
            check_file_target(target)  # before simulating
    scenario = load_scenario(file, [*overrides, f"observe.trace_messages={messages}"]).with_seed(seed)
    result = simulate(scenario)
    events = result.trace or []
    diagram = tracing.mermaid(events, topology=scenario.topology is not None)
    _echo(tracing.format_log(events))
    _echo("\n```mermaid")
    _echo(diagram, nl=False)
    _echo("```")
    for line in result.bugs:
        _echo(line)
    from alosim.budget import stop_note

    note = stop_note(result.summary, scenario)
    if note:
        _echo(note)
    if mermaid_path is not None:
        write_text_atomic(mermaid_path, diagram)
        _echo(f"mermaid diagram: {printable(mermaid_path)}")
    if pictures:
        from alosim import plots, seqdiagram

        traced = len({e.message for e in events if e.message >= 0})
        try:
            figure = seqdiagram.draw(
                events,
                title=f"{scenario.name} ({scenario.semantics}, seed {scenario.seed}): "
                f"{traced} message{'s' if traced != 1 else ''}",
                # A topology's links each have their own latency: each lost arrow is drawn
                # against its own link's latency as the trace shows it.
                data_latency_s=None if scenario.is_topology else scenario.network.data.latency.mean,
                ack_latency_s=None if scenario.is_topology else scenario.network.ack.latency.mean,
                topology=scenario.is_topology,
            )
        except seqdiagram.PictureTooLarge as exc:
            _fail(f"{printable(file)}: {exc}")
        for path, _ in pictures:
            plots.save(figure, path)
            _echo(f"sequence diagram: {printable(path)}")


# -- sweeps and their plots ------------------------------------------------------


def _many_runs_options(func: F) -> F:
    """The options of every command that runs many simulations (sweep, explore):
    where they run (--jobs, --executor, --scheduler), where results go (--out), --set."""
    for option in reversed([
        click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
                     help="Workers (default: all cores; for dask without --scheduler, the "
                     "LocalCluster's size)."),
        click.option("--executor", "executor_kind", type=click.Choice(["auto", "serial", "local", "dask"]),
                     default=None, help="Where runs execute: auto (the default: in this process "
                     "until the runs left pay for a process pool, then one), serial, local (a process "
                     "pool from the start) or dask."),
        click.option("--scheduler", metavar="ADDRESS", default=None,
                     help="A Dask scheduler to run on, e.g. tcp://10.0.0.5:8786 (implies --executor dask)."),
        click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
                     show_default=True, help="Results folder."),
        _set_option,
    ]):
        func = option(func)
    return func


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_many_runs_options
@click.option("--retry-errors", is_flag=True, help="Run again the runs stored with an error.")
@click.option("--no-plot", is_flag=True, help="Do not draw the comparison plots.")
@click.option("--no-progress", is_flag=True, help="Do not show the progress bar.")
@_friendly
def sweep(file: Path, jobs: int | None, executor_kind: str | None, scheduler: str | None, out: Path,
          overrides: Sequence[str], retry_errors: bool, no_plot: bool, no_progress: bool) -> None:
    """Run the sweep of scenario FILE: every point x replication not stored yet.

    Results land in OUT/<name>/sweep-<swept paths>[-<variant>]-<hash>/ (the variant: the
    --set options that change the scenario); running the same sweep again
    computes only what is missing, so an interrupted sweep resumes.
    """
    from alosim import plots as plotting
    from alosim.executors import ExecutorError, make_executor
    from alosim.scenario import load_scenario
    from alosim.store import aggregate, load_sweep, plots_folder
    from alosim.sweep import SweepInterrupted, describe, expand, run_sweep

    from alosim.results import prepare_out

    plan = expand(_load(file, overrides))
    prepare_out(out, plan.name)  # before starting any worker: a bad --out costs nothing
    kind = executor_kind or ("dask" if scheduler else "auto")
    _echo(describe(plan))
    try:
        with make_executor(kind, jobs, scheduler) as executor:
            _echo(f"executor: {kind}, {'up to ' if kind == 'auto' else ''}{executor.workers} "
                  f"worker{'s' if executor.workers != 1 else ''}")
            outcome = run_sweep(plan, out=out, executor=executor, progress=not no_progress,
                                retry_errors=retry_errors, command=_command(), overrides=overrides)
    except SweepInterrupted as exc:
        _echo(f"\nalosim: {exc}; run the same command again to compute the rest", err=True)
        sys.exit(130)
    except ExecutorError as exc:
        _fail(str(exc))
    data = load_sweep(outcome.folder)
    from alosim.printout import shape_of

    _echo(format_sweep_table(aggregate(data.runs), data.parameters, shape=shape_of(plan.scenario)))
    _echo(f"\nruns: {outcome.total} ({outcome.reused} stored before, {outcome.computed} computed, "
               f"{outcome.errors} failed)")
    if outcome.errors:
        failed = data.runs[data.runs["error"] != ""].iloc[0]
        _echo(f"first failure (point {failed['point']}, replication {failed['replication']}): "
                   f"{printable(failed['error'])}")
    _echo(f"results: {printable(_shown(outcome.folder))}")
    if not no_plot:
        drawn = plotting.write_sweep_plots(data, plots_folder(outcome.folder))
        if not drawn:  # no dedicated plot fits: a figure against the sweep's own axes
            drawn = _figure_plot(data, plots_folder(outcome.folder))
        if not drawn:
            _echo("plot: none fits this sweep (alosim plot FOLDER --x PATH --y FIGURE draws any figure "
                       "against a numeric swept path)")
        for path in drawn:
            if path.suffix == ".png":
                _echo(f"plot: {printable(path)}")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--runs", "-n", type=click.IntRange(min=1, max=1_000_000), default=100, show_default=True,
              help="Variations to draw and run.")
@click.option("--seed", type=click.IntRange(min=0, max=2**63 - 1), default=0, show_default=True,
              help="The explore seed: run i draws its variation from (seed, i).")
@_many_runs_options
@click.option("--no-plot", is_flag=True, help="Do not draw the sequence diagrams of the minimal scenarios.")
@click.option("--no-progress", is_flag=True, help="Do not show the progress bar.")
@_friendly
def explore(file: Path, runs: int, seed: int, jobs: int | None, executor_kind: str | None,
            scheduler: str | None, out: Path, overrides: Sequence[str], no_plot: bool, no_progress: bool) -> None:
    """Search variations of scenario FILE for guarantee violations; shrink each one found.

    What may vary comes from the scenario's explore: section (without one:
    up to two crashes of the receivers, or of a pipeline's consumers, and
    one partition, anywhere in a run); what must hold is its semantics plus
    its guarantees: section. Each kind of
    violation (guarantee, cause) is shrunk to a minimal scenario, written
    with its trace and sequence diagram into OUT/<name>/explore-<hash>/.
    Running the same command again reuses the runs stored there.
    """
    from alosim import explore as exploring
    from alosim.executors import ExecutorError, make_executor
    from alosim.results import prepare_out
    from alosim.scenario import load_scenario

    scenario = _load(file, overrides)
    exploring.check_vary(scenario, exploring.explore_of(scenario))
    exploring.check_crashes(scenario, exploring.explore_of(scenario), exact=False)
    prepare_out(out, scenario.name)  # before starting any worker: a bad --out costs nothing
    kind = executor_kind or ("dask" if scheduler else "auto")
    try:
        with make_executor(kind, jobs, scheduler) as executor:
            _echo(f"exploring {scenario.name}: {runs} runs, explore seed {seed}, executor {kind} "
                       f"({'up to ' if kind == 'auto' else ''}{executor.workers} "
                       f"worker{'s' if executor.workers != 1 else ''})")
            findings = exploring.explore(scenario, runs, seed=seed, out=out, executor=executor,
                                         progress=not no_progress, draw=not no_plot)
    except exploring.ExploreInterrupted as exc:
        _echo(exploring.format_findings(exc.findings, where=Path.cwd()))
        _echo(f"\nalosim: {exc}; run the same command again to continue", err=True)
        sys.exit(130)
    except ExecutorError as exc:
        _fail(str(exc))
    _echo(exploring.format_findings(findings, where=Path.cwd()))
    _echo(f"\nfindings: {printable(exploring.shown_path(findings.folder, Path.cwd()))}")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--broker", "broker_url", required=True, metavar="URL",
              help="The broker to measure: nats://host:port (JetStream) or redis://host:port.")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Play the scenario this many times faster (every duration divided by it).")
@click.option("--messages", "-k", type=click.IntRange(min=1, max=10_000_000), default=None,
              help="Messages to play (default: the scenario's).")
@click.option("--seeds", type=click.IntRange(min=2, max=1000), default=10, show_default=True,
              help="Seeds alosim's prediction is averaged over.")
@_seed_option
@_set_option
@_friendly
def conform(file: Path, broker_url: str, speed: float, messages: int | None, seeds: int,
            seed: int | None, overrides: Sequence[str]) -> None:
    """Play FILE's workload against a real broker and hold alosim's prediction to it.

    Publishes at the scenario's rate, consumes in one consumer process (killed with
    SIGKILL at the scenario's consumer crashes), counts side effects per message, and
    prints duplicates per message, the dead-lettered fraction and duplicates per
    crash, real against simulated. Exit status 0 if every figure agrees, 1 if one
    differs, 2 if the scenario or broker cannot be measured, 3 if the machine was too
    busy to hold the scenario's timers (the verdict is withheld).
    """
    from alosim.conform import ConformError, compare, format_report, make_plan
    from alosim.conform.play import measure
    from alosim.scenario import load_scenario

    scenario = load_scenario(file, overrides).with_seed(seed)
    try:
        plan = make_plan(scenario, speed=speed, messages=messages)
        measurement = measure(plan, broker_url)
    except ConformError as exc:
        _fail(f"{_shown(file)}: {exc}")
    comparison = compare(scenario, plan, measurement, broker_url, seeds=seeds)
    _echo(format_report(comparison))
    sys.exit({"agrees": 0, "differs": 1, "inconclusive": 3}[comparison.verdict])


@cli.command()
@click.argument("results", type=click.Path(path_type=Path))
@click.option("--kind", "kinds", multiple=True, type=click.Choice(
    ["duplicates", "store", "escapes", "latency", "tradeoff", "commit-interval", "collapse",
     "overload"]),
    help="Which plot (repeatable; default: every plot that fits the sweep). 'overload' draws "
    "one run (RESULTS is its folder): queue length and goodput around its slowdown.")
@click.option("--x", "x", metavar="PATH", default=None,
              help="Draw a figure against this swept path (with --y).")
@click.option("--y", "y", metavar="FIGURE", default=None,
              help="The figure to draw against --x: any registered figure the sweep holds, "
              "e.g. duplicate_effects_per_message.")
@click.option("--by", "by", metavar="PATH", default=None, help="One line per value of this swept path.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the PNG and SVG files (default: RESULTS/plots).")
@click.option("--sweep", "which", metavar="NAME", default=None,
              help="Which sweep, when RESULTS holds several: its folder name or a part only it "
              "contains (default: the most recent).")
@_friendly
def plot(results: Path, kinds: Sequence[str], x: str | None, y: str | None, by: str | None,
         out: Path | None, which: str | None) -> None:
    """Draw the comparison plots of the sweep results in RESULTS (or, with --kind
    overload, the overload picture of the run whose folder is RESULTS).

    With --x PATH --y FIGURE [--by PATH], draw any figure of the sweep against any swept
    path, with 95 % intervals and the closed form where one applies. Given one run's
    folder without --kind, list the plots that run has.
    """
    from alosim import plots as plotting
    from alosim.store import load_sweep, plots_folder

    if "overload" in kinds:
        if set(kinds) != {"overload"}:
            _fail("--kind overload draws one run: give it alone, with the run's folder")
        from alosim.plots.overload import write_overload_plot

        for path in write_overload_plot(results, out or results / "plots"):
            _echo(printable(path))
        return
    if (results / "summary.csv").is_file() and not kinds and x is None:
        _echo(_run_plots(results))
        return
    if (x is None) != (y is None):
        _fail("--x and --y go together: --x a swept path, --y a figure (--by optional)")
    if by is not None and x is None:
        _fail("--by needs --x and --y")

    data = load_sweep(results, which,
                      note=lambda message: _echo(f"alosim: note: {printable(message)}", err=True))
    assert data.folder is not None
    folder = out or plots_folder(data.folder)
    if x is not None and y is not None:
        for path in _figure_plot(data, folder, x, y, by, required=True):
            _echo(printable(path))
        return
    if not kinds:
        kinds = [k for k in plotting.PLOT_KINDS if plotting.unfit_reason(k, data) is None]
        if not kinds:
            drawn = _figure_plot(data, folder)
            if not drawn:
                reasons = "; ".join(f"{k}: {plotting.unfit_reason(k, data)}" for k in plotting.PLOT_KINDS)
                _fail(f"{data.folder}: no plot fits this sweep ({reasons})")
            for path in drawn:
                _echo(printable(path))
            return
    for path in plotting.write_sweep_plots(data, folder, kinds):
        _echo(printable(path))


def _run_plots(folder: Path) -> str:
    """What ``alosim plot`` can draw of one run's folder, as lines to print."""
    from alosim.overload import last_slowdown_end
    from alosim.scenario import ScenarioError, load_scenario

    lines = [f"{printable(folder)} is one run; plots of it:",
             f"  growth    dedup store and messages over time: {printable(folder / 'growth.png')} "
             "(drawn by alosim run unless --no-plot)"]
    try:
        scenario: Scenario | None = load_scenario(folder / "scenario.yaml")
    except ScenarioError:
        scenario = None
    if scenario is not None and scenario.broker is None and last_slowdown_end(scenario) is not None:
        lines.append(f"  overload  queue length and goodput around its slowdown: "
                     f"alosim plot {printable(folder)} --kind overload")
    else:
        lines.append("  (overload: only a single hop with a scheduled pause or slow-down has one)")
    lines.append("  a sweep has more: alosim plot SWEEP_FOLDER [--kind ...] or --x PATH --y FIGURE")
    return "\n".join(lines)


def _figure_plot(data: Any, folder: Path, x: str | None = None, y: str | None = None, by: str | None = None,
                 required: bool = False) -> list[Path]:
    """Draw figure ``y`` against swept path ``x`` (default: a sensible choice from the sweep's
    own axes) into ``folder`` as PNG and SVG; [] when nothing fits and nothing was required."""
    from alosim import plots as plotting
    from alosim.fieldunits import variant_title
    from alosim.files import check_writable, ensure_folder
    from alosim.plots.figure import PlotChoiceError, default_choice, figure_against
    from alosim.printout import shape_of

    scenarios = plotting.point_scenarios(data)
    first = next(iter(scenarios.values())) if scenarios else None
    if x is None or y is None:
        choice = default_choice(data.runs, shape_of(first) if first is not None else "single-hop")
        if choice is None:
            return []
        x, y, by = choice
    try:
        fig = figure_against(data.runs, x, y, by=by, scenarios=scenarios,
                             name=variant_title(data.name or (first.name if first is not None else ""),
                                                data.variant))
    except PlotChoiceError as exc:
        if required:
            _fail(f"{data.folder}: {exc}")
        return []
    target = ensure_folder(Path(folder))
    check_writable(target)
    stem = f"{y}-vs-{x}" + (f"-by-{by}" if by else "")
    written = []
    for suffix in (".png", ".svg"):
        path = target / f"{stem}{suffix}"
        plotting.save(fig, path)
        written.append(path)
    return written


def format_sweep_table(agg: Any, parameters: Sequence[str], confidence: float = 0.95,
                       shape: str = "single-hop") -> str:
    """One line per point: its parameters (with their units), runs, and mean ± CI half-width
    of the headline figures of the sweep's ``shape`` (:mod:`alosim.figures`)."""
    from alosim.figures import figure, sweep_columns

    shown = [name for name in sweep_columns(shape) if f"{name}_mean" in agg]
    # A figure that is zero at every point, and only shown when it happens, says nothing.
    shown = [name for name in shown if not (figure(name).if_nonzero  # type: ignore[union-attr]
                                            and not agg[f"{name}_mean"].fillna(0).any())]
    figs = [figure(name) for name in shown]
    top = ["" for _ in parameters] + [""] + [f.label for f in figs]  # type: ignore[union-attr]
    header = [*parameters, "runs", *(f"({f.unit})" if f.header() != f.label else ""  # type: ignore[union-attr]
                                     for f in figs)]
    rows = []
    for _, row in agg.iterrows():
        cells = [_setting_cell(p, row[p]) for p in parameters] + [f"{int(row['runs']):,}"]
        for name, fig in zip(shown, figs):
            mean, high = row[f"{name}_mean"], row[f"{name}_ci_high"]
            half = high - mean
            if mean != mean:
                cells.append("-")
                continue
            text = fig.format(mean)  # type: ignore[union-attr]
            if half == half:
                kind = fig.kind  # type: ignore[union-attr]
                text += " ± " + (fig.format(half) if kind in ("duration", "count", "bytes")  # type: ignore[union-attr]
                                 else f"{half:.2g}")
            cells.append(text)
        rows.append(cells)
    widths = [max(len(str(c)) for c in column) for column in zip(top, header, *rows)]
    lines = [_interval_legend([int(n) for n in agg["runs"]], confidence)]
    lines += ["  ".join(f"{c:>{w}}" for c, w in zip(cells, widths)).rstrip()
              for cells in [top, header, *rows]]
    return join_lines(lines)


def _setting_cell(path: str, value: Any) -> str:
    """A swept value in the sweep table: a number with the unit of its field (``30 s``,
    ``200/s``), anything else as a scenario file writes it (``null``, ``true``, text)."""
    from alosim.fieldunits import format_setting
    from alosim.store import value_text

    import numbers

    import numpy as np

    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and value == value:
        return printable(format_setting(path, float(value) if isinstance(value, float) else int(value)))
    return printable(value_text(value))


def _interval_legend(runs: Sequence[int], confidence: float) -> str:
    """What the sweep table's cells are, from how many runs each point has."""
    if max(runs, default=0) <= 1:
        return ("one run per point: each value is that run's, without a confidence interval "
                "(set sweep.replications to 2 or more for one)")
    legend = (f"mean over each point's runs ± half-width of its {confidence:.0%} confidence interval "
              "(Student t, n - 1 degrees of freedom")
    if min(runs) <= 1:
        legend += "; none for a point with one run"
    return legend + ")"


@cli.command(name="compare")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--with", "variants", multiple=True, metavar="PATH=VALUE[,PATH=VALUE...]",
              help="Also compare the first scenario with these fields changed (repeatable: one "
              "variant each), e.g. --with sender.durable_outbox=true.")
@_seed_option
@_set_option
@click.option("--replications", "-n", type=click.IntRange(min=1, max=10_000), default=1, show_default=True,
              help="Run every scenario with N seeds and give each difference a paired t interval.")
@click.option("--all", "every", is_flag=True,
              help="Show every row (default: the headline rows and those that differ).")
@_friendly
def compare_command(inputs: Sequence[Path], variants: Sequence[str], seed: int | None,
                    overrides: Sequence[str], replications: int, every: bool) -> None:
    """Compare scenario files or stored runs side by side, with the differences.

    Scenarios run with the same seed (common random numbers); each INPUT is a
    scenario file or a run's results folder. The first input is the baseline.
    The table shows the headline rows of the first input's shape and the rows
    that differ (--all: every row), in blocks of columns that fit the terminal.
    """
    import shutil

    from alosim import compare as comparing
    from alosim.fieldunits import variant_name, variant_title
    from alosim.scenario import load_scenario

    items: list[comparing.Input] = []
    for path in inputs:
        if path.is_dir():
            items.append(comparing.stored_run(path))
        else:
            scenario = _load(path, overrides)
            items.append(comparing.Input(scenario.name, scenario=scenario))
    base = items[0].scenario
    for variant in variants:
        if base is None:
            _fail("--with changes the first input, which must then be a scenario file")
        assert base is not None
        changes = _split_variant(variant)
        scenario = _load(inputs[0], [*overrides, *changes])
        items.append(comparing.Input(variant_title(scenario.name, variant_name(changes)), scenario=scenario))
    if len(items) < 2:
        _fail("compare needs two inputs: two scenario files or results folders, or one scenario "
              "and --with PATH=VALUE")
    labels: dict[str, int] = {}
    for i, item in enumerate(items):
        labels[item.label] = labels.get(item.label, 0) + 1
        if labels[item.label] > 1:
            items[i] = comparing.Input(f"{item.label} #{labels[item.label]}", item.scenario, item.summary)
    try:
        result = comparing.compare(items, seed=seed, replications=replications)
    except comparing.CompareError as exc:
        _fail(str(exc))
    width = max(60, shutil.get_terminal_size((100, 24)).columns)
    _echo(comparing.format_comparison(result, every=every, width=width))


def _split_variant(variant: str) -> list[str]:
    """``a.b=1,c.d=2`` -> ``["a.b=1", "c.d=2"]`` (a comma starts a new change only
    where a dotted path and ``=`` follow, so values may hold commas)."""
    import re

    parts = [p.strip() for p in re.split(r",(?=\s*[A-Za-z_][\w.]*=)", variant) if p.strip()]
    for part in parts:
        if "=" not in part:
            _fail(f"--with {variant}: expected PATH=VALUE[,PATH=VALUE...], got {part!r}")
    return parts


@cli.command()
@click.argument("folder", required=False, default=Path("results"),
                type=click.Path(file_okay=False, path_type=Path))
def results(folder: Path) -> None:
    """List every run and sweep stored in FOLDER (default: results): when, what was
    swept, points x replications, whether complete, and the command that made it."""
    from alosim.catalog import entries, format_entries

    if not folder.is_dir():
        _fail(f"{folder}: no such results folder")
    try:
        found = entries(folder)
    except OSError as exc:
        _fail(f"{folder}: cannot be read ({exc.strerror or exc})")
    _echo(format_entries(folder, found))


# -- the summary table ---------------------------------------------------------

def __getattr__(name: str) -> Any:
    """``format_summary`` is :mod:`alosim.printout`'s (tests and notebooks import it from
    here); loaded on first use, so that ``alosim --help`` does not load the figures."""
    if name == "format_summary":
        from alosim.printout import format_summary

        return format_summary
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_interrupted = False


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM unwinds like Ctrl-C: temporary files are removed, finished work is kept.
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    try:
        try:
            cli(prog_name="alosim")
        finally:
            sys.stdout.flush()  # here, not at exit, where a failure would be a traceback
    except OSError as exc:  # standard output on a full disk, or closed
        _stdout_failed(exc)
    except SystemExit as exc:
        if _interrupted:
            # Unwinding removed the temporary files and stopped the workers; what is
            # left is freeing the interrupted run's objects, which for a large run
            # takes seconds: leave that to the operating system.
            sys.stderr.flush()
            os._exit(exc.code if isinstance(exc.code, int) else 1)
        raise


def _stdout_failed(exc: OSError) -> None:
    import errno
    import os

    try:  # nothing more can be written there; keep the exit quiet
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    if exc.errno == errno.EPIPE:
        sys.exit(1)  # the reader went away (alosim schema | head): not an error to report
    from alosim.files import reason

    _print_error(f"cannot write to standard output: {reason(exc)}")
    sys.exit(2)


if __name__ == "__main__":
    main()
