"""A YAML loader that remembers where each mapping key and list item came from.

Suites and config files are loaded into ``LineDict``/``LineList`` (plain dict/list subclasses) that know the
1-based line of every key and item, so a validation error anywhere inside can name its file and line.

Suite files come from pull requests, so loading is bounded: what ``*alias`` references add once expanded is
counted while the file is composed, and a file that would expand past ``MAX_ALIAS_NODES`` nodes or
``MAX_ALIAS_CHARS`` characters (a "billion laughs" bomb) fails at the alias that crosses the limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from helm_eval._gc import gc_paused
from helm_eval.config._errors import SuiteError

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# libyaml reports a reader error's position in bytes of the UTF-8 text, PyYAML's own reader in characters
_POSITION_IN_BYTES = _BaseLoader is not yaml.SafeLoader

MAX_ALIAS_NODES = 100_000
"""Nodes (scalars, lists, mappings, keys) that all ``*alias`` references of one file may add once expanded."""
MAX_ALIAS_CHARS = 4_000_000
"""Characters of scalar text that all ``*alias`` references of one file may add once expanded."""

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_VALUE_TAG = "tag:yaml.org,2002:value"
_MAPPING_TAG = yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG
_SEQUENCE_TAG = yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG
_LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")


class LineDict(dict[Any, Any]):
    """A dict that knows its own line and the line of each key."""

    line: int
    key_lines: dict[Hashable, int]


class LineList(list[Any]):
    """A list that knows its own line and the line of each item."""

    line: int
    item_lines: list[int]


class _BoundedComposer(Composer):
    """PyYAML's composer (fed by libyaml's parser when present), counting what each alias adds once expanded.

    Aliases share one node, so loading a bomb is cheap; everything that later walks the data (templates,
    guardrail scans, reports) would pay for the expansion. The count is what that walk would cost.
    """

    name: str
    # provided by the parser this is mixed with (libyaml's or PyYAML's)
    check_event: Callable[..., bool]
    peek_event: Callable[[], Any]

    def __init__(self) -> None:
        super().__init__()
        self._open: set[str] = set()
        self._sizes: dict[Node, tuple[int, int]] = {}
        self._alias_nodes = 0
        self._alias_chars = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if not self.check_event(AliasEvent):
            anchor = self.peek_event().anchor
            if anchor is None:
                return super().compose_node(parent, index)
            self._open.add(anchor)
            try:
                return super().compose_node(parent, index)
            finally:
                self._open.discard(anchor)
        event = self.peek_event()
        line = event.start_mark.line + 1
        if event.anchor in self._open:
            message = f"alias *{event.anchor} refers to a node that contains it; YAML data cannot nest itself"
            raise SuiteError(self.name, line, message)
        node = super().compose_node(parent, index)
        if node is None:
            return None
        nodes, chars = self._expanded(node)
        self._alias_nodes += nodes
        self._alias_chars += chars
        if self._alias_nodes > MAX_ALIAS_NODES:
            raise SuiteError(self.name, line, _too_big(f"{MAX_ALIAS_NODES:,} nodes"))
        if self._alias_chars > MAX_ALIAS_CHARS:
            raise SuiteError(self.name, line, _too_big(f"{MAX_ALIAS_CHARS:,} characters"))
        return node

    def _expanded(self, root: Node) -> tuple[int, int]:
        """Nodes and scalar characters of ``root`` with every alias inside expanded; each node is sized once."""
        sizes = self._sizes
        stack: list[tuple[Node, bool]] = [(root, False)]
        while stack:
            node, children_done = stack.pop()
            if node in sizes:
                continue
            if isinstance(node, ScalarNode):
                sizes[node] = (1, len(node.value))
                continue
            children = _children(node)
            if not children_done:
                stack.append((node, True))
                stack.extend((child, False) for child in children if child not in sizes)
                continue
            nodes, chars = 1, 0
            for child in children:
                child_nodes, child_chars = sizes[child]
                nodes += child_nodes
                chars += child_chars
            sizes[node] = (nodes, chars)
        return sizes[root]


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _too_big(limit: str) -> str:
    return (
        f"YAML aliases expand to more than {limit} (a billion-laughs bomb?); write the data out, or use fewer aliases"
    )


class _QuickResolver:
    """PyYAML's resolver, minus work that gives the same tags: libyaml calls it for every node it composes.

    There are no path resolvers (``add_path_resolver``), so descending and ascending do nothing, and the tag of a
    plain scalar depends only on its text: each distinct short text is resolved once per file.
    """

    yaml_path_resolvers: dict[Any, Any]
    _resolved: dict[str, str]

    def descend_resolver(self, current_node: Node | None, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is not ScalarNode:
            return super().resolve(kind, value, implicit)  # type: ignore[misc,no-any-return]
        if not implicit[0]:  # quoted, or tagged with ``!``
            return _STR_TAG
        resolved = self._resolved.get(value)
        if resolved is None:
            resolved = super().resolve(kind, value, implicit)  # type: ignore[misc]
            if len(value) <= 64:
                self._resolved[value] = resolved
        return resolved


class _LineLoader(_QuickResolver, _BaseLoader):  # type: ignore[valid-type,misc]
    """Loads text without aliases (no ``*`` anywhere): nothing can expand, so libyaml composes at full speed."""

    def __init__(self, stream: str) -> None:
        _BaseLoader.__init__(self, stream)
        self._resolved = {}


class _BoundedLineLoader(_QuickResolver, _BoundedComposer, _BaseLoader):  # type: ignore[valid-type,misc]
    """Loads text that may hold aliases, counting their expansion."""

    def __init__(self, stream: str) -> None:
        _BaseLoader.__init__(self, stream)
        _BoundedComposer.__init__(self)
        self._resolved = {}


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> LineDict:
    own = len(node.value)
    special = False  # ``<<`` merge keys and ``=`` value keys, which flattening rewrites
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            own -= 1
            special = True
        elif key_node.tag == _VALUE_TAG:
            special = True
    if special:
        loader.flatten_mapping(node)
    merged = len(node.value) - own  # flattening puts the pairs of ``<<: *x`` first; the mapping's own keys win
    result = LineDict()
    result.line = node.start_mark.line + 1
    key_lines: dict[Hashable, int] = {}
    result.key_lines = key_lines
    own_keys: set[Hashable] = set()
    for index, (key_node, value_node) in enumerate(node.value):
        key = (
            key_node.value
            if key_node.tag == _STR_TAG and type(key_node) is ScalarNode
            else _construct(loader, key_node)
        )
        if not isinstance(key, Hashable):
            raise SuiteError(loader.name, key_node.start_mark.line + 1, "mapping key is not a scalar")
        if index >= merged:
            if key in own_keys:
                raise SuiteError(
                    loader.name,
                    key_node.start_mark.line + 1,
                    f"duplicate key {key!r} (first at line {key_lines[key]})",
                )
            own_keys.add(key)
        if value_node.tag == _STR_TAG and type(value_node) is ScalarNode:
            result[key] = value_node.value
        else:
            result[key] = _construct(loader, value_node)
        key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList(
        child.value if child.tag == _STR_TAG and type(child) is ScalarNode else _construct(loader, child)
        for child in node.value
    )
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


def _construct(loader: yaml.SafeLoader, node: Node) -> Any:
    """The value of ``node``, as ``loader.construct_object(node, deep=True)`` gives it, with less work.

    Plain mappings, lists and strings are built here directly; every other tag (ints, bools, nulls, dates, sets,
    ...) goes through the loader's own constructors. Constructed containers are remembered per node, as
    ``construct_object`` does, so an alias gives the same object as its anchor.
    """
    tag = node.tag
    if tag == _STR_TAG and type(node) is ScalarNode:
        return node.value
    memo = loader.constructed_objects
    if node in memo:
        return memo[node]
    try:
        if tag == _MAPPING_TAG and type(node) is MappingNode:
            data: Any = _construct_mapping(loader, node)
        elif tag == _SEQUENCE_TAG and type(node) is SequenceNode:
            data = _construct_sequence(loader, node)
        else:
            return loader.construct_object(node, deep=True)
    except (ValueError, TypeError, OverflowError) as exc:  # a scalar its tag cannot read: 99999-digit int, bad date
        raise SuiteError(loader.name, node.start_mark.line + 1, f"invalid YAML value: {_one_line(exc)}") from None
    memo[node] = data
    return data


def _one_line(exc: Exception) -> str:
    # Python's int limit message ends with advice for Python programmers ("; use sys.set_int_max_str_digits()")
    return " ".join(str(exc).split("; use sys.")[0].split())


for _loader in (_LineLoader, _BoundedLineLoader):
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(path: Path, display_name: str | None = None) -> Any:
    """Parse a YAML file into ``LineDict``/``LineList``; syntax errors become ``SuiteError`` with file:line."""
    name = display_name or str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SuiteError(name, None, f"cannot read file: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SuiteError(
            name, line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at column {column}); save the file as UTF-8"
        ) from None
    return load_yaml_text(text, name)


def load_yaml_text(text: str, name: str) -> Any:
    """Parse YAML text; ``name`` is used in error messages."""
    loader = _BoundedLineLoader(text) if "*" in text else _LineLoader(text)
    loader.name = name
    try:
        with gc_paused():  # composing allocates several objects per node, all alive until the document is built
            return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        if mark is not None and _tab_at(text, mark.line, mark.column):
            problem = "a tab character in the indentation; YAML indents with spaces only"
        raise SuiteError(name, line, f"invalid YAML: {problem}") from None
    except yaml.reader.ReaderError as exc:
        position = exc.position
        if _POSITION_IN_BYTES:
            position = len(text.encode("utf-8")[:position].decode("utf-8", "ignore"))
        line = text.count("\n", 0, position) + 1
        raise SuiteError(
            name, line, f"invalid YAML: character U+{exc.character:04X} is not allowed; remove it or escape it"
        ) from None
    except yaml.YAMLError as exc:
        raise SuiteError(name, None, f"invalid YAML: {' '.join(str(exc).split())}") from None
    except (ValueError, TypeError, OverflowError) as exc:  # the whole document is one scalar its tag cannot read
        raise SuiteError(name, 1, f"invalid YAML value: {_one_line(exc)}") from None
    finally:
        loader.dispose()


def _tab_at(text: str, line: int, column: int) -> bool:
    """Whether 0-based ``line`` of ``text`` has a tab in its indentation or at ``column`` (a YAML error's mark)."""
    lines = _LINE_BREAK.split(text)
    if not 0 <= line < len(lines):
        return False
    content = lines[line]
    return "\t" in content[: len(content) - len(content.lstrip(" \t"))] or content[column : column + 1] == "\t"


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
        elif index == len(loc) - 1 and isinstance(node, dict) and isinstance(part, str) and not _is_tag(part):
            parts.append(f".{part}" if parts else part)  # a missing field, named at its parent
    return "".join(parts) or "(top level)"


def _is_tag(part: str) -> bool:
    """A pydantic union branch or validator tag (``RepeatSpec``, ``function-after[...]``), not a field name."""
    return part[:1].isupper() or "[" in part
