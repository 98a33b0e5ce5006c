"""Pages of the documentation site generated from the code at build time.

Nothing here is a copy: the scenario reference walks the pydantic models of
:mod:`alosim.scenario`, the theory pages read :mod:`alosim.analytic` and the
tests that validate each closed form, and the summary-column reference reads
the registries of :mod:`alosim.observe` and :mod:`alosim.guarantees`.
:mod:`docsgen.hooks` hands the pages to MkDocs (``mkdocs.yml: hooks``); a
page changes when the code does, and ``mkdocs build --strict`` (run by the
test suite) fails on a broken link.
"""
