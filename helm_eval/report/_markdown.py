"""The markdown summary (GitHub job summary, PR comment, GitLab MR note), from the run record only.

Every piece of untrusted text — model output, suite text, case ids, file names — goes through ``md_text`` (for
prose and table cells) or ``code_block`` (for outputs): markdown and HTML punctuation becomes numeric character
references, so it cannot break a table, open a tag, ping (@) anyone or autolink; a code fence is longer than any
backtick run inside it, so the text cannot close it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

from helm_eval._records import CaseResult, RunRecord
from helm_eval._stats import percentile
from helm_eval._text import inert
from helm_eval.report._figures import (
    by_importance,
    cascade_line,
    case_name,
    cost_of,
    figures,
    first_reason,
    group_by,
    is_red,
    runs_made,
    stopping_line,
    warning_cases,
)
from helm_eval.report._terminal import MODEL_HEADERS, failover_lines, model_rows

#: GitHub refuses a job summary over 1 MiB per step and a comment over 65,536 characters
SUMMARY_LIMIT = 1_000_000
COMMENT_LIMIT = 60_000
#: characters with a meaning in markdown or HTML (or that trigger mentions/autolinks), written as references
_SPECIAL = re.compile(r"[\\`*_{}\[\]()#+!|<>&~:@\"'=$^-]")
_MERMAID_UNSAFE = re.compile(r"[^A-Za-z0-9 ._/-]")
_BACKTICKS = re.compile(r"`+")
TOP = 5


def md_text(text: object, limit: int = 200) -> str:
    """``text`` safe inside markdown prose or a table cell: one line, inert, capped, punctuation as references."""
    raw = inert(str(text)).replace("\r", " ").replace("\n", " ")
    if len(raw) > limit:
        raw = f"{raw[:limit]}… [{len(raw) - limit} more chars]"
    return _SPECIAL.sub(lambda m: f"&#{ord(m.group())};", raw)


def code_block(text: str, limit: int = 1000, lang: str = "text") -> str:
    """``text`` in a fenced code block it cannot close (the fence is longer than any backtick run inside)."""
    # an HTML comment opener is harmless in a code block, but a copied marker would make the comment ambiguous
    body = inert(text).replace("<!--", "<!\u200b--")
    if len(body) > limit:
        body = f"{body[:limit]}… [{len(body) - limit} more chars]"
    longest = max((len(m.group()) for m in _BACKTICKS.finditer(body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{body}\n{fence}"


def mermaid_label(text: str) -> str:
    """A chart label from a restricted character set (mermaid has its own, weaker, escaping rules)."""
    return _MERMAID_UNSAFE.sub("_", text)[-40:] or "_"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _money(value: float | None) -> str:
    return "–" if value is None else f"${value:.4f}"


def _where(case: CaseResult) -> str:
    return md_text(f"{case.file}:{case.line}" if case.line else case.file, 120)


def headline(record: RunRecord) -> str:
    """One line: the verdict with counts and pass rate (only numbers and fixed words)."""
    numbers = figures(record)
    icon = "❌" if numbers.failed else ("✅" if numbers.passed else "⚪")
    parts = [f"{numbers.passed} passed", f"{numbers.failed} failed"]
    if numbers.errors:
        parts[-1] += f" ({numbers.errors} errored)"
    if numbers.skipped:
        parts.append(f"{numbers.skipped} skipped")
    rate = f" · pass rate {numbers.pass_rate:.1%}" if numbers.pass_rate is not None else ""
    cost = f" · {_money(numbers.cost_usd)}" if numbers.cost_usd is not None else ""
    return f"{icon} helm-eval: {', '.join(parts)}{rate} · {numbers.tokens:,} tokens{cost}"


def _labels(record: RunRecord) -> list[str]:
    shown = [f"{key} {md_text(record.labels[key], 60)}" for key in ("repo", "pr", "branch", "sha", "workflow")
             if record.labels.get(key)]  # fmt: skip
    if record.finished_at:
        shown.append(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(record.finished_at)))
    return [f"<sub>{' · '.join(shown)}</sub>", ""] if shown else []


def _suites(record: RunRecord) -> list[str]:
    rows = []
    for name, cases in group_by(record.cases, "suite").items():
        count = {s: sum(1 for c in cases if c.status == s) for s in ("passed", "failed", "error", "skipped")}
        icon = "❌" if count["failed"] or count["error"] else "✅"
        rows.append([f"{icon} {md_text(name, 120)}", str(len(cases)), *(str(count[s]) for s in count),
                     f"{sum(c.total_tokens for c in cases):,}", _money(cost_of(cases))])  # fmt: skip
    headers = ["suite", "cases", "passed", "failed", "error", "skipped", "tokens", "cost"]
    return ["### Suites", "", *_table(headers, rows)]


def _models(record: RunRecord) -> list[str]:
    # cases that never reached a model (cut by the budget, blocked, deselected) would make an empty "(none)" row
    called = [c for c in record.cases if c.model or c.calls or c.total_tokens]
    rows = [[md_text(name, 80), f"{sum(c.calls for c in cases):,}", f"{sum(c.prompt_tokens for c in cases):,}",
             f"{sum(c.completion_tokens for c in cases):,}", f"{sum(c.judge_tokens for c in cases):,}",
             f"{sum(c.total_tokens for c in cases):,}", _money(cost_of(cases))]
            for name, cases in group_by(called, "model").items()]  # fmt: skip
    headers = ["model", "calls", "prompt tokens", "completion tokens", "judge tokens", "tokens", "cost"]
    notes = [line for line in (cascade_line(record), stopping_line(record)) if line]
    side_by_side = [[md_text(row[0], 80), *row[1:]] for row in model_rows(record)]  # a model matrix ran
    compared = ["### Models side by side", "", *_table(MODEL_HEADERS, side_by_side)] if side_by_side else []
    return [*compared, "### Tokens and cost by model", "", *_table(headers, rows),
            *(part for n in notes for part in (n, ""))]  # fmt: skip


def _budget(record: RunRecord) -> list[str]:
    budget = record.budget
    if budget is None:
        return []
    rows = []
    for cap in budget.caps:

        def amount(value: float | None, unit: str = cap.unit) -> str:
            if value is None:
                return "–"
            return f"{value:,.0f}" if unit == "tokens" else f"${value:.4f}"

        share = f"{cap.used / cap.limit:.0%}" if cap.used is not None and cap.limit else "–"
        rows.append([md_text(cap.scope, 40), md_text(cap.where or "", 80), md_text(cap.unit, 10),
                     amount(cap.used), amount(cap.limit), share, amount(cap.remaining),
                     md_text(cap.source, 80)])  # fmt: skip
    lines = [
        "### Budget",
        "",
        *_table(["scope", "for", "unit", "used", "limit", "used %", "remaining", "set by"], rows),
    ]
    if budget.exhausted:
        verdict = "the check fails" if budget.fails_check else "warning only"
        lines += [
            f"**Budget exhausted:** {budget.cut} case(s) cut and reported as skipped; {verdict}.",
            "",
        ]
    return lines


_CHANGE_WORDS = {"regressed": "regressed", "still_failing": "already failing in the base", "added": "new case",
                 "flaky": "flaky"}  # fmt: skip


def _baseline(record: RunRecord) -> list[str]:
    """The comparison with the base run: headline, new failures and fixes at their suite lines, the gate."""
    baseline = record.baseline
    if baseline is None:
        return []
    if not baseline.found:
        return [f"> No baseline: {md_text(baseline.note, 200)}; judged without one.", ""]
    trust = "" if baseline.trusted else " (from the project config: shown, never used to pass failures)"
    lines = [f"**Change vs base**{trust}: {md_text(baseline.headline, 300)}", ""]
    if baseline.gate:
        lines += [f"Gate: {'❌' if baseline.red else '✅'} {md_text(baseline.gate, 300)}", ""]
    rows = []
    for change in ("regressed", "added", "fixed"):
        for case in by_importance(c for c in record.cases if c.change == change):
            if change == "added" and not is_red(case):
                continue
            word = {"regressed": "❌ regressed", "added": "❌ new, failing", "fixed": "✅ fixed"}[change]
            word += ", flaky in history" if case.history else ""
            rows.append([word, _where(case), md_text(case_name(case), 80), md_text(case.base_status or "–", 10),
                         md_text(case.status, 10)])  # fmt: skip
    if rows:
        shown = rows[:50]
        lines += ["### Changes vs base", "", *_table(["change", "where", "case", "base", "head"], shown)]
        if len(rows) > 50:
            lines += [f"…and {len(rows) - 50} more in the run record.", ""]
    return lines


def _flaky_history(record: RunRecord) -> list[str]:
    """Cases whose recent runs in the ledger both passed and failed, with the evidence: a hint, not a verdict."""
    rows = [[_where(case), md_text(case_name(case), 80), md_text(case.status, 10), md_text(case.history or "", 120)]
            for case in record.cases if case.history]  # fmt: skip
    if not rows:
        return []
    return ["### Flaky in history", "", *_table(["where", "case", "now", "recent runs"], rows[:50])]


def _failure(case: CaseResult) -> list[str]:
    status = "errored" if case.status == "error" else "failed"
    if case.change in _CHANGE_WORDS:
        status += f" ({_CHANGE_WORDS[case.change]})"
    if case.history:
        status += f" · flaky in history: {md_text(case.history, 120)}"
    runs = f" ({runs_made(case)})" if runs_made(case) else ""
    lines = [f"<details><summary>{_where(case)} <b>{md_text(case_name(case), 120)}</b> {status}{runs}</summary>", ""]
    for verdict in case.verdicts:
        if not verdict.passed:
            lines.append(f"- **{md_text(verdict.assertion, 60)}**: {md_text(verdict.reason, 400)}")
    if case.error:
        lines.append(f"- **error**: {md_text(case.error, 400)}")
    if case.transcript:
        lines += ["", "Conversation:", ""]
        for message in case.transcript:
            role = md_text(message.get("role", "?"), 20)
            lines += [f"*{role}, turn {int(message.get('turn') or 0)}:*", "", code_block(str(message.get("content")))]
            if message.get("error"):
                lines += [f"- **error**: {md_text(message['error'], 400)}", ""]
    elif case.output:
        lines += ["", "Output:", "", code_block(case.output)]
    if case.tool_calls:
        calls = "\n".join(f"{c.get('name')}({c.get('raw_arguments', '')})" for c in case.tool_calls)
        lines += ["", "Tool calls:", "", code_block(calls)]
    return [*lines, "", "</details>", ""]


def _ranked(record: RunRecord) -> list[str]:
    ran = [c for c in record.cases if c.status != "skipped"]
    if not ran:
        return []
    slow = sorted(ran, key=lambda c: c.duration_s, reverse=True)[:TOP]
    rows = [[_where(c), md_text(case_name(c), 80), f"{c.duration_s:.2f} s",
             f"{percentile(c.latency_ms, 95) or 0:.0f} ms", f"{c.total_tokens:,}"] for c in slow]  # fmt: skip
    lines = ["### Slowest cases", "", *_table(["where", "case", "duration", "p95 latency", "tokens"], rows)]
    priced = any(c.cost_usd is not None for c in ran)
    costly = sorted(ran, key=lambda c: (c.cost_usd or 0.0, c.total_tokens) if priced else (c.total_tokens, 0.0),
                    reverse=True)[:TOP]  # fmt: skip
    rows = [[_where(c), md_text(case_name(c), 80), f"{c.total_tokens:,}", _money(c.cost_usd)] for c in costly]
    title = "Costliest cases" if priced else "Costliest cases (by tokens; no prices configured)"
    return [*lines, f"### {title}", "", *_table(["where", "case", "tokens", "cost"], rows)]


def _chart(record: RunRecord) -> list[str]:
    tokens = {name: sum(c.total_tokens for c in cases) for name, cases in group_by(record.cases, "suite").items()}
    tokens = {name: count for name, count in tokens.items() if count}
    if not tokens:
        return []
    slices = [f'    "{mermaid_label(name)}" : {count}' for name, count in tokens.items()]
    return ["```mermaid", "pie showData", "    title Tokens by suite", *slices, "```", ""]


def _failover(record: RunRecord) -> list[str]:
    lines = failover_lines(record)
    lines += [
        f"endpoint {name} went down: {info['down']}" for name, info in record.endpoints.items() if info.get("down")
    ]
    return [*(f"- {md_text(line, 300)}" for line in lines), ""] if lines else []


def _warnings(record: RunRecord) -> list[str]:
    cases = warning_cases(record)
    if not cases:
        return []
    rows = [[_where(c), md_text(case_name(c), 80), md_text(first_reason(c), 200)] for c in cases[:50]]
    more = [f"…and {len(cases) - 50} more in the run record.", ""] if len(cases) > 50 else []
    return [f"### Warnings ({len(cases)})", "", *_table(["where", "case", "why"], rows), *more]


def render(
    record: RunRecord,
    *,
    title: str = "helm-eval",
    limit: int = SUMMARY_LIMIT,
    marker: str | None = None,
    notes: Sequence[str] = (),
) -> str:
    """The markdown report; failure details are dropped from the end until it fits in ``limit`` characters.

    ``marker`` (a hidden HTML comment, trusted text) goes first so a PR comment can be found again; ``notes`` are
    trusted lines (e.g. how many annotations did not fit) shown under the headline.
    """
    head = ([marker] if marker else []) + [f"## {md_text(title, 80)}", "", headline(record), "", *_labels(record)]
    head += [*(f"> {note}" for note in notes), ""] if notes else []
    body = [
        *_baseline(record),
        *_flaky_history(record),
        *_suites(record),
        *_budget(record),
        *_failover(record),
        *_models(record),
    ]
    tail = [*_warnings(record), *_ranked(record), *_chart(record)]
    red = by_importance(c for c in record.cases if is_red(c))
    details = [_failure(c) for c in red]
    text = _assemble(head, body, tail, details, len(red), limit)
    return text if len(text) <= limit else text[: limit - 40] + "\n\n…(cut to fit the size limit)\n"


def _assemble(
    head: list[str], body: list[str], tail: list[str], details: list[list[str]], total: int, limit: int
) -> str:
    def build(count: int) -> str:
        shown = [line for block in details[:count] for line in block]
        section = [f"### Failures ({total})", "", *shown] if total else []
        if count < total:
            section += [f"…and {total - count} more failures: see the JUnit report and run record artifacts.", ""]
        return "\n".join([*head, *body, *section, *tail]) + "\n"

    keep = len(details)
    text = build(keep)
    while len(text) > limit and keep:
        # drop a share at a time: thousands of failures would be quadratic one by one
        keep = max(0, keep - max(1, keep // 4))
        text = build(keep)
    return text
