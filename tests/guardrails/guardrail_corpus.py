"""Scoring the guardrail detectors on the corpus, for tests/unit/test_guardrails.py and bench/guardrails.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helm_eval.checks import REGISTRY, CheckInput
from helm_eval.checks._pii import ENTITIES, find_pii
from helm_eval.checks._secrets import KINDS, find_secrets

CORPUS = Path(__file__).resolve().parent / "corpus"


def load() -> list[dict[str, Any]]:
    """Every corpus line, in file order."""
    rows: list[dict[str, Any]] = []
    for path in sorted(CORPUS.glob("*.jsonl")):
        rows.extend(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return rows


def fires(row: dict[str, Any]) -> bool:
    """Whether the row's detector, run on its own, reports anything in the row's text."""
    detector, text = row["detector"], row["text"]
    if detector in ENTITIES:
        return bool(find_pii(text, [detector]))
    if detector in KINDS:
        return bool(find_secrets(text, [detector]))
    if detector == "canary":
        value = {"canary": row["canary"], **({"instruction_marker": row["marker"]} if "marker" in row else {})}
        return not _check("canary", text, value)
    if detector == "is-refusal":
        return _check("is-refusal", text, None)
    raise KeyError(f"no detector {detector!r}")


def _check(name: str, text: str, value: Any) -> bool:
    check = REGISTRY.get(name)
    assert check is not None
    return check.fn(CheckInput(text, value)).passed


@dataclass
class Score:
    """Confusion counts of one detector, and the lines it got wrong."""

    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    wrong: list[dict[str, Any]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def scores(rows: list[dict[str, Any]] | None = None) -> dict[str, Score]:
    """Precision/recall counts per detector over ``rows`` (default: the whole corpus)."""
    result: dict[str, Score] = {}
    for row in load() if rows is None else rows:
        score = result.setdefault(row["detector"], Score())
        hit, expect = fires(row), bool(row["expect"])
        if hit and expect:
            score.tp += 1
        elif hit:
            score.fp += 1
            score.wrong.append(row)
        elif expect:
            score.fn += 1
            score.wrong.append(row)
        else:
            score.tn += 1
    return result
