"""A suite's tests wherever they are written: inline, or in ``file://`` CSV, JSONL, JSON or YAML files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helm_eval.collect._files import is_file_ref, load_test_rows, resolve_refs
from helm_eval.config import SuiteError, SuiteSpec, TestSpec, line_of, validate

MAX_FILE_TESTS = 100_000
"""Tests the files of one suite may hold together."""


@dataclass(frozen=True, slots=True)
class SourcedTest:
    """One test with where it was written: the suite itself, or a row of a tests file."""

    spec: TestSpec
    data: Any
    """The loaded mapping of the file that holds it (line numbers for errors)."""
    loc: tuple[Any, ...]
    """Where the test is inside ``data``."""
    file: str
    line: int
    field: str
    """How errors name the test: ``tests[2]`` inline, ``test`` for a row (whose file:line is named already)."""
    from_file: bool


def test_sources(path: Path, name: str, spec: SuiteSpec, data: Any, root: Path | None) -> list[SourcedTest]:
    """Every test of the suite in order, ``file://`` references replaced by the tests their files hold."""
    raw = data.get("tests")
    items = [raw] if isinstance(raw, str) else list(raw or [])
    specs = spec.tests if isinstance(spec.tests, list) else [spec.tests]
    sources: list[SourcedTest] = []
    from_files = 0
    for index, (item, parsed) in enumerate(zip(items, specs, strict=True)):
        line = line_of(data, ("tests", index) if not isinstance(raw, str) else ("tests",)) or 1
        if isinstance(parsed, TestSpec):
            sources.append(SourcedTest(parsed, data, ("tests", index), name, line, f"tests[{index}]", False))
            continue
        if not is_file_ref(item):
            raise SuiteError(name, line, f"tests[{index}]: a string test must be a file:// reference to a tests file")
        for file in resolve_refs(item, path, name, root, line):
            for row in load_test_rows(file, name, line):
                from_files += 1
                if from_files > MAX_FILE_TESTS:
                    raise SuiteError(name, line, f"the tests files hold over {MAX_FILE_TESTS:,} tests; split the suite")
                test = validate(TestSpec, row, file.name)
                sources.append(SourcedTest(test, row, (), file.name, row.line, "test", True))
    return sources
