"""A run judged against its baseline: reading the base run, marking each case's change, and the gate.

The gate's inputs come from two kinds of places. Trusted: the command line (workflow inputs) and a policy file;
they choose the rule, the baseline and a quarantine. The project config (a pull request controls it) may only
add reasons to be red: its rule is applied on top, the higher pass-rate floor binds, and its quarantine hides
only failures a trusted baseline shows were already there.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from helm_eval._records import BaselineSummary, CaseResult, RunRecord
from helm_eval._text import inert
from helm_eval.ledger import CaseHistory
from helm_eval.report._compare import ALPHA, Comparison, compare
from helm_eval.report._compare_render import comparison_headline
from helm_eval.report._figures import group_by, is_red
from helm_eval.report._json import read_run_record
from helm_eval.report._merge import merge_records
from helm_eval.report._merge_baseline import base_id


class BaselineError(ValueError):
    """A baseline path that names no readable run record."""


def load_records(spec: str, role: str = "baseline") -> list[RunRecord]:
    """The run records named by ``spec``: a file, a directory (every ``*.json`` below it) or a glob."""
    path = Path(spec)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*.json") if p.is_file())
    else:
        files = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
    if not files:
        raise BaselineError(f"{role}: no run record at {spec}")
    records = []
    for file in files:
        try:
            records.append(read_run_record(file))
        except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:  # any JSON, e.g. a list
            raise BaselineError(f"{role}: {file} is not a run record: {exc}") from None
    return records


#: a case's recent runs for a branch (``None``: runs without a branch label), e.g. read from the ledger
HistoryOf = Callable[[str | None], Mapping[str, CaseHistory]]


def attach_baseline(
    record: RunRecord,
    spec: str,
    *,
    trusted: bool,
    alpha: float = ALPHA,
    shown: str | None = None,
    history: HistoryOf | None = None,
) -> Comparison | None:
    """Compare ``record`` with the baseline at ``spec`` and write the result into it.

    Each case gets its ``change`` and ``base_status``; ``record.baseline`` the headline figures. A baseline that
    cannot be read is noted (``found`` false) and the run is judged as without one; this never raises. ``shown``
    is how reports name the baseline (default ``spec``). ``history`` is asked for the base run's branch (its
    ``branch`` label, else this run's) and marks the cases flaky in history; it changes nothing the gate decides.
    """
    source = spec if shown is None else shown
    try:
        base = merge_records(load_records(spec))
    except BaselineError as exc:
        note = str(exc).replace(spec, source)
        record.baseline = BaselineSummary(source=source, found=False, trusted=trusted, note=note)
        if history is not None:
            mark_history(record, history(record.labels.get("branch")))
        return None
    known = history(base.labels.get("branch") or record.labels.get("branch")) if history is not None else {}
    mark_history(record, known)
    comparison = compare(base, record, alpha=alpha, history=known)
    for case in record.cases:
        entry = comparison.cases[case.nodeid]
        case.change, case.base_status = entry.change, entry.base_status
        case.base_passes, case.base_repeats = entry.base_passes, entry.base_repeats
    total = comparison.total
    record.baseline = BaselineSummary(
        source=source,
        trusted=trusted,
        headline=comparison_headline(comparison),
        counts=comparison.counts(),
        blocking=[c.nodeid for c in comparison.blocking],
        removed=[c.nodeid for c in comparison.of("removed")],
        mcnemar_p=comparison.mcnemar_p,
        sampled_p=comparison.sampled_p,
        significant=comparison.significant,
        base_pass_rate=total.base.pass_rate,
        head_pass_rate=total.head.pass_rate,
        tokens_change=total.tokens_change,
        base_id=base_id(base),
        base_tokens=total.base.tokens,
        alpha=alpha,
    )
    return comparison


def mark_history(record: RunRecord, history: Mapping[str, CaseHistory]) -> int:
    """Set ``history`` (the evidence) on each case of ``record`` that is flaky in ``history``; returns how many.

    Only informs the reports: ``judge`` never reads it.
    """
    marked = 0
    for case in record.cases:
        known = history.get(case.nodeid)
        case.history = known.evidence if known is not None and known.flaky else None
        marked += case.history is not None
    return marked


@dataclass(frozen=True, slots=True)
class Gate:
    """Everything that decides whether a run's check is red."""

    rules: tuple[str, ...] = ("failure",)
    """The trusted rule first, then the project config's (each can only add reasons to be red)."""
    min_pass_rate: float | None = None
    suite_min_pass_rate: dict[str, float] = field(default_factory=dict)
    trusted_quarantine: frozenset[str] = frozenset()
    config_quarantine: frozenset[str] = frozenset()


