"""Tests and prompts kept in files next to a suite: ``file://cases.csv``, ``file://cases.jsonl``, ``file://p.txt``.

promptfoo's semantics: paths are relative to the suite file and may be globs; a CSV's columns are vars except the
``__``-columns (``__expected``, ``__expected1``… hold assertions in promptfoo's shorthand, ``__description``,
``__metric``, ``__threshold``, ``__metadata:key``); a JSONL file holds one test object a line; a YAML or JSON file
holds a list of tests. Every test read from a file keeps that file and its 1-based line, so reports point at the
row. Files must lie inside the rootdir (a suite comes from a pull request; it may not read the runner's files).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from helm_eval.collect._shorthand import ShorthandError, assertion_from_string
from helm_eval.config import LineDict, LineList, SuiteError, load_yaml

FILE_PREFIX = "file://"
MAX_DATA_FILE_BYTES = 20_000_000
"""Bytes one tests or prompts file may hold (the suite's cases together may hold 20,000,000 characters)."""
MAX_DATA_FILES = 1_000
"""Files the ``file://`` references (globs expanded) of one suite may name."""

_UNSUPPORTED_COLUMNS = {
    "__prefix": "prepend the text in the prompt instead",
    "__suffix": "append the text in the prompt instead",
    "__providerOutput": "helm-eval always calls the model",
}


@dataclass(frozen=True, slots=True)
class DataFile:
    """A file a suite names: where it is on disk and how reports name it."""

    path: Path
    name: str
    """Relative to the rootdir with forward slashes, like suite names."""


def is_file_ref(value: object) -> bool:
    """Whether ``value`` is a ``file://`` reference."""
    return isinstance(value, str) and value.startswith(FILE_PREFIX)


def resolve_refs(ref: str, suite: Path, suite_name: str, root: Path | None, line: int | None) -> list[DataFile]:
    """The files ``file://ref`` names (a glob names each match, sorted), checked to lie inside the rootdir."""
    pattern = ref[len(FILE_PREFIX) :]
    if not pattern:
        raise SuiteError(suite_name, line, f"{ref!r}: no path after file://")
    base = suite.resolve().parent
    fence = root if root is not None else base
    relative = PurePosixPath(pattern)
    if relative.is_absolute():
        raise SuiteError(suite_name, line, f"{ref!r}: give a path relative to the suite file, not an absolute one")
    if any(ch in pattern for ch in "*?["):
        found = sorted(p for p in base.glob(pattern) if p.is_file())
        if not found:
            raise SuiteError(suite_name, line, f"{ref!r}: the pattern matches no file next to the suite")
    else:
        found = [base / pattern]
    if len(found) > MAX_DATA_FILES:
        raise SuiteError(suite_name, line, f"{ref!r}: matches {len(found):,} files; at most {MAX_DATA_FILES:,}")
    files = []
    suite_dir = PurePosixPath(suite_name).parent
    for path in found:
        resolved = path.resolve()
        try:
            inside = resolved.relative_to(fence.resolve())
        except ValueError:
            raise SuiteError(
                suite_name, line, f"{ref!r}: the file lies outside the project; keep suite data inside the repository"
            ) from None
        shown = inside.as_posix() if root is not None else (suite_dir / path.relative_to(base).as_posix()).as_posix()
        files.append(DataFile(resolved, shown))
    return files


def read_text(file: DataFile, suite_name: str, line: int | None) -> str:
    """A data file's text (UTF-8, a byte-order mark dropped); unreadable or too big is an error at ``line``."""
    try:
        size = file.path.stat().st_size
        if size > MAX_DATA_FILE_BYTES:
            raise SuiteError(
                suite_name, line, f"{file.name}: {size:,} bytes; a data file may hold at most {MAX_DATA_FILE_BYTES:,}"
            )
        data = file.path.read_bytes()
    except OSError as exc:
        raise SuiteError(suite_name, line, f"cannot read {file.name}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        at = data.count(b"\n", 0, exc.start) + 1
        raise SuiteError(file.name, at, "not valid UTF-8; save the file as UTF-8") from None


def load_test_rows(file: DataFile, suite_name: str, line: int | None) -> list[LineDict]:
    """The test objects of one tests file, each a ``LineDict`` whose lines are those of its row in the file."""
    suffix = file.path.suffix.lower()
    if suffix == ".csv":
        return list(_csv_tests(file, read_text(file, suite_name, line)))
    if suffix == ".jsonl":
        return list(_jsonl_tests(file, read_text(file, suite_name, line)))
    if suffix in (".yaml", ".yml", ".json"):
        read_text(file, suite_name, line)  # the size bound and UTF-8 check
        data = load_yaml(file.path, file.name)
        items = data if isinstance(data, list) else [data]
        for index, item in enumerate(items):
            if not isinstance(item, LineDict):
                at = data.item_lines[index] if isinstance(data, LineList) else 1
                raise SuiteError(file.name, at, "a tests file holds a list of test mappings (vars, assert, ...)")
        return items
    raise SuiteError(
        suite_name,
        line,
        f"{file.name}: cannot read tests from a {suffix or 'extensionless'} file; use .csv, .jsonl, .json or .yaml",
    )


def _csv_tests(file: DataFile, text: str) -> Iterator[LineDict]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise SuiteError(file.name, 1, "the CSV file is empty; its first row names the columns")
        header = [column.strip() for column in header]
        _check_header(file, header)
        end = reader.line_num
        for row in reader:
            start, end = end + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise SuiteError(
                    file.name, start, f"the row has {len(row)} cells and the header {len(header)}; quote commas"
                )
            yield _csv_test(file, start, header, row)
    except csv.Error as exc:
        raise SuiteError(file.name, reader.line_num or 1, f"invalid CSV: {exc}") from None


def _check_header(file: DataFile, header: list[str]) -> None:
    seen: set[str] = set()
    for column in header:
        if not column:
            raise SuiteError(file.name, 1, "a column has no name; every column of the header needs one")
        if column in seen:
            raise SuiteError(file.name, 1, f"column {column!r} appears twice in the header")
        seen.add(column)
        reason = _UNSUPPORTED_COLUMNS.get(column)
        if reason is None and column.startswith("__config"):
            reason = "set assertion thresholds in the __expected shorthand, e.g. levenshtein(3):Paris"
        if reason is not None:
            raise SuiteError(file.name, 1, f"column {column!r} is not supported: {reason}")


def _csv_test(file: DataFile, line: int, header: list[str], row: list[str]) -> LineDict:
    test: dict[str, Any] = {}
    variables: dict[str, Any] = {}
    asserts: list[Any] = []
    metadata: dict[str, Any] = {}
    metric = None
    for column, cell in zip(header, row, strict=True):
        if column.startswith("__expected"):
            if cell.strip():
                try:
                    asserts.append(assertion_from_string(cell))
                except ShorthandError as exc:
                    raise SuiteError(file.name, line, f"{column}: {exc}") from None
        elif column == "__description":
            test["description"] = cell
        elif column == "__metric":
            metric = cell or None
        elif column == "__threshold":
            if cell.strip():
                try:
                    test["threshold"] = float(cell)
                except ValueError:
                    raise SuiteError(file.name, line, f"__threshold: {cell!r} is not a number") from None
        elif column.startswith("__metadata:"):
            key = column[len("__metadata:") :]
            if key.endswith("[]"):  # comma-separated; "\," is a comma inside a value
                parts = (p.replace("\\,", ",").strip() for p in re.split(r"(?<!\\),", cell))
                metadata[key[:-2]] = [part for part in parts if part]
            elif cell:
                metadata[key] = cell
        else:
            variables[column] = cell
    if metric is not None:
        for assertion in asserts:
            assertion["metric"] = metric
    test["vars"] = variables
    if asserts:
        test["assert"] = asserts
    if metadata:
        test["metadata"] = metadata
    result: LineDict = with_line(test, line)
    return result


def _jsonl_tests(file: DataFile, text: str) -> Iterator[LineDict]:
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            raise SuiteError(file.name, number, f"invalid JSON: {reason}") from None
        if not isinstance(item, dict):
            raise SuiteError(file.name, number, "each line of a .jsonl tests file holds one test object {...}")
        yield with_line(item, number)


def with_line(value: Any, line: int) -> Any:
    """``value`` rebuilt as ``LineDict``/``LineList`` whose every key and item is at ``line``."""
    if isinstance(value, dict):
        result = LineDict({k: with_line(v, line) for k, v in value.items()})
        result.line = line
        result.key_lines = dict.fromkeys(value, line)
        return result
    if isinstance(value, list):
        items = LineList(with_line(v, line) for v in value)
        items.line = line
        items.item_lines = [line] * len(value)
        return items
    return value


def load_var_files(
    variables: dict[str, Any], suite: Path, suite_name: str, root: Path | None, where: tuple[str, int]
) -> dict[str, Any]:
    """``variables`` with each ``file://`` string replaced by the file's content (promptfoo's var files).

    Text files (``.txt``, ``.md``, anything not below) give their text; ``.json`` and ``.yaml`` files give the data
    they hold; files that promptfoo would run (``.py``, ``.js``, ...) are refused. ``where`` is the (file, line)
    of the test, for errors.
    """
    if not any(is_file_ref(v) for v in variables.values()):
        return variables
    loaded = dict(variables)
    for key, value in variables.items():
        if not is_file_ref(value):
            continue
        if re.search(r"\.(py|js|ts|mjs|cjs|rb)(:|$)", value):
            raise SuiteError(where[0], where[1], f"vars.{key}: {value!r} runs code; helm-eval reads data files only")
        files = resolve_refs(value, suite, suite_name, root, where[1])
        if len(files) != 1:
            raise SuiteError(where[0], where[1], f"vars.{key}: {value!r} names {len(files)} files; name one")
        file = files[0]
        text = read_text(file, suite_name, where[1])
        suffix = file.path.suffix.lower()
        if suffix in (".json", ".yaml", ".yml"):
            loaded[key] = _plain(load_yaml(file.path, file.name))
        else:
            loaded[key] = text
    return loaded


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
