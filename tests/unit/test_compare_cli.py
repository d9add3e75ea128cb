"""``helm-eval compare`` run as users run it: a real process over run records written to disk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helm_eval._records import CaseResult, RunRecord
from helm_eval.report import write_run_record


def _case(name: str, status: str, suite: str = "suites/qa.yaml", line: int = 4, **extra: object) -> CaseResult:
    return CaseResult(nodeid=f"{suite}::{name}", file=suite, line=line, status=status, suite=suite,  # type: ignore[arg-type]
                      model="smol", prompt_tokens=100, latency_ms=[50.0], **extra)  # type: ignore[arg-type]  # fmt: skip


def _write(path: Path, *cases: CaseResult) -> Path:
    write_run_record(RunRecord(cases=list(cases)), path)
    return path


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "helm_eval.cli", "compare", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


@pytest.fixture
def runs(tmp_path: Path) -> tuple[Path, Path]:
    base = _write(tmp_path / "base.json", _case("capital", "passed", output="Paris"), _case("old", "failed"),
                  _case("math", "failed", line=9), _case("gone", "passed"))  # fmt: skip
    head = _write(tmp_path / "head.json", _case("capital", "failed", output="Lyon"), _case("old", "failed"),
                  _case("math", "passed", line=9), _case("new", "passed"))  # fmt: skip
    return base, head


def test_json_lists_node_ids_and_figures(runs: tuple[Path, Path], tmp_path: Path) -> None:
    done = _run(tmp_path, str(runs[0]), str(runs[1]), "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["regressed"] == ["suites/qa.yaml::capital"]
    assert data["fixed"] == ["suites/qa.yaml::math"]
    assert data["added"] == ["suites/qa.yaml::new"]
    assert data["removed"] == ["suites/qa.yaml::gone"]
    assert data["mcnemar_p"] == 1.0
    assert data["total"]["base"]["pass_rate"] == 0.5
    capital = next(c for c in data["cases"] if c["nodeid"] == "suites/qa.yaml::capital")
    assert (capital["base_output"], capital["head_output"]) == ("Paris", "Lyon")


def test_text_names_suite_lines(runs: tuple[Path, Path], tmp_path: Path) -> None:
    done = _run(tmp_path, str(runs[0]), str(runs[1]))
    assert done.returncode == 0
    assert "1 regression, 1 fix · pass rate 50.0% → 50.0% (McNemar p = 1.00) · tokens +0%" in done.stdout
    assert "suites/qa.yaml:4  suites/qa.yaml::capital  passed → failed" in done.stdout
    assert "Still failing (already failing in the base) (1):" in done.stdout


def test_markdown_shows_base_and_head_output(runs: tuple[Path, Path], tmp_path: Path) -> None:
    done = _run(tmp_path, str(runs[0]), str(runs[1]), "--format", "markdown")
    assert done.returncode == 0
    assert "### Regressions (1)" in done.stdout
    assert "Base output:" in done.stdout
    assert "Paris" in done.stdout
    assert "Lyon" in done.stdout


def test_fail_on_sets_the_exit_status(runs: tuple[Path, Path], tmp_path: Path) -> None:
    assert _run(tmp_path, str(runs[0]), str(runs[1]), "--fail-on", "regression").returncode == 1
    # one regression against one fix is not significant
    assert _run(tmp_path, str(runs[0]), str(runs[1]), "--fail-on", "significant").returncode == 0
    assert _run(tmp_path, str(runs[0]), str(runs[1]), "--fail-on", "never").returncode == 0
    # the other way round nothing is new and red
    assert _run(tmp_path, str(runs[1]), str(runs[0]), "--fail-on", "regression").returncode == 1  # "gone" re-added
    same = _run(tmp_path, str(runs[0]), str(runs[0]), "--fail-on", "regression")
    assert same.returncode == 0
    assert "0 regressions, 0 fixes" in same.stdout


def test_shard_directories_are_merged(tmp_path: Path) -> None:
    _write(tmp_path / "base" / "shard-1" / "run.json", _case("a", "passed"))
    _write(tmp_path / "base" / "shard-2" / "run.json", _case("b", "passed", suite="suites/b.yaml"))
    _write(tmp_path / "head" / "shard-1" / "run.json", _case("a", "passed"))
    _write(tmp_path / "head" / "shard-2" / "run.json", _case("b", "error", suite="suites/b.yaml"))
    done = _run(tmp_path, "base", "head/*/run.json", "--format", "json", "--fail-on", "regression")
    assert done.returncode == 1
    assert json.loads(done.stdout)["regressed"] == ["suites/b.yaml::b"]


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "junk.json").write_text('{"version": 99}', encoding="utf-8")
    missing = _run(tmp_path, "nope.json", "junk.json")
    assert missing.returncode == 2
    assert missing.stderr.strip() == "helm-eval: base: no run record at nope.json"
    junk = _run(tmp_path, "junk.json", "junk.json")
    assert junk.returncode == 2
    assert "Traceback" not in junk.stderr
    assert "base: junk.json is not a run record: unsupported run record version 99" in junk.stderr
    (tmp_path / "list.json").write_text("[1, 2]", encoding="utf-8")
    listed = _run(tmp_path, "list.json", "junk.json")
    assert listed.returncode == 2
    assert "base: list.json is not a run record" in listed.stderr
    bad = _run(tmp_path, "junk.json", "junk.json", "--alpha", "2")
    assert bad.returncode == 2
    assert "--alpha must be between 0 and 1" in bad.stderr
