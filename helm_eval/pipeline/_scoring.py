"""promptfoo's scoring of one run: assertion weights, the weighted score, the test threshold and named metrics.

An assertion scores what its check measured when that is a 0-1 score (a judge), else 1 when it held and 0 when
not (a negated scored check scores 1 - score). A run's score is the weighted mean over its assertions. Without a
test ``threshold`` a run passes when every assertion of weight > 0 holds (weight 0 reports only); with one it
passes when its score reaches the threshold, whichever assertions failed.
"""

from __future__ import annotations

from collections.abc import Sequence

from helm_eval._records import Assertion, Case, Verdict


def assertion_score(assertion: Assertion, verdict: Verdict) -> float:
    """The 0-1 score ``verdict`` earns for ``assertion``."""
    if verdict.status == "error":
        return 0.0
    score = verdict.score
    if score is not None and 0.0 <= score <= 1.0:
        return 1.0 - score if assertion.negate else score
    return 1.0 if verdict.passed else 0.0


def run_score(assertions: Sequence[Assertion], verdicts: Sequence[Verdict]) -> float | None:
    """The weighted mean of the assertion scores of one run; ``None`` when no assertion carries weight."""
    total = sum(a.weight for a in assertions)
    if total <= 0:
        return None
    return sum(a.weight * assertion_score(a, v) for a, v in zip(assertions, verdicts, strict=True)) / total


def run_passed(case: Case, verdicts: Sequence[Verdict]) -> bool:
    """Whether one run of ``case`` passes (see the module docstring); an errored check always fails the run."""
    if any(v.status == "error" for v in verdicts):
        return False
    if case.score_threshold is None:
        return all(v.passed for a, v in zip(case.assertions, verdicts, strict=True) if a.weight > 0)
    score = run_score(case.assertions, verdicts)
    return (1.0 if score is None else score) + 1e-12 >= case.score_threshold


def named_scores(assertions: Sequence[Assertion], runs: Sequence[Sequence[Verdict]]) -> dict[str, float]:
    """Per ``metric`` name, the weighted score of its assertions, averaged over the runs."""
    names = dict.fromkeys(a.metric for a in assertions if a.metric)
    scores: dict[str, float] = {}
    for name in names:
        chosen = [i for i, a in enumerate(assertions) if a.metric == name]
        per_run = []
        for verdicts in runs:
            weights = [assertions[i].weight or 1.0 for i in chosen]  # a weight-0 metric still reports its score
            earned = sum(w * assertion_score(assertions[i], verdicts[i]) for w, i in zip(weights, chosen, strict=True))
            per_run.append(earned / sum(weights))
        if per_run:
            scores[name] = round(sum(per_run) / len(per_run), 6)
    return scores
