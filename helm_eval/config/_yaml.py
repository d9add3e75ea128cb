"""A YAML loader that remembers where each mapping key and list item came from.

Suites and config files are loaded into ``LineDict``/``LineList`` (plain dict/list subclasses) that know the
1-based line of every key and item, so a validation error anywhere inside can name its file and line.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import yaml

from helm_eval.config._errors import SuiteError

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LineDict(dict[Any, Any]):
    """A dict that knows its own line and the line of each key."""

    line: int
    key_lines: dict[Hashable, int]


class LineList(list[Any]):
    """A list that knows its own line and the line of each item."""

    line: int
    item_lines: list[int]


class _LineLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    pass


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            raise SuiteError(loader.name, key_node.start_mark.line + 1, "mapping key is not a scalar")
        if key in result:
            raise SuiteError(
                loader.name,
                key_node.start_mark.line + 1,
                f"duplicate key {key!r} (first at line {result.key_lines[key]})",
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(path: Path, display_name: str | None = None) -> Any:
    """Parse a YAML file into ``LineDict``/``LineList``; syntax errors become ``SuiteError`` with file:line."""
    name = display_name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(name, None, f"cannot read file: {exc}") from None
    return load_yaml_text(text, name)


def load_yaml_text(text: str, name: str) -> Any:
    """Parse YAML text; ``name`` is used in error messages."""
    loader = _LineLoader(text)
    loader.name = name
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise SuiteError(name, line, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise SuiteError(name, None, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()


def line_of(data: Any, loc: Sequence[Any]) -> int | None:
    """The line of the deepest element of ``loc`` (a pydantic error location) that exists in ``data``."""
    line = getattr(data, "line", None)
    node = data
    for part in loc:
        if isinstance(node, LineDict) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            continue
    return line


def describe_loc(data: Any, loc: Sequence[Any]) -> str:
    """A user-facing path such as ``tests[2].assert[0].value``, dropping pydantic's union branch tags."""
    parts: list[str] = []
    node = data
    for index, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            parts.append(f".{part}" if parts else str(part))
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            parts.append(f"[{part}]")
            node = node[part]
        elif index == len(loc) - 1 and isinstance(node, dict) and isinstance(part, str):
            parts.append(f".{part}" if parts else part)  # a missing field, named at its parent
    return "".join(parts) or "(top level)"
