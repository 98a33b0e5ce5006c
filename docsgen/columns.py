"""The summary-column reference: what a run's summary and time series hold.

The page lists the guarantees and the columns that charge each violation to
a cause (:mod:`alosim.guarantees`), every column of the summary with its
meaning, unit, shapes and theory rule from the registry of figures
(:mod:`alosim.figures`, also ``docs/figures.md``), and the sampled series of a
single hop (:mod:`alosim.observe`).
"""

from __future__ import annotations

from alosim import figures, guarantees, observe
from docsgen.markup import first_paragraph, to_markdown


def _codes(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def page() -> str:
    """The Markdown of the summary-column reference."""
    out = [
        "# Summary columns",
        "",
        "Generated from the registries of `alosim/guarantees.py` and `alosim/observe/__init__.py` each "
        "time the site is built. The guarantee and counter columns are columns of a run's "
        "`summary.csv` (and of a sweep's `runs.csv`); the series columns are those of its "
        "`timeseries.csv`.",
        "",
        "## Guarantees and their causes {#guarantees}",
        "",
        to_markdown(first_paragraph(guarantees)),
        "",
        "| guarantee (`check_<name>`) | made by | total column | cause columns |",
        "| --- | --- | --- | --- |",
    ]
    for promise in guarantees.PROMISES:
        measure = promise.measure
        out.append(f"| `{promise.name}` | {', '.join(promise.semantics)} | `{measure.total}` | "
                   f"{_codes(measure.columns())} |")
    out += [
        "",
        "## Every column, from the registry of figures {#counters}",
        "",
        "Each column of the summary, its label and unit, the shapes it belongs to (bold: a run of "
        "that shape leads with it) and the closed form that explains it (`alosim.figures`):",
        "",
        *[line.replace("## ", "### ", 1) for line in figures.reference().split("\n")[7:]],
        "",
        "## The sampled time series {#series}",
        "",
        "Sampled every `observe.sample_every` (`alosim.observe.SERIES_COLUMNS`), one row per sample "
        "in `timeseries.csv`:",
        "",
        _codes(observe.SERIES_COLUMNS),
        "",
    ]
    return "\n".join(out)
