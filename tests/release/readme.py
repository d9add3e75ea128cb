"""The README's fenced blocks by the marker comment over them: ``<!-- file: PATH -->`` (the block is that file)
and ``<!-- tested: NAME -->`` (tests/release/test_install.py runs the block)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
REPO_URL = "https://github.com/helm-eval/helm-eval.git"
EXAMPLE_ENDPOINT = "http://127.0.0.1:8000/v1"

_BLOCK = re.compile(r"<!-- (?P<kind>file|tested): (?P<name>[^ ]+) -->\n```[a-z]*\n(?P<body>.*?)^```$", re.S | re.M)


def blocks(kind: str) -> dict[str, str]:
    """Marker name → the text of the fenced block under it."""
    found: dict[str, str] = {}
    for match in _BLOCK.finditer(README.read_text(encoding="utf-8")):
        if match["kind"] == kind:
            assert match["name"] not in found, f"README.md: two blocks marked {kind}: {match['name']}"
            found[match["name"]] = match["body"]
    return found
