"""The ``alosim`` command line: run, sweep, plot, validate, trace, schema.

Printing and exit codes live here and nowhere else. Every expected failure
(a bad scenario, an unwritable output folder) is reported as one message
naming the file and the field, with exit status 2 and nothing written.
"""

from __future__ import annotations

import json
import math
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import click

from alosim import __version__
from alosim.text import printable

if TYPE_CHECKING:
    from alosim.scenario import Scenario

# Each command imports what it needs when it runs: ``alosim --help`` loads
# neither the schema (pydantic) nor numpy, pandas or matplotlib.

F = TypeVar("F", bound=Callable[..., Any])


def _print_error(message: str) -> None:
    # Lines are split at "\n" only (a ScenarioError lists one problem a line);
    # any other line break or control character came from the input: escaped.
    for line in message.split("\n"):
        click.echo(f"alosim: error: {printable(line)}", err=True)


def _fail(message: str) -> None:
    _print_error(message)
    sys.exit(2)


def _friendly(func: F) -> F:
    """Turn expected errors into one clear message and exit status 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from alosim.files import OutputError, reason
        from alosim.scenario import ScenarioError

        try:
            return func(*args, **kwargs)
        except ScenarioError as exc:
            _fail(str(exc))
        except OutputError as exc:
            _fail(str(exc))
        except OSError as exc:
            # The last net for the surroundings (a file system that fails where
            # no check expected it): still one line that names the path. One
            # without a path is standard output's, reported by main().
            if exc.filename is None:
                raise
            _fail(f"{exc.filename}: {reason(exc)}")

    return wrapper  # type: ignore[return-value]


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
    from alosim import theory
    from alosim.results import prepare_out, write_run
    from alosim.scenario import load_scenario
    from alosim.simulate import simulate

    scenario = load_scenario(file, overrides).with_seed(seed)
    if scenario.sweep is not None:
        click.echo(f"alosim: note: {printable(file)} has a sweep section; 'alosim run' runs only its "
                   f"base point. To run the sweep: alosim sweep {printable(file)}", err=True)
    prepare_out(out, scenario.name)  # before any simulating: a bad --out costs nothing
    if check_determinism:
        _check_determinism(file, overrides, seed)
    with _progress(scenario) as progress:
        result = simulate(scenario, progress=progress)
    folder = write_run(result, out, plot=not no_plot, command=_command())
    click.echo(format_summary(scenario, result.summary, result.wall_time_s))
    if scenario.broker is None:
        verdict = result.recovery()
        if verdict.trigger is not None:
            summary = result.summary
            work = summary["duplicate_work_fraction"]
            click.echo(f"overload: goodput {summary['goodput_per_s']:.4g}/s of an offered "
                       f"{summary['offered_per_s']:.4g}/s; duplicate work "
                       + ("-" if work is None else f"{work:.1%}") + " of all processing")
            click.echo(verdict.describe())
    theory_lines = theory.format_theory(theory.compare(scenario, result.summary, result.series))
    if theory_lines:
        click.echo(theory_lines)
    click.echo(f"\nresults: {printable(_shown(folder))}")
    from alosim.budget import stop_note

    note = stop_note(result.summary, scenario.budget.stall_events, scenario.budget.memory)
    if note:
        click.echo(note)
    for line in result.bugs:
        click.echo(printable(line))
    failed = ", ".join(k for k, v in result.checks.items() if not v and not k.startswith("books_"))
    if failed:
        click.echo(f"guarantee violated ({scenario.semantics}): {failed}")


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
    click.echo(verdict.describe(), err=True)


@contextmanager
def _progress(scenario: Scenario) -> Iterator[Callable[[float, int], None] | None]:
    """A progress bar on standard error for runs long enough to want one (and
    only on a terminal): messages created, with simulated time beside them."""
    from tqdm import tqdm

    total = scenario.messages
    if total is None or total < 200_000 or not sys.stderr.isatty():
        yield None
        return
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
    click.echo(json.dumps({"fingerprint": result.fingerprint, "seed": result.seed}))


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(files: Sequence[Path]) -> None:
    """Check scenario FILES; print one line per file."""
    from alosim.scenario import ScenarioError, load_scenario

    bad = 0
    for file in files:
        try:
            scenario = load_scenario(file)
        except ScenarioError as exc:
            bad += 1
            _print_error(str(exc))
        else:
            click.echo(f"{printable(file)}: ok ({scenario.name}, {scenario.semantics})")
    if bad:
        sys.exit(2)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of a scenario file (for editors)."""
    from alosim.scenario import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


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
    diagram = tracing.mermaid(events)
    click.echo(tracing.format_log(events))
    click.echo("\n```mermaid")
    click.echo(diagram, nl=False)
    click.echo("```")
    for line in result.bugs:
        click.echo(printable(line))
    if mermaid_path is not None:
        write_text_atomic(mermaid_path, diagram)
        click.echo(f"mermaid diagram: {printable(mermaid_path)}")
    if pictures:
        from alosim import plots, seqdiagram

        traced = len({e.message for e in events if e.message >= 0})
        figure = seqdiagram.draw(
            events,
            title=f"{scenario.name} ({scenario.semantics}, seed {scenario.seed}): "
            f"{traced} message{'s' if traced != 1 else ''}",
            data_latency_s=scenario.network.data.latency.mean,
            ack_latency_s=scenario.network.ack.latency.mean,
        )
        for path, _ in pictures:
            plots.save(figure, path)
            click.echo(f"sequence diagram: {printable(path)}")


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

    Results land in OUT/<name>/sweep-<swept paths>-<hash>/; running the same sweep again
    computes only what is missing, so an interrupted sweep resumes.
    """
    from alosim import plots as plotting
    from alosim.executors import ExecutorError, make_executor
    from alosim.scenario import load_scenario
    from alosim.store import aggregate, load_sweep, plots_folder
    from alosim.sweep import SweepInterrupted, describe, expand, run_sweep

    from alosim.results import prepare_out

    plan = expand(load_scenario(file, overrides))
    prepare_out(out, plan.name)  # before starting any worker: a bad --out costs nothing
    kind = executor_kind or ("dask" if scheduler else "auto")
    click.echo(describe(plan))
    try:
        with make_executor(kind, jobs, scheduler) as executor:
            click.echo(f"executor: {kind}, {'up to ' if kind == 'auto' else ''}{executor.workers} "
                       f"worker{'s' if executor.workers != 1 else ''}")
            outcome = run_sweep(plan, out=out, executor=executor, progress=not no_progress,
                                retry_errors=retry_errors, command=_command())
    except SweepInterrupted as exc:
        click.echo(f"\nalosim: {exc}; run the same command again to compute the rest", err=True)
        sys.exit(130)
    except ExecutorError as exc:
        _fail(str(exc))
    data = load_sweep(outcome.folder)
    click.echo(format_sweep_table(aggregate(data.runs), data.parameters))
    click.echo(f"\nruns: {outcome.total} ({outcome.reused} stored before, {outcome.computed} computed, "
               f"{outcome.errors} failed)")
    if outcome.errors:
        failed = data.runs[data.runs["error"] != ""].iloc[0]
        click.echo(f"first failure (point {failed['point']}, replication {failed['replication']}): "
                   f"{failed['error']}")
    click.echo(f"results: {printable(_shown(outcome.folder))}")
    if not no_plot:
        for path in plotting.write_sweep_plots(data, plots_folder(outcome.folder)):
            if path.suffix == ".png":
                click.echo(f"plot: {printable(path)}")


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

    scenario = load_scenario(file, overrides)
    exploring.check_vary(scenario, exploring.explore_of(scenario))
    exploring.check_crashes(scenario, exploring.explore_of(scenario), exact=False)
    prepare_out(out, scenario.name)  # before starting any worker: a bad --out costs nothing
    kind = executor_kind or ("dask" if scheduler else "auto")
    try:
        with make_executor(kind, jobs, scheduler) as executor:
            click.echo(f"exploring {scenario.name}: {runs} runs, explore seed {seed}, executor {kind} "
                       f"({'up to ' if kind == 'auto' else ''}{executor.workers} "
                       f"worker{'s' if executor.workers != 1 else ''})")
            findings = exploring.explore(scenario, runs, seed=seed, out=out, executor=executor,
                                         progress=not no_progress, draw=not no_plot)
    except exploring.ExploreInterrupted as exc:
        click.echo(_lines(exploring.format_findings(exc.findings, where=Path.cwd())))
        click.echo(f"\nalosim: {exc}; run the same command again to continue", err=True)
        sys.exit(130)
    except ExecutorError as exc:
        _fail(str(exc))
    click.echo(_lines(exploring.format_findings(findings, where=Path.cwd())))
    click.echo(f"\nfindings: {printable(exploring.shown_path(findings.folder, Path.cwd()))}")


def _lines(text: str) -> str:
    """Each line printable (a path from --out may hold anything)."""
    return "\n".join(printable(line) for line in text.split("\n"))


@cli.command()
@click.argument("results", type=click.Path(path_type=Path))
@click.option("--kind", "kinds", multiple=True, type=click.Choice(
    ["duplicates", "store", "escapes", "latency", "tradeoff", "commit-interval", "collapse",
     "overload"]),
    help="Which plot (repeatable; default: every plot that fits the sweep). 'overload' draws "
    "one run (RESULTS is its folder): queue length and goodput around its slowdown.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the PNG and SVG files (default: RESULTS/plots).")
@click.option("--sweep", "which", metavar="NAME", default=None,
              help="Which sweep, when RESULTS holds several: its folder name or a part only it "
              "contains (default: the most recent).")
@_friendly
def plot(results: Path, kinds: Sequence[str], out: Path | None, which: str | None) -> None:
    """Draw the comparison plots of the sweep results in RESULTS (or, with --kind
    overload, the overload picture of the run whose folder is RESULTS)."""
    from alosim import plots as plotting
    from alosim.store import load_sweep, plots_folder

    if "overload" in kinds:
        if set(kinds) != {"overload"}:
            _fail("--kind overload draws one run: give it alone, with the run's folder")
        from alosim.plots_overload import write_overload_plot

        for path in write_overload_plot(results, out or results / "plots"):
            click.echo(printable(path))
        return

    data = load_sweep(results, which, note=lambda message: click.echo(f"alosim: note: {message}", err=True))
    if not kinds:
        kinds = [k for k in plotting.PLOT_KINDS if plotting.unfit_reason(k, data) is None]
        if not kinds:
            reasons = "; ".join(f"{k}: {plotting.unfit_reason(k, data)}" for k in plotting.PLOT_KINDS)
            _fail(f"{data.folder}: no plot fits this sweep ({reasons})")
    assert data.folder is not None
    for path in plotting.write_sweep_plots(data, out or plots_folder(data.folder), kinds):
        click.echo(printable(path))


# (measure, header in two lines, is a count): words as the run summary has them.
_SWEEP_COLUMNS: list[tuple[str, tuple[str, str], bool]] = [
    ("duplicate_deliveries_per_message", ("duplicate deliveries", "per message"), False),
    ("duplicate_processing_per_message", ("duplicate processing", "per message"), False),
    ("lost_per_message", ("lost", "per message"), False),
    ("delivery_latency_p99_s", ("create -> processed", "p99 (s)"), False),
    ("dedup_entries_peak", ("dedup store", "entries, peak"), True),
]


def format_sweep_table(agg: Any, parameters: Sequence[str], confidence: float = 0.95) -> str:
    """One line per point: its parameters, runs, and mean ± CI half-width of key measures."""
    from alosim.store import value_text

    shown = [(m, label, count) for m, label, count in _SWEEP_COLUMNS if f"{m}_mean" in agg]
    top = ["" for _ in parameters] + [""] + [label[0] for _, label, _ in shown]
    header = [*parameters, "runs", *(label[1] for _, label, _ in shown)]
    rows = []
    for _, row in agg.iterrows():
        cells = [value_text(row[p]) for p in parameters] + [str(row["runs"])]
        for m, _, count in shown:
            mean, high = row[f"{m}_mean"], row[f"{m}_ci_high"]
            half = high - mean
            if mean != mean:
                cells.append("-")
            elif count:
                cells.append(f"{mean:,.0f}" + ("" if half != half else f" ± {half:,.0f}"))
            else:
                cells.append(f"{mean:.4g}" + ("" if half != half else f" ± {half:.2g}"))
        rows.append(cells)
    widths = [max(len(str(c)) for c in column) for column in zip(top, header, *rows)]
    lines = [_interval_legend([int(n) for n in agg["runs"]], confidence)]
    lines += ["  ".join(f"{c:>{w}}" for c, w in zip(cells, widths)).rstrip()
              for cells in [top, header, *rows]]
    return "\n".join(lines)


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
@_friendly
def compare_command(inputs: Sequence[Path], variants: Sequence[str], seed: int | None,
                    overrides: Sequence[str], replications: int) -> None:
    """Compare scenario files or stored runs side by side, with the differences.

    Scenarios run with the same seed (common random numbers); each INPUT is a
    scenario file or a run's results folder. The first input is the baseline.
    """
    from alosim import compare as comparing
    from alosim.scenario import load_scenario

    items: list[comparing.Input] = []
    for path in inputs:
        if path.is_dir():
            items.append(comparing.stored_run(path))
        else:
            scenario = load_scenario(path, overrides)
            items.append(comparing.Input(scenario.name, scenario=scenario))
    base = items[0].scenario
    for variant in variants:
        if base is None:
            _fail("--with changes the first input, which must then be a scenario file")
        assert base is not None
        changes = _split_variant(variant)
        scenario = load_scenario(inputs[0], [*overrides, *changes])
        short = ",".join(f"{c.partition('=')[0].rpartition('.')[2]}={c.partition('=')[2]}" for c in changes)
        items.append(comparing.Input(f"{scenario.name} [{short}]", scenario=scenario))
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
    click.echo(comparing.format_comparison(result))


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
    click.echo(format_entries(folder, found))


# -- the summary table ---------------------------------------------------------

_BACKLOG = "sender backlog (create -> first send)"


def _backlog_title(scenario: Scenario) -> str:
    """The backlog section's title, with what can hold a created message back in this
    scenario: only open-loop arrivals behind a window wait (a closed loop creates a message
    when it can send it; without a window it is sent at once), and a crashed sender with a
    durable outbox keeps those waiting until its restart (no message arrives meanwhile)."""
    sender = scenario.sender
    waits = []
    if sender.rate is not None and sender.window is not None:
        waits.append("window room")
        if sender.durable_outbox and any(f.kind == "crash" and f.target.startswith("sender")
                                         for f in scenario.faults):
            waits.append("a crashed sender's restart")
    return _BACKLOG if not waits else f"{_BACKLOG[:-1]}: waiting for {' or '.join(waits)})"


_SECTIONS: list[tuple[str, list[tuple[str, str]]]] = [
    ("traffic", [
        ("messages", "messages created"),
        ("transmissions", "transmissions"),
        ("transmissions_per_message", "  per message"),
        ("retransmissions", "retransmissions"),
        ("spurious_retransmissions", "  spurious (already delivered)"),
        ("data_lost", "data packets lost"),
        ("acks_lost", "acks lost"),
    ]),
    ("outcome", [
        ("deliveries", "deliveries (arrivals)"),
        ("duplicate_deliveries", "duplicate deliveries"),
        ("duplicate_deliveries_per_message", "  per message"),
        ("duplicates_detected", "duplicates caught by dedup"),
        ("duplicate_processing", "duplicate processing"),
        ("lost", "lost (never processed)"),
        ("gave_up", "sender gave up"),
        ("abandoned", "abandoned in a sender crash"),
        ("unsettled", "unsettled at end"),
    ]),
    ("latency", [
        ("delivery_latency_p50_s", "create -> processed p50"),
        ("delivery_latency_p99_s", "create -> processed p99"),
        ("delivery_latency_max_s", "create -> processed max"),
        ("ack_latency_p50_s", "send -> ack p50"),
        ("ack_latency_p99_s", "send -> ack p99"),
        ("ack_latency_max_s", "send -> ack max"),
    ]),
    (_BACKLOG, [
        ("outbox_wait_p50_s", "outbox wait p50"),
        ("outbox_wait_p95_s", "outbox wait p95"),
        ("outbox_wait_p99_s", "outbox wait p99"),
        ("outbox_wait_max_s", "outbox wait max"),
        ("outbox_wait_mean_s", "outbox wait mean"),
    ]),
    ("dedup store", [
        ("dedup_entries_peak", "entries, peak"),
        ("dedup_entries_final", "entries, final"),
        ("dedup_bytes_peak", "bytes, peak"),
    ]),
    ("run", [
        ("events", "simulation events"),
        ("sim_time_s", "simulated time"),
        ("seed", "seed"),
        ("fingerprint", "fingerprint"),
    ]),
]


_IF_NONZERO: list[tuple[str, str]] = [
    ("network_duplicates", "duplicated by the network"),
    ("partition_drops", "dropped by partitions"),
    ("crashes", "crashes"),
    ("data_dropped_while_down", "data dropped, receiver down"),
    ("acks_dropped_while_down", "acks dropped, sender down"),
    ("dropped_in_crash", "lost in a crash (queued)"),
    ("false_positive_drops", "new messages dropped as dups"),
    ("stale_drops", "given-up copies dropped (seq)"),
    ("acks_in_flight", "acks still travelling at end"),
    ("slowdowns", "receiver pauses, slow-downs"),
    ("queued", "waited for a worker"),
    ("queue_dropped", "dropped by a full queue"),
    ("queue_rejected", "rejected by full queue (nack)"),
    ("queue_evicted", "evicted from full queue"),
    ("nacks_received", "negative acks acted on"),
    ("nacks_in_flight", "nacks still travelling at end"),
]


# The receiver's overload mitigations: their columns exist when the scenario
# turns them on, and are then shown even when 0 (the mitigation had nothing to do).
_RECEIVER_MITIGATIONS: list[tuple[str, str]] = [
    ("arrival_duplicates_dropped", "duplicates dropped on arrival"),
    ("arrival_duplicates_reacked", "  of which acked again"),
    ("expired_discarded", "expired copies discarded"),
]

# The sender's overload mitigations: shown whenever configured (their columns
# exist only then), zero included -- "the budget never refused" is a result.
_SENDER_MITIGATIONS: list[tuple[str, str]] = [
    ("retries_suppressed", "retries suppressed (budget)"),
    ("breaker_opened", "breaker opened"),
    ("short_circuited", "held by an open breaker"),
]


def _fmt(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if key.endswith("_s"):
            from alosim.units import format_duration

            return format_duration(value)
        return f"{value:.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_summary(scenario: Scenario, summary: dict[str, Any], wall_time_s: float) -> str:
    lines = [f"{scenario.name}  ({scenario.semantics}, seed {summary['seed']})"]
    for title, rows in _SECTIONS:
        # A summary stored by an older alosim may lack a column: show what it has.
        present = [(key, label) for key, label in rows if key in summary]
        if not present:
            continue
        if title == _BACKLOG:
            title = _backlog_title(scenario)
        lines.append(f"  {title}")
        for key, label in present:
            lines.append(f"    {label:<30} {_fmt(key, summary[key]):>18}")
    extras = [(key, label) for key, label in _IF_NONZERO if summary.get(key)]
    if extras:
        lines.append("  network and faults")
        for key, label in extras:
            lines.append(f"    {label:<30} {_fmt(key, summary[key]):>18}")
    for side, listed in (("sender", _SENDER_MITIGATIONS), ("receiver", _RECEIVER_MITIGATIONS)):
        mitigations = [(key, label) for key, label in listed if key in summary]
        if mitigations:
            lines.append(f"  {side} mitigations")
            for key, label in mitigations:
                lines.append(f"    {label:<30} {_fmt(key, summary[key]):>18}")
    if "publishes_accepted" in summary:
        lines.extend(_pipeline_lines(summary))
    if "log_records_appended" in summary:
        lines.extend(_log_lines(summary))
    names = _cause_names()
    lines += _cause_lines("duplicates processed, by cause", summary, names.duplicates)
    lines += _cause_lines("losses, by cause", summary, names.losses)
    lines.append("  guarantees")
    for key, value in summary.items():
        if key.startswith("check_"):
            lines.append(f"    {key[6:].replace('_', ' '):<30} {_fmt(key, value):>18}")
    lines.append(f"    {'wall time':<30} {wall_time_s:>17.2f}s")
    return "\n".join(lines)


_PIPELINE_SECTIONS: list[tuple[str, list[tuple[str, str]]]] = [
    ("publish hop (producer -> broker)", [
        ("publishes_accepted", "publishes accepted"),
        ("publish_duplicates_caught", "caught by the broker's store"),
        ("publishes_dropped_while_down", "dropped, broker down"),
        ("broker_publishes_rejected", "refused, queue full (nacked)"),
    ]),
    ("consume hop (broker -> consumers)", [
        ("consume_deliveries", "deliveries"),
        ("consume_redeliveries", "redeliveries"),
        ("redeliveries_per_message", "  per message"),
        ("lease_expiries", "leases expired"),
        ("nacks", "nacks"),
        ("consume_data_lost", "deliveries lost"),
        ("consumer_acks_lost", "consumer acks lost"),
        ("consumer_duplicates_caught", "caught by the consumer's store"),
        ("consumer_dropped_in_crash", "lost in a consumer crash"),
        ("dead_lettered", "dead-lettered"),
    ]),
    ("broker and stores", [
        ("broker_ready_peak", "ready, peak"),
        ("broker_overflow_dropped", "dropped, queue full (head)"),
        ("broker_in_flight_peak", "in flight, peak"),
        ("broker_store_entries_peak", "broker store entries, peak"),
        ("consumer_store_entries_peak", "consumer store entries, peak"),
        ("consume_latency_p50_s", "accepted -> processed p50"),
        ("consume_latency_p99_s", "accepted -> processed p99"),
    ]),
]


def _pipeline_lines(summary: dict[str, Any]) -> list[str]:
    """The pipeline's columns, per hop, and its duplicate effects by (hop, cause)."""
    from alosim.observe_pipeline import BOUNDED_QUEUE_COLUMNS

    lines = []
    for title, rows in _PIPELINE_SECTIONS:
        lines.append(f"  {title}")
        for key, label in rows:
            if key in BOUNDED_QUEUE_COLUMNS and key not in summary:
                continue  # an unbounded queue drops and refuses nothing
            lines.append(f"    {label:<30} {_fmt(key, summary.get(key, 0)):>18}")
    lines += _cause_lines("duplicate effects, by hop and cause", summary, _cause_names().hop_duplicates)
    return lines


