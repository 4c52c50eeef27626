"""Reading a tasks YAML file with bounds, so a small hostile file cannot take bench down.

yaml.safe_load already refuses code (custom tags). What it does not refuse: an alias bomb (nine levels of nine
aliases is a few hundred bytes that expand to 387 million nodes once anything walks the data), nesting deep
enough to overflow Python's stack, integers with thousands of digits (int() refuses them with ValueError),
NUL and other control characters, and keys that are lists or mappings. Each of these is one line naming the
file (and the line where YAML knows it), never an internal error.
"""

from __future__ import annotations

from typing import Any

import yaml

from benchmark.errors import BenchError

MAX_FILE_BYTES = 4 * 1024 * 1024
"""A tasks file larger than this is refused before it is parsed (the builtin tasks.yaml is ~100 KB)."""
MAX_NODES = 200_000
"""Nodes of the document once every alias is expanded (the builtin tasks.yaml has ~25,000)."""
MAX_DEPTH = 64
"""Nesting of mappings and sequences (tasks.yaml needs about 6)."""
MAX_INT_DIGITS = 64

_INT_TAG = "tag:yaml.org,2002:int"


class _BoundedLoader(yaml.SafeLoader):
    """safe_load that refuses a key repeated in one mapping (YAML would silently keep the last) or a key that is
    not a plain value."""


def _construct_mapping(loader: _BoundedLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        try:
            repeated = key in seen
        except TypeError:
            raise BenchError(f"{loader.name}: line {line}: a key must be a plain value, not a "
                             f"{type(key).__name__}") from None
        if repeated:
            raise BenchError(f"{loader.name}: line {line}: duplicate key '{key}'")
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_BoundedLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _check_size(root: yaml.Node, origin: str) -> None:
    """Count the nodes as if every alias were expanded (memoised per node, so the count itself is cheap) and
    check the depth and integer lengths; iterative, so a deep document cannot overflow the stack here."""
    expanded: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, children_done = stack.pop()
        if id(node) in expanded and not children_done:
            continue
        line = node.start_mark.line + 1
        if depth > MAX_DEPTH:
            raise BenchError(f"{origin}: line {line}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _INT_TAG and len(node.value) > MAX_INT_DIGITS:
                raise BenchError(f"{origin}: line {line}: an integer with {len(node.value)} digits (at most "
                                 f"{MAX_INT_DIGITS})")
            expanded[id(node)] = 1
            continue
        kids = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else list(node.value)
        if not children_done:
            stack.append((node, depth, True))
            stack.extend((k, depth + 1, False) for k in kids if id(k) not in expanded)
            continue
        total = 1 + sum(expanded[id(k)] for k in kids)
        if total > MAX_NODES:
            raise BenchError(f"{origin}: line {line}: expands to more than {MAX_NODES} values (YAML aliases "
                             "repeated inside each other?); write the data out plainly")
        expanded[id(node)] = total


def load_yaml(text: str, origin: str) -> Any:
    """The document of a tasks file's text, within the bounds above; any problem is one BenchError line."""
    return load_yaml_node(text, origin)[0]


def load_yaml_node(text: str, origin: str) -> tuple[Any, yaml.Node | None]:
    """The document and its node tree (whose marks give each key's line, for messages that point at it)."""
    if len(text) > MAX_FILE_BYTES:
        raise BenchError(f"{origin}: {len(text)} characters, more than a tasks file may hold ({MAX_FILE_BYTES})")
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text)  # (the reader refuses NUL and other control characters here)
        loader.name = origin
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_size(node, origin)
        return loader.construct_document(node), node
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise BenchError(f"{origin}: invalid YAML: {where}{problem}") from None
    except RecursionError:
        # The composer is recursive: nesting deep enough to overflow the stack fails before _check_size runs.
        raise BenchError(f"{origin}: invalid YAML: nested more than {MAX_DEPTH} levels deep") from None
    finally:
        if loader is not None:
            loader.dispose()
