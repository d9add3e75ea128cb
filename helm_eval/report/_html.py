r"""The HTML report: one self-contained page (styles, script and data inline) built from the run record.

The page fetches nothing: it opens from disk, as a CI artifact, or behind a proxy that blocks everything. The run
record goes in as JSON inside a ``<script type="application/json">`` block, with ``<``, ``>``, ``&`` and the two
JavaScript line separators written as ``\\uXXXX`` escapes, so no text in it (``</script>``, ``<!--``) can end the
block; the page's script builds every element with ``textContent``, so model output and suite text never become
markup. Secrets are already scrubbed in the record (the pipeline scrubs before anything is written).

A baseline (the base branch's run) is optional: ``Baseline`` carries the per-case change and the base output, and
the base run for the header's deltas; how cases are matched and what counts as a regression is decided elsewhere.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from helm_eval._records import CaseResult, RunRecord
from helm_eval._text import inert
from helm_eval.report._compare import Comparison
from helm_eval.report._figures import figures

#: characters written as JSON escapes inside the data block: none of them can then open or close markup
_SCRIPT_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                                 "\u2029": "\\u2029"})  # fmt: skip


@dataclass(frozen=True, slots=True)
class CaseDelta:
    """How one case compares with the base run."""

    change: str
    """A word for the change, e.g. ``regressed``, ``fixed``, ``unchanged``, ``new``; shown and filterable."""
    base_output: str | None = None
    """The base run's output for the case (shown beside the head output with a diff)."""
    base_status: str | None = None
    """The case's status in the base run."""


@dataclass(frozen=True, slots=True)
class Baseline:
    """What the page shows about the base run: header deltas and a per-case change keyed by node id."""

    record: RunRecord | None = None
    """The base run record, for the header's pass-rate, token and cost deltas."""
    cases: Mapping[str, CaseDelta] = field(default_factory=dict)
    """Node id → its change vs base; cases not in the mapping show no change."""
    label: str = "base"
    """What the base is called on the page (e.g. the base branch)."""


def baseline_of(comparison: Comparison, label: str = "base") -> Baseline:
    """What the page shows of a base-vs-head ``comparison``: the header deltas and each case's change."""
    cases = {
        nodeid: CaseDelta(change.change, change.base_output or None, change.base_status)
        for nodeid, change in comparison.cases.items()
    }
    return Baseline(comparison.base, cases, label)


def render_html(record: RunRecord, *, baseline: Baseline | None = None, title: str = "helm-eval report") -> str:
    """The whole page as one string."""
    data = page_data(record, baseline, title)
    blob = json.dumps(data, ensure_ascii=False, separators=(",", ":")).translate(_SCRIPT_ESCAPES)
    assets = resources.files("helm_eval.report").joinpath("static")
    template = assets.joinpath("report.html").read_text(encoding="utf-8")
    # the assets are ours and trusted; only the title and the data come from the run, and the data goes in last
    # by position, so nothing inside it is ever scanned for a marker
    template = template.replace("{{TITLE}}", html.escape(inert(title)))
    for marker, asset in (("/*CSS*/", "report.css"), ("/*JS*/", "report.js")):
        head, _, tail = template.partition(marker)
        template = head + assets.joinpath(asset).read_text(encoding="utf-8") + tail
    head, _, tail = template.partition("{{DATA}}")
    return head + blob + tail


def write_html(record: RunRecord, path: Path, *, baseline: Baseline | None = None) -> int:
    """Write the page to ``path`` (parents created); returns its size in bytes."""
    text = render_html(record, baseline=baseline)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8", "replace")  # a lone surrogate in a hand-made record becomes "?", never a crash
    path.write_bytes(data)
    return len(data)


def page_data(record: RunRecord, baseline: Baseline | None, title: str) -> dict[str, Any]:
    """What the page's script renders (compact keys: thousands of cases must stay a small file)."""
    deltas = baseline.cases if baseline is not None else {}
    data: dict[str, Any] = {
        "title": inert(title),
        "labels": {k: inert(str(v)) for k, v in record.labels.items()},
        "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(record.finished_at)) if record.finished_at else "",
        "totals": _totals(record),
        "budget": _budget(record),
        "baseline": None,
        "cases": [_case(c, deltas.get(c.nodeid)) for c in record.cases],
    }
    if baseline is not None:
        base = figures(baseline.record) if baseline.record is not None else None
        data["baseline"] = {
            "label": inert(baseline.label),
            "pass_rate": base.pass_rate if base else None,
            "tokens": base.tokens if base else None,
            "cost": base.cost_usd if base else None,
            "changes": _count_changes(deltas.values()),
        }
    return data


