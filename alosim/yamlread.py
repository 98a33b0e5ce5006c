"""Reading YAML from people who may not mean well: every cost bounded before it is paid.

``yaml.safe_load`` refuses arbitrary Python objects but not every expensive
input. This module reads scenario files and ``--set`` values with four more
limits, each reported as one line naming the line of the input:

* **size**: a scenario file is at most :data:`MAX_FILE_BYTES`, and it must be
  a regular file (``/dev/zero``, a pipe or a socket would be read for ever);
* **expansion**: an alias (``*name``) shares the node of its anchor, so a
  523-byte file can stand for a billion nodes ("billion laughs"). The
  composed node graph is measured *as if expanded* -- each anchor's size
  computed once, so measuring costs what the file costs -- and refused
  beyond :data:`MAX_NODES` nodes; an alias inside its own anchor (a cycle)
  is refused as well;
* **depth**: nesting beyond :data:`MAX_DEPTH` levels is refused before the
  recursive composer gets near Python's recursion limit;
* **strictness**: a mapping that repeats a key is an error naming both lines
  (YAML says keys are unique; PyYAML would keep the last silently), and an
  integer longer than :data:`MAX_INT_DIGITS` digits is refused before Python
  converts it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from alosim.files import RefusedFile, read_bounded

MAX_FILE_BYTES = 256 << 10  # 256 KiB: the largest shipped scenario is about 2 kB
MAX_NODES = 100_000  # nodes after expanding aliases
MAX_DEPTH = 100  # levels of nesting
MAX_INT_DIGITS = 100  # no field takes a number anywhere near this long

_MERGE_TAG = "tag:yaml.org,2002:merge"


class ReadError(Exception):
    """Input refused by one of the limits above; ``str()`` is one line for a person."""


def _where(node_or_mark: Any) -> str:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    if mark is None:
        return ""
    return f"line {mark.line + 1}, column {mark.column + 1}: "


class StrictLoader(yaml.SafeLoader):
    """``SafeLoader`` with a depth limit, unique keys and bounded integers."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ReadError(f"{_where(self.peek_event().start_mark)}nested more than "
                                f"{MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: dict[Any, Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG or not isinstance(key_node, ScalarNode):
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:  # unhashable: the constructor reports it
                    continue
                if first is not key_node:
                    raise ReadError(f"{_where(key_node)}duplicate key {_short(key)} (first on line "
                                    f"{first.start_mark.line + 1}); a key may appear once in a mapping")
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]

    def construct_yaml_int(self, node: ScalarNode) -> int:
        digits = sum(c.isdigit() for c in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise ReadError(f"{_where(node)}an integer of {digits:,} digits; "
                            f"at most {MAX_INT_DIGITS} are read")
        return super().construct_yaml_int(node)  # type: ignore[no-any-return]


StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_yaml_int)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def expanded_size(root: Node, limit: int = MAX_NODES) -> int:
    """Nodes in ``root`` with every alias expanded, or :class:`ReadError` past ``limit``.

    Depth-first without recursion; each node's size is computed once, so a
    shared anchor costs its size per use in the total but once in time.
    """
    size: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, closing = stack.pop()
        key = id(node)
        children = _children(node)
        if closing:
            open_.discard(key)
            total = 1 + sum(size[id(child)] for child in children)
            if total > limit:
                raise ReadError(f"{_where(node)}holds more than {limit:,} values (each use of an "
                                "alias *name counted in full); a scenario needs far fewer")
            size[key] = total
            continue
        if key in size:
            continue
        if key in open_:
            raise ReadError(f"{_where(node)}an alias refers to the node that contains it")
        open_.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children)
    return size[id(root)]


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def loads(text: str) -> Any:
    """Parse one YAML document within the limits; ``yaml.YAMLError`` for bad syntax."""
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        expanded_size(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_file(path: str | Path, what: str = "a scenario file", kind: str = "a YAML file") -> str:
    """The text of a scenario file (or of another input file a scenario names,
    called ``what``, expected to be ``kind``): a regular file of at most
    :data:`MAX_FILE_BYTES`.

    Raises ``OSError`` (missing, unreadable), ``UnicodeDecodeError`` or
    :class:`ReadError` (too large, not a regular file).
    """
    try:
        data = read_bounded(path, MAX_FILE_BYTES, what, expected=kind)
    except RefusedFile as exc:
        raise ReadError(str(exc)) from None
    return data.decode("utf-8")