class _CauseNames(NamedTuple):
    """The cause columns of :mod:`alosim.guarantees`' registry, each with its printed name."""

    duplicates: dict[str, str]  # a single hop's duplicates_<cause>
    hop_duplicates: dict[str, str]  # a pipeline's duplicates_<hop>_<cause>, named "hop: cause"
    losses: dict[str, str]  # lost_<cause>, every shape's
    order: dict[str, str]  # a log's <cause>, out of key or partition order


#: The hops a pipeline's duplicate causes are charged to (the registry's cause prefixes).
_HOPS = ("publish", "consume")


def _cause_names() -> _CauseNames:
    """Every cause column the registry of causes knows (:mod:`alosim.guarantees`), named."""
    from alosim.guarantees import DUPLICATES, KEY_ORDER, LOSSES

    duplicates: dict[str, str] = {}
    hops: dict[str, str] = {}
    for cause, column in zip(DUPLICATES.causes, DUPLICATES.columns()):
        hop, _, rest = cause.partition("_")
        if hop in _HOPS:
            hops[column] = f"{hop}: {rest.replace('_', ' ')}"
        else:
            duplicates[column] = cause.replace("_", " ")
    return _CauseNames(duplicates, hops,
                       {column: cause.replace("_", " ") for cause, column in zip(LOSSES.causes, LOSSES.columns())},
                       {cause: cause.replace("_", " ") for cause in KEY_ORDER.causes})


