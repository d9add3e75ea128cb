"""Hostile model output: bidi overrides made visible in every report, broken Unicode cleaned at the boundary."""

from __future__ import annotations

import io
from typing import Any

import pytest

from helm_eval import CaseResult, RunRecord
from helm_eval._text import excerpt, inert, quote
from helm_eval.report._github import annotate
from helm_eval.report._markdown import code_block, md_text, render

BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
"""Every bidirectional formatting character (Unicode's Bidi_Control property)."""
TROJAN = "ok \u202eevil\u202c \u2067rtl\u2069 done"


def _hidden(text: str) -> list[str]:
    return [f"U+{ord(c):04X}" for c in text if c in BIDI]


@pytest.mark.parametrize("char", list(BIDI), ids=[f"U+{ord(c):04X}" for c in BIDI])
def test_every_bidi_control_is_escaped_visibly(char: str) -> None:
    shown = inert(f"a{char}b")
    assert shown == f"a\\u{ord(char):04x}b"
    assert not _hidden(quote(f"a{char}b"))
    assert not _hidden(excerpt(f"a{char}b"))


def test_other_unicode_is_left_alone() -> None:
    text = "naïve 日本語 עברית مرحبا 👩\u200d💻 tab\tnewline\n"
    assert inert(text) == text


def test_bidi_overrides_never_reach_annotations_summary_or_comment() -> None:
    verdict = {"assertion": "contains", "status": "fail", "reason": f"output does not contain 'x': {TROJAN!r}"}
    fields: dict[str, Any] = {"line": 3, "repeats": 1, "passes": 0, "output": TROJAN, "verdicts": [verdict]}
    case = CaseResult(f"suites/a.yaml::{TROJAN}", "suites/a.yaml", status="failed", suite="suites/a.yaml", **fields)
    record = RunRecord(cases=[case], started_at=1.0, finished_at=2.0)
    out = io.StringIO()
    annotate(record, out)
    for text in (out.getvalue(), render(record, title=f"run {TROJAN}"), md_text(TROJAN), code_block(TROJAN)):
        assert _hidden(text) == [], text
        assert "\\u202e" in text or "&#92;u202e" in text  # md_text writes the backslash as a reference
