"""Base versus head: what a change did to each case, each suite and each model, and whether it is significant.

Reads run records only. Shards are merged first (``merge_records``), so a sharded base compares with a
sharded head. The paired test is the exact McNemar test on the cases both runs judged; cases sampled more than
once also get Fisher's exact test on their pass counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from helm_eval._records import CaseResult, CaseStatus, RunRecord
from helm_eval._stats import (
    RunCounts,
    fisher_exact,
    mcnemar_exact,
    percentile,
    pooled_p,
    significantly_worse,
    wilson_interval,
)
from helm_eval.ledger import CaseHistory
from helm_eval.report._figures import group_by
from helm_eval.report._merge import merge_records

Change = Literal["regressed", "fixed", "added", "removed", "still_failing", "flaky", "skipped", "unchanged"]
#: every change, most important first (the order reports list them in)
CHANGES: tuple[Change, ...] = (
    "regressed", "fixed", "added", "removed", "still_failing", "flaky", "skipped", "unchanged",
)  # fmt: skip
#: significance level of the tests unless the caller asks for another
ALPHA = 0.05


@dataclass(frozen=True, slots=True)
class CaseChange:
    """One case (node id) in base and head."""

    nodeid: str
    change: Change
    """``regressed`` (passed → failed or errored), ``fixed``, ``added``, ``removed``, ``still_failing``,
    ``flaky`` (same status, but repeats disagree in a run), ``skipped`` (not judged in one run), ``unchanged``."""
    base_status: CaseStatus | None
    """``None`` when the base has no such case."""
    head_status: CaseStatus | None
    """``None`` when the head has no such case."""
    file: str
    line: int | None
    """Suite line in the head (the base's for a removed case)."""
    suite: str
    model: str
    base_output: str = ""
    """The base run's output excerpt (untrusted text: escape it wherever it is shown)."""
    head_output: str = ""
    """The head run's output excerpt (untrusted text)."""
    base_passes: int = 0
    base_repeats: int = 0
    head_passes: int = 0
    head_repeats: int = 0
    flaky: bool = False
    """Repeats of the case disagree in the base or the head run."""
    p_value: float | None = None
    """Fisher's exact test on the pass counts, when the case was sampled more than once in both runs."""
    history: CaseHistory | None = None
    """The case's recent runs in the ledger, when the comparison was given a history (``flaky_history``)."""

    @property
    def flaky_history(self) -> bool:
        """Its recent runs in the ledger both passed and failed: a hint, never a reason to pass the check."""
        return self.history is not None and self.history.flaky

    @property
    def blocking(self) -> bool:
        """A new failure: regressed, or added and red (what ``fail-on: regression`` fails the check for)."""
        return self.change == "regressed" or (self.change == "added" and self.head_status in ("failed", "error"))

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible dict."""
        data = {name: getattr(self, name) for name in _CHANGE_FIELDS}
        data["history"] = self.history.to_json() if self.history is not None else None
        return data


_CHANGE_FIELDS = tuple(CaseChange.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class Side:
    """The figures of one group of cases (a suite, a model, or the whole run) in one run."""

    cases: int = 0
    passed: int = 0
    judged: int = 0
    """Passed plus failed plus errored."""
    tokens: int = 0
    cost_usd: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None

    @property
    def pass_rate(self) -> float | None:
        """Passed over judged; ``None`` when nothing was judged."""
        return self.passed / self.judged if self.judged else None

    @property
    def interval(self) -> tuple[float, float] | None:
        """95% Wilson interval of the pass rate."""
        return wilson_interval(self.passed, self.judged) if self.judged else None

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible dict, with the pass rate and its interval."""
        interval = self.interval
        return {
            "cases": self.cases,
            "passed": self.passed,
            "judged": self.judged,
            "pass_rate": self.pass_rate,
            "interval": list(interval) if interval else None,
            "tokens": self.tokens,
            "cost_usd": self.cost_usd,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
        }


@dataclass(frozen=True, slots=True)
class GroupDelta:
    """A suite, a model or the whole run, before and after."""

    name: str
    base: Side
    head: Side

    @property
    def tokens_change(self) -> float | None:
        """Relative change of tokens (0.12 for +12%); ``None`` when the base spent none."""
        return (self.head.tokens - self.base.tokens) / self.base.tokens if self.base.tokens else None

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible dict."""
        return {"name": self.name, "base": self.base.to_json(), "head": self.head.to_json(),
                "tokens_change": self.tokens_change}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Comparison:
    """Everything ``compare`` finds; the public result reports and gates are built from."""

    cases: dict[str, CaseChange]
    """Per node id, in the head's order, then the removed cases."""
    total: GroupDelta
    suites: list[GroupDelta]
    models: list[GroupDelta]
    mcnemar_p: float
    """Exact McNemar p-value over the cases judged in both runs (1.0 when no pair is discordant)."""
    sampled_p: float | None = None
    """Fisher's exact test on the pooled pass counts of the cases sampled more than once in both runs."""
    alpha: float = ALPHA
    base_labels: dict[str, str] = field(default_factory=dict)
    head_labels: dict[str, str] = field(default_factory=dict)
    base: RunRecord | None = field(default=None, repr=False, compare=False)
    """The base run (shards merged) the comparison was made against."""

    def of(self, change: Change) -> list[CaseChange]:
        """The cases with ``change``, in report order."""
        return [c for c in self.cases.values() if c.change == change]

    def counts(self) -> dict[str, int]:
        """How many cases have each change (every change present, 0 when none)."""
        found = Counter(c.change for c in self.cases.values())
        return {change: found.get(change, 0) for change in CHANGES}

    @property
    def blocking(self) -> list[CaseChange]:
        """New failures: regressed cases and added cases that are red."""
        return [c for c in self.cases.values() if c.blocking]

    @property
    def flaky(self) -> list[CaseChange]:
        """Cases whose repeats disagree in either run."""
        return [c for c in self.cases.values() if c.flaky]

    @property
    def flaky_history(self) -> list[CaseChange]:
        """Cases whose recent runs in the ledger both passed and failed (when a history was given)."""
        return [c for c in self.cases.values() if c.flaky_history]

    @property
    def significant(self) -> bool:
        """True when the head is worse and a test says so at ``alpha``.

        The tests: McNemar over the shared cases, the pooled pass counts of sampled cases, or any sampled case
        on its own.
        """
        counts = self.counts()
        return significantly_worse(counts["regressed"], counts["fixed"], self.mcnemar_p,
                                   _sampled(self.cases.values()), self.sampled_p, self.alpha)  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """The JSON of ``helm-eval compare --format json``: node id lists first, then the figures."""
        return {
            "regressed": [c.nodeid for c in self.of("regressed")],
            "fixed": [c.nodeid for c in self.of("fixed")],
            "added": [c.nodeid for c in self.of("added")],
            "removed": [c.nodeid for c in self.of("removed")],
            "still_failing": [c.nodeid for c in self.of("still_failing")],
            "flaky": [c.nodeid for c in self.flaky],
            "flaky_history": [c.nodeid for c in self.flaky_history],
            "counts": self.counts(),
            "mcnemar_p": self.mcnemar_p,
            "sampled_p": self.sampled_p,
            "alpha": self.alpha,
            "significant": self.significant,
            "total": self.total.to_json(),
            "suites": [g.to_json() for g in self.suites],
            "models": [g.to_json() for g in self.models],
            "cases": [c.to_json() for c in self.cases.values()],
        }


def compare(
    base: RunRecord | Sequence[RunRecord],
    head: RunRecord | Sequence[RunRecord],
    *,
    alpha: float = ALPHA,
    history: Mapping[str, CaseHistory] | None = None,
) -> Comparison:
    """Compare a base run with a head run; each may be one record or the records of its shards.

    ``history`` (node id → the case's recent runs, from ``helm_eval.ledger.case_history``) marks the cases that
    are flaky in history; it changes no case's ``change`` and nothing the gate decides.
    """
    base_run = base if isinstance(base, RunRecord) else merge_records(base)
    head_run = head if isinstance(head, RunRecord) else merge_records(head)
    before = {c.nodeid: c for c in base_run.cases}
    after = {c.nodeid: c for c in head_run.cases}
    known = history or {}
    cases = {nodeid: _case_change(before.get(nodeid), case, known.get(nodeid)) for nodeid, case in after.items()}
    cases.update({nodeid: _case_change(case, None, known.get(nodeid)) for nodeid, case in before.items()
                  if nodeid not in after})  # fmt: skip
    counts = Counter(c.change for c in cases.values())
    return Comparison(
        cases=cases,
        total=GroupDelta("total", _side(base_run.cases), _side(head_run.cases)),
        suites=_groups(base_run.cases, head_run.cases, "suite"),
        models=_groups(base_run.cases, head_run.cases, "model"),
        mcnemar_p=mcnemar_exact(counts["fixed"], counts["regressed"]),
        sampled_p=pooled_p(_sampled(cases.values())),
        alpha=alpha,
        base_labels=dict(base_run.labels),
        head_labels=dict(head_run.labels),
        base=base_run,
    )


def _passed(status: CaseStatus) -> bool:
    return status == "passed"


def _disagree(case: CaseResult | None) -> bool:
    return case is not None and 0 < case.passes < case.repeats


def _case_change(base: CaseResult | None, head: CaseResult | None, history: CaseHistory | None) -> CaseChange:
    shown = head if head is not None else base
    assert shown is not None
    flaky = _disagree(base) or _disagree(head)
    change: Change
    if base is None:
        change = "added"
    elif head is None:
        change = "removed"
    elif "skipped" in (base.status, head.status):
        change = "skipped"
    elif _passed(base.status) and not _passed(head.status):
        change = "regressed"
    elif not _passed(base.status) and _passed(head.status):
        change = "fixed"
    elif flaky:
        change = "flaky"
    elif not _passed(head.status):
        change = "still_failing"
    else:
        change = "unchanged"
    p_value = None
    if base is not None and head is not None and base.repeats > 1 and head.repeats > 1:
        p_value = fisher_exact(base.passes, base.repeats - base.passes, head.passes, head.repeats - head.passes)
    return CaseChange(
        nodeid=shown.nodeid,
        change=change,
        base_status=base.status if base is not None else None,
        head_status=head.status if head is not None else None,
        file=shown.file,
        line=shown.line,
        suite=shown.suite or shown.file,
        model=shown.model,
        base_output=base.output if base is not None else "",
        head_output=head.output if head is not None else "",
        base_passes=base.passes if base is not None else 0,
        base_repeats=base.repeats if base is not None else 0,
        head_passes=head.passes if head is not None else 0,
        head_repeats=head.repeats if head is not None else 0,
        flaky=flaky,
        p_value=p_value,
        history=history,
    )


def _sampled(cases: Iterable[CaseChange]) -> list[RunCounts]:
    """The pass counts of the cases sampled (repeated) in both runs."""
    return [(c.base_passes, c.base_repeats, c.head_passes, c.head_repeats) for c in cases
            if c.base_repeats > 1 and c.head_repeats > 1]  # fmt: skip


def _side(cases: Sequence[CaseResult]) -> Side:
    latencies = [ms for c in cases for ms in c.latency_ms]
    costs = [c.cost_usd for c in cases if c.cost_usd is not None]
    return Side(
        cases=len(cases),
        passed=sum(1 for c in cases if c.status == "passed"),
        judged=sum(1 for c in cases if c.status != "skipped"),
        tokens=sum(c.total_tokens for c in cases),
        cost_usd=round(sum(costs), 6) if costs else None,
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95),
    )


def _groups(base: list[CaseResult], head: list[CaseResult], by: Literal["suite", "model"]) -> list[GroupDelta]:
    before, after = group_by(base, by), group_by(head, by)
    return [GroupDelta(name, _side(before.get(name, [])), _side(after.get(name, [])))
            for name in sorted(before.keys() | after.keys())]  # fmt: skip
