"""A docs page's ``<!-- file: PATH -->`` block is that file, which a test runs (as the README's are)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.release.readme import REPO

_BLOCK = re.compile(r"<!-- file: (?P<name>[^ ]+) -->\n```[a-z]*\n(?P<body>.*?)^```$", re.S | re.M)
PAGES = sorted((REPO / "docs").glob("*.md"))


def test_some_page_has_a_file_block() -> None:
    assert any(_BLOCK.search(page.read_text(encoding="utf-8")) for page in PAGES)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_file_blocks_are_the_files(page: Path) -> None:
    for match in _BLOCK.finditer(page.read_text(encoding="utf-8")):
        path = REPO / match["name"]
        assert path.is_file(), f"docs/{page.name}: <!-- file: {match['name']} --> names no file"
        assert match["body"] == path.read_text(encoding="utf-8"), (
            f"docs/{page.name}'s block under <!-- file: {match['name']} --> differs from the file: copy it"
        )
