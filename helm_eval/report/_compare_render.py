"""A ``Comparison`` as text (terminal) or markdown (job summary, PR comment, MR note).

Case names, file names and outputs are untrusted: the terminal gets them through ``inert``, markdown through
``md_text`` / ``code_block``.
"""

from __future__ import annotations

from collections.abc import Sequence

from helm_eval._text import inert
from helm_eval.report._compare import CaseChange, Change, Comparison, GroupDelta, Side
from helm_eval.report._headline import headline, percent_change, rate_text
from helm_eval.report._markdown import code_block, md_text

#: how many cases of one change a report lists before "…and N more"
LISTED = 50
_TITLES: dict[Change, str] = {
    "regressed": "Regressions",
    "fixed": "Fixes",
    "added": "Added and failing",
    "removed": "Removed",
    "still_failing": "Still failing (already failing in the base)",
}


def _rate(side: Side) -> str:
    return rate_text(side.pass_rate)


def comparison_headline(comparison: Comparison) -> str:
    """One line of fixed words and numbers.

    E.g. ``2 regressions, 1 fix · pass rate 95.0% → 92.5% (McNemar p = 0.50) · tokens +12%``.
    """
    counts, total = comparison.counts(), comparison.total
    return headline(counts["regressed"], counts["fixed"], total.base.pass_rate, total.head.pass_rate,
                    comparison.mcnemar_p, significant=comparison.significant, sampled_p=comparison.sampled_p,
                    tokens_change=total.tokens_change)  # fmt: skip


def _where(case: CaseChange) -> str:
    return f"{case.file}:{case.line}" if case.line else case.file


def _runs(case: CaseChange) -> str:
    if max(case.base_repeats, case.head_repeats) <= 1:
        return ""
    return f" ({case.base_passes}/{case.base_repeats} → {case.head_passes}/{case.head_repeats} runs passed)"


def _history(case: CaseChange) -> str:
    """`` · flaky (history): failed 3 of the last 10 runs on main`` for a case flaky in history, else nothing."""
    return f" · flaky (history): {case.history.evidence}" if case.history is not None and case.flaky_history else ""


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _group_cells(group: GroupDelta) -> list[str]:
    base, head = group.base, group.head

    def interval(side: Side) -> str:
        bounds = side.interval
        return "" if bounds is None else f" [{bounds[0]:.0%}, {bounds[1]:.0%}]"

    return [
        f"{_rate(base)}{interval(base)}",
        f"{_rate(head)}{interval(head)}",
        f"{base.tokens:,} → {head.tokens:,} {percent_change(group.tokens_change)}".rstrip(),
        f"{_money(base.cost_usd)} → {_money(head.cost_usd)}",
        f"{_ms(base.p50_ms)} → {_ms(head.p50_ms)}",
        f"{_ms(base.p95_ms)} → {_ms(head.p95_ms)}",
    ]


def _money(value: float | None) -> str:
    return "–" if value is None else f"${value:.4f}"


_GROUP_HEADERS = ("pass rate before", "pass rate after", "tokens", "cost", "p50 ms", "p95 ms")


def render_text(comparison: Comparison) -> str:
    """The comparison for a terminal: headline, the changed cases at their suite lines, suites and models."""
    lines = [f"helm-eval compare: {comparison_headline(comparison)}", ""]
    for change, title in _TITLES.items():
        shown = [c for c in comparison.of(change) if change != "added" or c.blocking]
        if not shown:
            continue
        lines.append(f"{title} ({len(shown)}):")
        for case in shown[:LISTED]:
            status = f"{case.base_status or '-'} → {case.head_status or '-'}"
            lines.append(f"  {inert(_where(case))}  {inert(case.nodeid)}  {status}{_runs(case)}{inert(_history(case))}")
        if len(shown) > LISTED:
            lines.append(f"  …and {len(shown) - LISTED} more")
        lines.append("")
    flaky = comparison.flaky
    if flaky:
        lines.append(f"Flaky (repeats disagree) ({len(flaky)}):")
        lines += [f"  {inert(_where(c))}  {inert(c.nodeid)}{_runs(c)}" for c in flaky[:LISTED]]
        lines.append("")
    in_history = comparison.flaky_history
    if in_history:
        lines.append(f"Flaky in history (passed and failed in recent runs) ({len(in_history)}):")
        for case in in_history[:LISTED]:
            assert case.history is not None
            now = f"now {case.head_status}" if case.head_status else "not in the head"
            lines.append(f"  {inert(_where(case))}  {inert(case.nodeid)}  {inert(case.history.evidence)}; {now}")
        lines.append("")
    for title, groups in (("suite", comparison.suites), ("model", comparison.models)):
        rows = [[inert(g.name), *_group_cells(g)] for g in groups]
        lines += _text_table([title, *_GROUP_HEADERS], rows)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(headers[i]), *(len(r[i]) for r in rows)) if rows else len(headers[i])
              for i in range(len(headers))]  # fmt: skip
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in [list(headers), *rows]]  # fmt: skip


def render_markdown(comparison: Comparison, *, outputs: bool = True, heading: str = "###") -> str:
    """The comparison as markdown: headline, changed cases (with base and head output), suites, models."""
    lines = [f"**Change vs base:** {comparison_headline(comparison)}", ""]
    for change, title in _TITLES.items():
        shown = [c for c in comparison.of(change) if change != "added" or c.blocking]
        if not shown:
            continue
        lines += [f"{heading} {title} ({len(shown)})", ""]
        for case in shown[:LISTED]:
            lines.extend(_case_markdown(case, outputs=outputs and change in ("regressed", "fixed")))
        if len(shown) > LISTED:
            lines += [f"…and {len(shown) - LISTED} more in the comparison JSON.", ""]
    if comparison.flaky:
        lines += [f"{heading} Flaky ({len(comparison.flaky)})", ""]
        lines += [f"- `{md_text(_where(c), 120)}` {md_text(c.nodeid, 160)}{_runs(c)}" for c in comparison.flaky]
        lines.append("")
    if comparison.flaky_history:
        lines += [f"{heading} Flaky in history ({len(comparison.flaky_history)})", ""]
        lines += [f"- `{md_text(_where(c), 120)}` {md_text(c.nodeid, 160)}: {md_text(c.history.evidence, 120)}"
                  for c in comparison.flaky_history if c.history is not None]  # fmt: skip
        lines.append("")
    for title, groups in (("suite", comparison.suites), ("model", comparison.models)):
        lines += [f"{heading} By {title}", "", "| " + " | ".join([title, *_GROUP_HEADERS]) + " |",
                  "|" + "|".join("---" for _ in range(len(_GROUP_HEADERS) + 1)) + "|"]  # fmt: skip
        lines += ["| " + " | ".join([md_text(g.name, 120), *_group_cells(g)]) + " |" for g in groups]
        lines.append("")
    return "\n".join(lines)


def _case_markdown(case: CaseChange, *, outputs: bool) -> list[str]:
    status = f"{case.base_status or '–'} → {case.head_status or '–'}"
    summary = (f"<code>{md_text(_where(case), 120)}</code> <b>{md_text(case.nodeid, 160)}</b> {status}{_runs(case)}"
               f"{md_text(_history(case), 200)}")  # fmt: skip
    if not outputs or not (case.base_output or case.head_output):
        return [f"- {summary}", ""]
    return [
        f"<details><summary>{summary}</summary>",
        "",
        "Base output:",
        "",
        code_block(case.base_output, limit=600),
        "",
        "Head output:",
        "",
        code_block(case.head_output, limit=600),
        "",
        "</details>",
        "",
    ]
