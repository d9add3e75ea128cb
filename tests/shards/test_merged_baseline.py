"""Merged shard records keep their baseline comparison, so ``helm-eval report`` gates a sharded run by itself.

Real shard runs against the vLLM double, each compared with the same base run (as the Action and the GitLab
template do): the merged record's comparison equals that of one unsharded run; shards compared with different
base runs merge into a record that says so and is judged as without a baseline.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from helm_eval._records import RunRecord
from helm_eval.report import merge_records
from tests.conftest import word_suite

WORDS = [f"w{i}" for i in range(8)]
SUITE = word_suite(*WORDS)


def _wrong(project: Any, *words: str) -> None:
    project.double.set(rules=[(word, "no idea") for word in words])


def _run(project: Any, *args: str) -> None:
    project.run("--helm-eval-cache", "off", *args)


def _record(project: Any, name: str) -> RunRecord:
    return RunRecord.from_json(project.record(name))


def _report(project: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "helm_eval.cli", "report", *args], cwd=project.path,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def test_shards_against_one_baseline_merge_into_the_whole_comparison(project: Any) -> None:
    project.suite("qa.yaml", SUITE)
    _wrong(project, "w1", "w2")
    _run(project, "--helm-eval-report", "base.json")
    _wrong(project, "w2", "w3", "w5", "w6")  # w1 fixed; w3, w5, w6 regress; w2 still failing
    _run(project, "--helm-eval-baseline", "base.json", "--helm-eval-report", "whole.json")
    for shard in ("1/2", "2/2"):
        _run(project, "--helm-eval-baseline", "base.json", "--helm-eval-shard", shard,
             "--helm-eval-report", f"shard-{shard[0]}.json")  # fmt: skip
    shards = [_record(project, "shard-1.json"), _record(project, "shard-2.json")]
    assert all(s.baseline is not None and s.baseline.removed for s in shards)  # alone, each misses the other half
    merged = merge_records(shards)
    whole = _record(project, "whole.json").baseline
    assert merged.baseline is not None
    assert whole is not None
    assert merged.baseline.found
    assert merged.baseline.removed == []
    for name in ("headline", "counts", "mcnemar_p", "significant", "base_pass_rate", "head_pass_rate", "base_id"):
        assert getattr(merged.baseline, name) == getattr(whole, name), name
    assert sorted(merged.baseline.blocking) == sorted(whole.blocking) == [f"suites/qa.yaml::w{i}" for i in (3, 5, 6)]
    assert merged.baseline.tokens_change is not None
    assert whole.tokens_change is not None
    assert abs(merged.baseline.tokens_change - whole.tokens_change) < 1e-9
    assert merged.baseline.headline.startswith("3 regressions, 1 fix · pass rate 75.0% → 50.0%")

    # helm-eval report merges them and gates on regressions with no --baseline
    done = _report(project, "shard-1.json", "shard-2.json", "--merged-output", "merged.json", "--fail-on",
                   "regression")  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "check failed (fail-on regression): 3 new failure(s) against the baseline" in done.stderr
    assert project.record("merged.json")["baseline"]["counts"]["regressed"] == 3
    # a head whose only failure was already in the base passes the same gate
    _wrong(project, "w1", "w2")
    for shard in ("1/2", "2/2"):
        _run(project, "--helm-eval-baseline", "base.json", "--helm-eval-shard", shard,
             "--helm-eval-report", f"same-{shard[0]}.json")  # fmt: skip
    same = _report(project, "same-1.json", "same-2.json", "--fail-on", "regression")
    assert same.returncode == 0, same.stderr


def test_shards_against_different_baselines_say_so_and_gate_as_without_one(project: Any) -> None:
    project.suite("qa.yaml", SUITE)
    _wrong(project, "w1")
    _run(project, "--helm-eval-report", "base-a.json")
    _wrong(project, "w1", "w4")
    _run(project, "--helm-eval-report", "base-b.json")
    _wrong(project, "w1")  # no case changes against base-a
    _run(project, "--helm-eval-baseline", "base-a.json", "--helm-eval-shard", "1/2", "--helm-eval-report", "s1.json")
    _run(project, "--helm-eval-baseline", "base-b.json", "--helm-eval-shard", "2/2", "--helm-eval-report", "s2.json")
    _run(project, "--helm-eval-shard", "2/2", "--helm-eval-report", "bare.json")
    merged = merge_records([_record(project, "s1.json"), _record(project, "s2.json")])
    assert merged.baseline is not None
    assert not merged.baseline.found
    assert merged.baseline.note.startswith("the shards were compared with different baselines (")
    assert all(c.change is None and c.base_status is None for c in merged.cases)
    partly = merge_records([_record(project, "s1.json"), _record(project, "bare.json")])
    assert partly.baseline is not None
    assert partly.baseline.note.startswith("only 1 of 2 shards were compared with a baseline;")
    done = _report(project, "s1.json", "s2.json", "--fail-on", "regression", "--merged-output", "m.json")
    assert done.returncode == 1, done.stderr  # w1 fails; no usable baseline says it was already failing
    assert json.loads((project.path / "m.json").read_text())["baseline"]["found"] is False
    # --baseline still compares the merged record with one base run
    fixed = _report(project, "s1.json", "s2.json", "--baseline", "base-a.json", "--fail-on", "regression")
    assert fixed.returncode == 0, fixed.stderr