def _totals(record: RunRecord) -> dict[str, Any]:
    numbers = figures(record)
    totals = record.totals()
    return {
        "cases": totals["cases"],
        "passed": numbers.passed,
        "failed": totals["failed"],
        "error": totals["error"],
        "skipped": numbers.skipped,
        "pass_rate": numbers.pass_rate,
        "tokens": numbers.tokens,
        "prompt": numbers.prompt_tokens,
        "completion": numbers.completion_tokens,
        "judge": totals["judge_tokens"],
        "cost": numbers.cost_usd,
        "duration": totals["duration_s"],
        "cache_hits": totals["cache_hits"],
    }


def _budget(record: RunRecord) -> dict[str, Any] | None:
    budget = record.budget
    if budget is None:
        return None
    caps = [{"scope": inert(c.scope), "unit": inert(c.unit), "where": inert(c.where or ""), "limit": c.limit,
             "used": c.used, "remaining": c.remaining, "source": inert(c.source)} for c in budget.caps]  # fmt: skip
    return {"caps": caps, "cut": budget.cut, "action": budget.action, "fails": budget.fails_check}


def _count_changes(deltas: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for delta in deltas:
        counts[delta.change] = counts.get(delta.change, 0) + 1
    return dict(sorted(counts.items()))


def _case(case: CaseResult, delta: CaseDelta | None) -> dict[str, Any]:
    """One case, with empty fields left out."""
    row: dict[str, Any] = {
        "id": inert(case.nodeid),
        "suite": inert(case.suite or case.file),
        "file": inert(case.file),
        "line": case.line,
        "model": inert(case.model),
        "status": case.status,
        "tokens": case.total_tokens,
        "prompt": case.prompt_tokens,
        "completion": case.completion_tokens,
        "cost": case.cost_usd,
        "lat": [round(ms) for ms in case.latency_ms],
        "dur": round(case.duration_s, 3),
    }
    optional: dict[str, Any] = {
        "judge": case.judge_tokens,
        "tags": [inert(t) for t in case.tags],
        "owner": inert(case.owner or ""),
        "endpoint": inert(case.endpoint),
        "repeats": case.repeats,
        "passes": case.passes,
        "threshold": case.threshold if case.repeats > 1 or case.max_repeats else None,
        "ci": list(case.pass_rate_ci) if case.pass_rate_ci and case.repeats > 1 else None,
        "confidence": case.confidence if case.confidence != 0.95 else None,
        "max_repeats": case.max_repeats,
        "output": inert(case.output),
        "messages": [{"role": inert(m.get("role", "")), "content": inert(m.get("content", ""))} for m in case.messages],
        "verdicts": [[inert(v.assertion), v.status, inert(v.reason), v.score, v.threshold] for v in case.verdicts],
        "transcript": [_message(m) for m in case.transcript],
        "tool_calls": [inert(json.dumps(call, indent=2, ensure_ascii=False, default=str)) for call in case.tool_calls],
        "error": inert(case.error or ""),
        "skip": inert(case.skip_reason or ""),
        "retries": case.retries,
        "cache_hits": case.cache_hits,
    }
    row.update({key: value for key, value in optional.items() if value})
    if delta is not None:
        row["change"] = inert(delta.change)
        if delta.base_output is not None:
            row["base_output"] = inert(delta.base_output)
        if delta.base_status is not None:
            row["base_status"] = inert(delta.base_status)
    return row


def _message(message: Mapping[str, Any]) -> dict[str, Any]:
    """One message of a conversation's transcript, its text inert."""
    shown = {"role": inert(str(message.get("role", ""))), "content": inert(str(message.get("content", "")))}
    return {**shown, "turn": message.get("turn"), "error": inert(str(message.get("error", "")))}
