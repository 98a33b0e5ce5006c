"""The shape of the names a scenario gives: a topology's nodes.

A node's name becomes part of column names (``pay_duplicate_effects``),
stream names and file names, so it is kept to lower-case letters, digits and
``_``, starting with a letter, at most 30 characters. The schema refuses any
other (:class:`alosim.scenario.Topology`); the figures registry reads a
column's node from the same rule (:func:`alosim.figures.figure`).
"""

from __future__ import annotations

import re

NODE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,29}$")


def is_node_name(name: str) -> bool:
    """Whether ``name`` has the shape of a node's name."""
    return NODE_NAME_RE.match(name) is not None
