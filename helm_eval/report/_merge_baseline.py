"""The baseline comparison of merged shard records.

Each shard of a sharded run is compared with the whole base run, so a shard's per-case changes are right but its
totals are not (the other shards' cases look removed). When every shard was compared with the same base run
(same ``base_id``, same trust), the merged record keeps the comparison with its figures recomputed over all
cases, exactly as ``compare`` would have made them. When the shards disagree, the merged record says so and
carries no usable baseline: the gate then judges it as without one (``fail-on regression`` acts as ``failure``).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence

from helm_eval._records import BaselineSummary, CaseResult, RunRecord
from helm_eval._stats import mcnemar_exact, pooled_p, significantly_worse
from helm_eval.report._headline import headline

#: every change a case can have against its baseline (``removed`` is counted from the shards' lists)
_CHANGES = ("regressed", "fixed", "added", "removed", "still_failing", "flaky", "skipped", "unchanged")


def base_id(base: RunRecord) -> str:
    """A short digest of the base run's cases (node id, status, passes) and its end time."""
    cases = sorted((c.nodeid, c.status, c.passes, c.repeats) for c in base.cases)
    text = json.dumps([cases, round(base.finished_at, 3)], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def merge_baselines(records: Sequence[RunRecord], cases: list[CaseResult]) -> BaselineSummary | None:
    """The merged record's baseline from its shards' (``None`` when no shard had one).

    ``cases`` are the merged cases; when the shards disagree on their baseline, their ``change`` and base fields
    are cleared (they would describe different base runs) and a note says why.
    """
    summaries = [r.baseline for r in records]
    if all(s is None for s in summaries):
        return None
    keys = {(s.source, s.found, s.trusted, s.base_id) if s is not None else None for s in summaries}
    first = next(s for s in summaries if s is not None)
    if len(keys) != 1:
        for case in cases:
            case.change, case.base_status, case.base_passes, case.base_repeats = None, None, 0, 0
        with_one = sum(1 for s in summaries if s is not None)
        if with_one < len(summaries):
            why = f"only {with_one} of {len(summaries)} shards were compared with a baseline"
        else:
            sources = sorted({s.source for s in summaries if s is not None})
            why = f"the shards were compared with different baselines ({', '.join(sources)})"
        note = f"{why}; compare the merged record with one (helm-eval report --baseline PATH)"
        return BaselineSummary(source=first.source, found=False, trusted=first.trusted, note=note)
    if not first.found:
        return BaselineSummary(source=first.source, found=False, trusted=first.trusted, note=first.note)
    return _recomputed(first, [s for s in summaries if s is not None], cases)


def _recomputed(first: BaselineSummary, shards: list[BaselineSummary], cases: list[CaseResult]) -> BaselineSummary:
    present = {c.nodeid for c in cases}
    # a base case no shard ran is removed; one that some shard ran is in ``cases``
    removed = sorted(set.intersection(*(set(s.removed) for s in shards)) - present)
    counts = Counter(c.change for c in cases if c.change)
    counts["removed"] = len(removed)
    blocking = [c.nodeid for c in cases
                if c.change == "regressed" or (c.change == "added" and c.status in ("failed", "error"))]  # fmt: skip
    mcnemar_p = mcnemar_exact(counts["fixed"], counts["regressed"])
    sampled = [(c.base_passes, c.base_repeats, c.passes, c.repeats) for c in cases
               if c.base_repeats > 1 and c.repeats > 1]  # fmt: skip
    sampled_p = pooled_p(sampled)
    judged = [c for c in cases if c.status != "skipped"]
    head_rate = sum(1 for c in judged if c.status == "passed") / len(judged) if judged else None
    tokens = sum(c.total_tokens for c in cases)
    tokens_change = (tokens - first.base_tokens) / first.base_tokens if first.base_tokens else None
    significant = significantly_worse(counts["regressed"], counts["fixed"], mcnemar_p, sampled, sampled_p, first.alpha)
    line = headline(counts["regressed"], counts["fixed"], first.base_pass_rate, head_rate, mcnemar_p,
                    significant=significant, sampled_p=sampled_p, tokens_change=tokens_change)  # fmt: skip
    return BaselineSummary(
        source=first.source,
        trusted=first.trusted,
        headline=line,
        counts={change: counts.get(change, 0) for change in _CHANGES},
        blocking=blocking,
        removed=removed,
        mcnemar_p=mcnemar_p,
        sampled_p=sampled_p,
        significant=significant,
        base_pass_rate=first.base_pass_rate,
        head_pass_rate=head_rate,
        tokens_change=tokens_change,
        # a floor one shard fell below keeps the merged record red: the shards' own gates saw only their cases
        below_floor=list(dict.fromkeys(floor for s in shards for floor in s.below_floor)),
        base_id=first.base_id,
        base_tokens=first.base_tokens,
        alpha=first.alpha,
    )
