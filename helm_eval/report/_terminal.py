"""The terminal summary: cases, outcomes, tokens and latency per suite."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from helm_eval._records import CaseResult, RunRecord
from helm_eval._stats import percentile
from helm_eval.report._figures import cascade_line, stopping_line

HEADERS = ("suite", "cases", "passed", "failed", "error", "skipped", "tokens", "p50 ms", "p95 ms")
MODEL_HEADERS = ("model", "cases", "pass rate", "tokens", "cost", "p50 ms", "p95 ms")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def summary_rows(record: RunRecord) -> list[tuple[str, ...]]:
    """One row per suite (Python tests grouped by file), then a total row."""
    groups: dict[str, list[CaseResult]] = defaultdict(list)
    for case in record.cases:
        groups[case.suite or case.file].append(case)
    rows = [_row(name, cases) for name, cases in sorted(groups.items())]
    if len(groups) > 1:
        rows.append(_row("total", record.cases))
    return rows


def _row(name: str, cases: list[CaseResult]) -> tuple[str, ...]:
    latencies = [ms for case in cases for ms in case.latency_ms]
    count = {s: sum(1 for c in cases if c.status == s) for s in ("passed", "failed", "error", "skipped")}
    return (
        name,
        str(len(cases)),
        str(count["passed"]),
        str(count["failed"]),
        str(count["error"]),
        str(count["skipped"]),
        f"{sum(c.total_tokens for c in cases):,}",
        _ms(percentile(latencies, 50)),
        _ms(percentile(latencies, 95)),
    )


def model_rows(record: RunRecord) -> list[tuple[str, ...]]:
    """One row per model when the run used several (a model matrix): pass rate, tokens, cost and latency."""
    groups: dict[str, list[CaseResult]] = defaultdict(list)
    for case in record.cases:
        if case.kind == "suite" and case.model:
            groups[case.model].append(case)
    if len(groups) < 2:
        return []
    rows: list[tuple[str, ...]] = []
    for model, cases in sorted(groups.items()):
        judged = [c for c in cases if c.status in ("passed", "failed")]
        rate = f"{sum(c.status == 'passed' for c in judged) / len(judged):.0%}" if judged else "-"
        costs = [c.cost_usd for c in cases if c.cost_usd is not None]
        latencies = [ms for case in cases for ms in case.latency_ms]
        rows.append(
            (
                model,
                str(len(cases)),
                rate,
                f"{sum(c.total_tokens for c in cases):,}",
                f"${sum(costs):.4f}" if costs else "-",
                _ms(percentile(latencies, 50)),
                _ms(percentile(latencies, 95)),
            )
        )
    return rows


def _table(headers: tuple[str, ...], rows: list[tuple[str, ...]], write_line: Callable[[str], None]) -> None:
    widths = [max(len(headers[i]), *(len(r[i]) for r in rows)) for i in range(len(headers))]

    def fmt(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest])

    write_line(fmt(headers))
    for row in rows:
        write_line(fmt(row))


def write_summary(record: RunRecord, write_line: Callable[[str], None]) -> None:
    """Write the summary table (and the models side by side when several ran) and token totals."""
    rows = summary_rows(record)
    if not rows:
        write_line("no helm-eval cases ran")
        return
    _table(HEADERS, rows, write_line)
    models = model_rows(record)
    if models:
        _table(MODEL_HEADERS, models, write_line)
    totals = record.totals()
    write_line(
        f"calls: {totals['calls']:,}  prompt tokens: {totals['prompt_tokens']:,}  "
        f"completion tokens: {totals['completion_tokens']:,}  retries: {totals['retries']:,}  "
        f"cache hits: {totals['cache_hits']:,}"
        + (f"  judge tokens: {totals['judge_tokens']:,}" if totals.get("judge_tokens") else "")
        + (f"  invalid characters replaced: {totals['replaced_chars']:,}" if totals.get("replaced_chars") else "")
    )
    for line in (cascade_line(record), stopping_line(record)):
        if line is not None:
            write_line(line)


def budget_lines(record: RunRecord) -> list[str]:
    """Cost and budget lines for the terminal summary (empty when neither applies)."""
    lines: list[str] = []
    cost = record.totals().get("cost_usd")
    if cost is not None:
        lines.append(f"cost: ${cost:.4f}")
    budget = record.budget
    if budget is None:
        return lines
    for cap in budget.caps:
        if cap.used is None:
            continue
        used, limit = cap.used, cap.limit
        amount = f"{used:,.0f} of {limit:,.0f} tokens" if cap.unit == "tokens" else f"${used:.4f} of ${limit:.4f}"
        lines.append(f"budget: {amount} used for {cap.where} (limit from {cap.source})")
    if budget.exhausted:
        verdict = "the check fails" if budget.fails_check else "warning only"
        lines.append(f"budget exhausted: {budget.cut} case(s) cut, reported as skipped; {verdict}")
    return lines


def failover_lines(record: RunRecord) -> list[str]:
    """One line per pair of endpoints that calls failed over between: "37 calls failed over from a to b"."""
    return [
        f"{count:,} call{'s' if count != 1 else ''} failed over from {source} to {target}"
        for (source, target), count in sorted(record.failovers().items())
    ]
