"""The summary-column reference: what a run's summary and time series hold.

Until the registry of figures exists, the page lists the registries the code
already keeps: the guarantees and the columns that charge each violation to
a cause (:mod:`alosim.guarantees`), the counters and the sampled series of a
single hop (:mod:`alosim.observe`). :func:`page` is the one place to switch to
the registry of figures when it lands.
"""

from __future__ import annotations

from alosim import guarantees, observe
from docsgen.markup import first_paragraph, to_markdown


def _codes(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def page() -> str:
    """The Markdown of the summary-column reference."""
    out = [
        "# Summary columns",
        "",
        "Generated from the registries of `alosim/guarantees.py` and `alosim/observe.py` each "
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
        "## Counters of a single hop {#counters}",
        "",
        "Counted by the recorder (`alosim.observe.COUNTER_COLUMNS`), one column each:",
        "",
        _codes(observe.COUNTER_COLUMNS),
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
