"""GitLab CI: code quality issues, OpenMetrics, dotenv and a sticky MR note, from the run record only.

- codequality JSON: one issue per failing case on its suite file and line; fingerprint = sha256 of the node id and
  the failing assertion(s), stable across pipelines so GitLab can tell new failures from fixed ones.
- metrics: OpenMetrics text (pass rate, tokens, cost) ending with ``# EOF``.
- dotenv: single-line ``KEY=value`` pairs under 5 KB (pass rate, tokens, cost, budget remaining) for later jobs.
- MR note: created, then edited in place (found by a hidden marker) with a project access token; ``CI_JOB_TOKEN``
  can only read notes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from helm_eval._records import RunRecord
from helm_eval._text import inert
from helm_eval.report._figures import (
    case_name,
    cost_of,
    failing_assertions,
    figures,
    first_reason,
    fmt_rate,
    group_by,
    red_cases,
)
from helm_eval.report._http import ApiError, upsert
from helm_eval.report._markdown import COMMENT_LIMIT, render

DOTENV_LIMIT = 5 * 1024
_LABEL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n"}


def fingerprint(nodeid: str, assertion: str) -> str:
    """Stable code quality fingerprint: sha256 of node id and assertion label(s)."""
    return hashlib.sha256(f"{nodeid}\0{assertion}".encode()).hexdigest()


def codequality(record: RunRecord) -> list[dict[str, Any]]:
    """GitLab code quality issues: one per failed or errored case, at its suite file and line."""
    issues = []
    for case in red_cases(record):
        assertion = ",".join(failing_assertions(case)) or case.status
        description = inert(f"helm-eval {case.status}: {case_name(case)}: {first_reason(case)}").replace("\n", " ")
        issues.append(
            {
                "type": "issue",
                "check_name": f"helm-eval/{failing_assertions(case)[0] if failing_assertions(case) else case.status}",
                "description": description[:1000],
                "categories": ["Bug Risk"],
                "fingerprint": fingerprint(case.nodeid, assertion),
                "severity": "critical" if case.status == "error" else "major",
                "location": {"path": case.file, "lines": {"begin": case.line or 1}},
            }
        )
    return issues


def _label(value: str) -> str:
    return "".join(_LABEL_ESCAPES.get(ch, ch) for ch in inert(value)[:200])


def _family(name: str, help_text: str, samples: list[tuple[str, object]]) -> list[str]:
    if not samples:
        return []
    return [f"# TYPE {name} gauge", f"# HELP {name} {help_text}", *(f"{name}{labels} {v}" for labels, v in samples)]


def openmetrics(record: RunRecord) -> str:
    """OpenMetrics exposition of pass rate, case counts, tokens and cost, overall and per suite; ends in ``# EOF``."""
    numbers, totals = figures(record), record.totals()
    suites = group_by(record.cases, "suite")
    priced = {name: cost_of(cases) for name, cases in suites.items()}
    tokens = (("prompt", numbers.prompt_tokens), ("completion", numbers.completion_tokens), ("total", numbers.tokens))
    lines = [
        *_family("helm_eval_cases", "Cases by status.",
                 [(f'{{status="{s}"}}', totals[s]) for s in ("passed", "failed", "error", "skipped")]),
        *_family("helm_eval_pass_rate", "Passed over judged cases.",
                 [("", f"{numbers.pass_rate:.6f}")] if numbers.pass_rate is not None else []),
        *_family("helm_eval_tokens", "Tokens the servers reported.", [(f'{{kind="{k}"}}', v) for k, v in tokens]),
        *_family("helm_eval_cost_usd", "Cost of the run in US dollars.",
                 [("", f"{numbers.cost_usd:.6f}")] if numbers.cost_usd is not None else []),
        *_family("helm_eval_budget_remaining", "Left under the binding budget cap.",
                 [(f'{{unit="{numbers.budget_unit}"}}', f"{numbers.budget_remaining:g}")]
                 if numbers.budget_remaining is not None else []),
        *_family("helm_eval_suite_tokens", "Tokens per suite.",
                 [(f'{{suite="{_label(n)}"}}', sum(c.total_tokens for c in cs)) for n, cs in suites.items()]),
        *_family("helm_eval_suite_failed", "Failed or errored cases per suite.",
                 [(f'{{suite="{_label(n)}"}}', sum(c.status in ("failed", "error") for c in cs))
                  for n, cs in suites.items()]),
        *_family("helm_eval_suite_cost_usd", "Cost per suite in US dollars.",
                 [(f'{{suite="{_label(n)}"}}', f"{v:.6f}") for n, v in priced.items() if v is not None]),
    ]  # fmt: skip
    return "\n".join([*lines, "# EOF"]) + "\n"