def _cause_lines(title: str, summary: dict[str, Any], names: dict[str, str]) -> list[str]:
    """``title`` and one line per cause of ``names`` the run counted (in the summary's
    order): only columns of a registry of causes, never any other count."""
    causes = [(key, value) for key, value in summary.items()
              if key in names and isinstance(value, int) and not isinstance(value, bool) and value]
    if not causes:
        return []
    return [f"  {title}", *(f"    {names[key]:<30} {_fmt(key, value):>18}" for key, value in causes)]


_LOG_SECTIONS: list[tuple[str, list[tuple[str, str]]]] = [
    ("log (producer -> partitions)", [
        ("log_records_appended", "records appended"),
        ("log_publish_duplicates_caught", "retries caught (idempotence)"),
        ("log_publishes_out_of_sequence", "refused out of sequence"),
        ("log_records_expired", "expired by retention"),
    ]),
    ("consumer group", [
        ("log_records_fetched", "records fetched"),
        ("log_records_processed", "records processed"),
        ("log_records_dropped", "dropped unprocessed"),
        ("log_commits", "commits"),
        ("log_commits_landed", "  landed"),
        ("log_commits_failed", "  failed (rebalanced away)"),
        ("log_commits_lost", "  lost in a crash"),
        ("log_lag_peak", "lag, peak (records)"),
        ("log_rebalances", "rebalances"),
        ("log_rebalance_time_s", "  time stopped"),
        ("log_members_kicked_out", "kicked out (stalled)"),
        ("log_consumer_crashes", "consumer crashes"),
        ("duplicates_per_consumer_crash", "replays per crash"),
        ("lost_per_consumer_crash", "losses per crash"),
    ]),
]


def _log_lines(summary: dict[str, Any]) -> list[str]:
    """A log pipeline's columns: the log, the group's offsets and commits, order."""
    lines = []
    for title, rows in _LOG_SECTIONS:
        lines.append(f"  {title}")
        for key, label in rows:
            lines.append(f"    {label:<30} {_fmt(key, summary.get(key, 0)):>18}")
    names = _cause_names()
    lines += _cause_lines("duplicate effects, by hop and cause", summary, names.hop_duplicates)
    for scope in ("key", "partition"):
        lines += _cause_lines(f"effects out of {scope} order, by cause", summary,
                              {f"out_of_order_{scope}_{c}": name for c, name in names.order.items()})
    return lines


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM unwinds like Ctrl-C: temporary files are removed, finished work is kept.
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        try:
            cli(prog_name="alosim")
        finally:
            sys.stdout.flush()  # here, not at exit, where a failure would be a traceback
    except OSError as exc:  # standard output on a full disk, or closed
        _stdout_failed(exc)


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