def judge(record: RunRecord, gate: Gate, *, other_failures: int = 0) -> tuple[bool, str]:
    """(red, reason) for ``record`` under ``gate``; ``other_failures`` are failed tests outside helm-eval.

    Writes the decision into ``record.baseline`` when there is one.
    """
    baseline = record.baseline
    usable = baseline is not None and baseline.found and baseline.trusted
    blocking = set(baseline.blocking) if usable and baseline is not None else set()
    hidden = set(gate.trusted_quarantine) | (set(gate.config_quarantine) if usable else set())
    red_ids = [c.nodeid for c in record.cases if is_red(c) and (c.nodeid not in hidden or c.nodeid in blocking)]
    reasons: list[str] = []
    if other_failures:
        reasons.append(f"{other_failures} other test(s) failed")
    if record.budget is not None and record.budget.fails_check:
        reasons.append(f"budget exhausted: {record.budget.cut} case(s) cut")
    for rule in dict.fromkeys(gate.rules):
        reasons += _rule(rule, red_ids, blocking, usable, baseline)
    floors = _floors(record, gate)
    reasons += floors
    red = bool(reasons)
    if red:
        reason = "; ".join(dict.fromkeys(reasons))
    else:
        quarantined = [c.nodeid for c in record.cases if is_red(c) and c.nodeid in hidden]
        known = sum(1 for c in record.cases if is_red(c)) - len(quarantined)
        parts = [f"fail-on {' + '.join(dict.fromkeys(gate.rules))}: no new failures"]
        if known:
            parts.append(f"{known} failure(s) already in the baseline")
        if quarantined:
            parts.append(f"{len(quarantined)} quarantined")
        reason = ", ".join(parts) if known or quarantined else "all cases passed"
    if baseline is not None:
        baseline.red, baseline.gate, baseline.below_floor = red, reason, floors
    return red, reason


def _rule(
    rule: str, red_ids: list[str], blocking: Collection[str], usable: bool, baseline: BaselineSummary | None
) -> list[str]:
    if rule == "failure" or not usable:
        if not red_ids:
            return []
        why = "" if rule == "failure" else f" (fail-on {rule} needs a trusted baseline; judged as failure)"
        return [f"{len(red_ids)} case(s) failed{why}"]
    if rule == "regression":
        new = [nodeid for nodeid in red_ids if nodeid in blocking]
        return [f"{len(new)} new failure(s) against the baseline"] if new else []
    if rule == "significant" and baseline is not None and baseline.significant:
        return [f"a significant drop against the baseline ({baseline.headline})"]
    return []


def _floors(record: RunRecord, gate: Gate) -> list[str]:
    reasons = []
    rate = _pass_rate(record.cases)
    if gate.min_pass_rate is not None and rate is not None and rate < gate.min_pass_rate:
        reasons.append(f"pass rate {rate:.1%} below the minimum {gate.min_pass_rate:.1%}")
    suites = group_by(record.cases, "suite")
    for suite, floor in sorted(gate.suite_min_pass_rate.items()):
        suite_rate = _pass_rate(suites.get(suite, []))
        if suite_rate is not None and suite_rate < floor:
            reasons.append(f"{suite}: pass rate {suite_rate:.1%} below the minimum {floor:.1%}")
    return reasons


def _pass_rate(cases: Iterable[CaseResult]) -> float | None:
    judged = [c.status for c in cases if c.status != "skipped"]
    return sum(1 for s in judged if s == "passed") / len(judged) if judged else None


def baseline_lines(record: RunRecord, listed: int = 20) -> list[str]:
    """Terminal lines: the comparison headline, new failures at their suite lines, fixes, and the gate."""
    baseline = record.baseline
    if baseline is None:
        return []
    gate = [f"gate: {'red' if baseline.red else 'green'}: {inert(baseline.gate)}"] if baseline.gate else []
    if not baseline.found:
        return [f"baseline: none ({inert(baseline.note)}); judged without one", *gate]
    trust = "" if baseline.trusted else " (from the project config: shown, not used to pass failures)"
    lines = [f"baseline {inert(baseline.source)}{trust}: {baseline.headline}"]
    for change, title in (("regressed", "regressed"), ("added", "new and failing"), ("fixed", "fixed")):
        cases = [c for c in record.cases if c.change == change and (change != "added" or is_red(c))]
        for case in cases[:listed]:
            where = f"{case.file}:{case.line}" if case.line else case.file
            flaky = f"; flaky (history): {case.history}" if case.history else ""
            lines.append(f"  {title}: {inert(where)} {inert(case.nodeid)} ({case.base_status or '-'} → {case.status})"
                         f"{inert(flaky)}")  # fmt: skip
        if len(cases) > listed:
            lines.append(f"  …and {len(cases) - listed} more {title}")
    return [*lines, *gate]


def quarantine_lines(record: RunRecord, gate: Gate) -> list[str]:
    """Terminal lines for the red cases a quarantine covers, saying which list put them there and what it did."""
    baseline = record.baseline
    usable = baseline is not None and baseline.found and baseline.trusted
    blocking = set(baseline.blocking) if usable and baseline is not None else set()
    lines = []
    for case in record.cases:
        if not is_red(case):
            continue
        source = "policy" if case.nodeid in gate.trusted_quarantine else None
        if source is None and case.nodeid in gate.config_quarantine:
            source = "project config" if usable else "project config; ignored without a trusted baseline"
        if source is None:
            continue
        effect = "still fails the check: it regressed" if case.nodeid in blocking else "does not fail the check"
        where = f"{case.file}:{case.line}" if case.line else case.file
        lines.append(f"quarantined ({source}): {inert(where)} {inert(case.nodeid)} {case.status}; {effect}")
    return lines


def history_lines(record: RunRecord, listed: int = 20) -> list[str]:
    """Terminal lines for the cases flaky in history: the evidence and the status now (a hint, not a verdict)."""
    cases = [c for c in record.cases if c.history]
    lines = []
    for case in cases[:listed]:
        where = f"{case.file}:{case.line}" if case.line else case.file
        evidence = inert(case.history or "")
        lines.append(f"flaky (history): {inert(where)} {inert(case.nodeid)} {evidence}; now {case.status}")
    if len(cases) > listed:
        lines.append(f"flaky (history): …and {len(cases) - listed} more")
    return lines