def dotenv(record: RunRecord) -> str:
    """``HELM_EVAL_*=value`` lines for ``artifacts:reports:dotenv``: numbers only, one line each, < 5 KB."""
    numbers = figures(record)
    values = {
        "HELM_EVAL_PASSED": str(numbers.passed),
        "HELM_EVAL_FAILED": str(numbers.failed),
        "HELM_EVAL_SKIPPED": str(numbers.skipped),
        "HELM_EVAL_PASS_RATE": fmt_rate(numbers.pass_rate),
        "HELM_EVAL_TOKENS": str(numbers.tokens),
        "HELM_EVAL_COST_USD": numbers.outputs()["cost-usd"],
        "HELM_EVAL_BUDGET_REMAINING": numbers.outputs()["budget-remaining"],
    }
    text = "".join(f"{key}={value}\n" for key, value in values.items())
    assert len(text.encode()) < DOTENV_LIMIT  # numbers only: a few hundred bytes
    return text


def write_reports(record: RunRecord, out_dir: Path) -> dict[str, Path]:
    """Write ``codequality.json``, ``metrics.txt`` and ``helm-eval.env`` into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "codequality": out_dir / "codequality.json",
        "metrics": out_dir / "metrics.txt",
        "dotenv": out_dir / "helm-eval.env",
    }
    paths["codequality"].write_text(json.dumps(codequality(record), indent=2) + "\n", encoding="utf-8")
    paths["metrics"].write_text(openmetrics(record), encoding="utf-8")
    paths["dotenv"].write_text(dotenv(record), encoding="utf-8")
    return paths


def marker(key: str = "report") -> str:
    """The hidden HTML comment that identifies helm-eval's MR note (one per ``key``)."""
    return f"<!-- helm-eval:{re.sub(r'[^A-Za-z0-9_.-]', '-', key)[:60]} -->"


def post_note(
    record: RunRecord,
    token: str,
    env: Mapping[str, str] | None = None,
    key: str = "report",
    links: Sequence[str] = (),
) -> str:
    """Create, or edit in place, the MR note; returns ``created``/``updated``/``skipped: ...``/``failed: ...``.

    ``links`` are trusted markdown lines (e.g. where the HTML report is) shown under the headline.

    Never raises: a note that cannot be posted must not fail the pipeline.
    """
    env = os.environ if env is None else env
    api, project, iid = env.get("CI_API_V4_URL"), env.get("CI_PROJECT_ID"), env.get("CI_MERGE_REQUEST_IID")
    if not (api and project and iid):
        return "skipped: not a merge request pipeline"
    base = f"{api.rstrip('/')}/projects/{urllib.parse.quote(project, safe='')}/merge_requests/{iid}/notes"
    body = render(record, limit=COMMENT_LIMIT, marker=marker(key), notes=links)
    try:
        outcome, _ = upsert(f"{base}?sort=asc", base, f"{base}/{{id}}", {"PRIVATE-TOKEN": token}, marker(key), body,
                            edit_method="PUT")  # fmt: skip
    except ApiError as error:
        return f"failed: {error}"
    return outcome
