"""MkDocs hooks (``mkdocs.yml: hooks``): the generated pages, and a site that loads
nothing from another host.

``on_files`` adds the pages generated from the code (see :mod:`docsgen`) as
files of the build: they exist in the site, never in ``docs/``, so there is
no copy to drift.

``on_post_page`` keeps the site self-contained: it must load (and pass its
browser test) without reaching a CDN. The notebook renderer puts a MathJax
loader on every notebook page -- dropped: the notebooks' few formulas read
as TeX source. A Mermaid diagram printed by a notebook would make the page
(and the theme) fetch Mermaid from a CDN: it is shown as its text instead,
beside the picture of the same sequence the notebook draws.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # MkDocs loads this file by path; its package is beside it
    sys.path.insert(0, str(ROOT))

from mkdocs.structure.files import File, Files  # noqa: E402

from docsgen import columns, scenario_reference, theory  # noqa: E402

#: The generated pages: where they appear in the site, and what writes them.
GENERATED = {
    "reference/scenario.md": scenario_reference.page,
    "reference/summary-columns.md": columns.page,
    "theory.md": theory.page,
}

_MATHJAX = re.compile(r"<script[^>]*src=\"https://cdnjs\.cloudflare\.com/ajax/libs/mathjax/[^\"]*\">\s*</script>")


def on_files(files: Files, config: Any) -> Files:
    for uri, write in GENERATED.items():
        files.append(File.generated(config, uri, content=write()))
    return files


def on_post_page(output: str, page: Any, config: Any) -> str:
    output = _MATHJAX.sub("", output)
    return output.replace('<div class="jp-Mermaid"><pre class="mermaid">', '<div class="jp-Mermaid-source"><pre>')
