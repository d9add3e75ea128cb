"""``helm-eval cost``: exact figures from a ledger with known calls, in every format, in process and as a command.

The ledger holds seven calls over three ISO weeks of November 2026, for two teams and one call with no team:

    week      team     repo       workflow  model        prompt  completion  cost_usd   kind
    2026-W45  search   acme/app   eval      gpt-4o-mini    1000         200  0.00027    call
    2026-W45  search   acme/app   eval      gpt-4o-mini     500         100  0.000135   call
    2026-W45  ranking  acme/rank  nightly   smollm2        2000         500  0.01       call
    2026-W46  ranking  acme/rank  nightly   smollm2        3000        1000  0.02       call
    2026-W46  -        acme/app   eval      gpt-4o-mini     100          50  (none)     judge
    2026-W47  search   acme/app   eval      gpt-4o-mini    4000        1000  0.0012     call
    2026-W47  search   acme/app   eval      gpt-4o-mini     700           0  0.0005     unsettled
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from helm_eval.cli import main
from helm_eval.ledger import CallRow, Ledger

REPO_ROOT = Path(__file__).resolve().parents[2]


def _ts(day: int) -> float:
    return datetime(2026, 11, day, 10, 0, tzinfo=UTC).timestamp()


def _call(day: int, team: str | None, prompt: int, completion: int, cost: float | None, **kw: str) -> CallRow:
    search = team != "ranking"
    labels: dict[str, str | None] = {
        "repo": "acme/app" if search else "acme/rank",
        "pr": "7" if search else None,
        "workflow": "eval" if search else "nightly",
        "team": team,
    }
    suite = "suites/qa.yaml" if search else "suites/rank.yaml"
    model = "gpt-4o-mini" if search else "smollm2"
    return CallRow("run-1", labels, suite, "c", model, "default", prompt, completion, cost_usd=cost, ts=_ts(day), **kw)  # type: ignore[arg-type]


CALLS = [
    _call(3, "search", 1000, 200, 0.00027),
    _call(3, "search", 500, 100, 0.000135),
    _call(3, "ranking", 2000, 500, 0.01),
    _call(10, "ranking", 3000, 1000, 0.02),
    _call(10, None, 100, 50, None, kind="judge"),
    _call(17, "search", 4000, 1000, 0.0012),
    _call(17, "search", 700, 0, 0.0005, kind="unsettled", status="unsettled"),
]

BY_TEAM = [
    {"team": "ranking", "calls": 2, "prompt_tokens": 5000, "completion_tokens": 1500, "tokens": 6500, "cost_usd": 0.03},
    {"team": "search", "calls": 4, "prompt_tokens": 6200, "completion_tokens": 1300, "tokens": 7500,
     "cost_usd": 0.002105},
    {"team": "-", "calls": 1, "prompt_tokens": 100, "completion_tokens": 50, "tokens": 150, "cost_usd": 0.0},
]  # fmt: skip


def _fill(url: str) -> str:
    ledger = Ledger(url)
    ledger.record_calls(CALLS)
    ledger.close()
    return url


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> str:
    return _fill(str(tmp_path / "ledger.sqlite"))


def _cost(capsys: pytest.CaptureFixture[str], ledger: str, *args: str) -> str:
    capsys.readouterr()
    assert main(["cost", "--ledger", ledger, *args]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def test_json_by_team_on_both_backends(ledger_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert json.loads(_cost(capsys, _fill(ledger_url), "--format", "json")) == BY_TEAM


def test_table_by_team(sqlite_ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cost(capsys, sqlite_ledger) == (
        "team     calls  prompt_tokens  completion_tokens  tokens  cost_usd\n"
        "ranking      2          5,000              1,500   6,500    0.0300\n"
        "search       4          6,200              1,300   7,500    0.0021\n"
        "-            1            100                 50     150    0.0000\n"
        "total        7         11,300              2,850  14,150    0.0321\n"
    )


def test_csv_by_model_and_team_since_a_date(sqlite_ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = _cost(capsys, sqlite_ledger, "--by", "model,team", "--since", "2026-11-09", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows == [
        {"model": "smollm2", "team": "ranking", "calls": "1", "prompt_tokens": "3000", "completion_tokens": "1000",
         "tokens": "4000", "cost_usd": "0.02"},
        {"model": "gpt-4o-mini", "team": "search", "calls": "2", "prompt_tokens": "4700", "completion_tokens": "1000",
         "tokens": "5700", "cost_usd": "0.0017"},
        {"model": "gpt-4o-mini", "team": "-", "calls": "1", "prompt_tokens": "100", "completion_tokens": "50",
         "tokens": "150", "cost_usd": "0.0"},
    ]  # fmt: skip


def test_weekly_trend_by_team(sqlite_ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    rows = json.loads(_cost(capsys, sqlite_ledger, "--weekly", "--format", "json"))
    assert [(r["week"], r["team"], r["calls"], r["tokens"], r["cost_usd"]) for r in rows] == [
        ("2026-W45", "ranking", 1, 2500, 0.01),
        ("2026-W45", "search", 2, 1800, 0.000405),
        ("2026-W46", "ranking", 1, 4000, 0.02),
        ("2026-W46", "-", 1, 150, 0.0),
        ("2026-W47", "search", 2, 5700, 0.0017),
    ]


def test_by_kind_shows_unsettled_calls(sqlite_ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    rows = json.loads(_cost(capsys, sqlite_ledger, "--by", "kind", "--format", "json"))
    assert {r["kind"]: (r["calls"], r["tokens"]) for r in rows} == {
        "call": (5, 13300),
        "judge": (1, 150),
        "unsettled": (1, 700),
    }


def test_openmetrics_by_repo_workflow(sqlite_ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = _cost(capsys, sqlite_ledger, "--by", "repo,workflow", "--format", "openmetrics")
    assert out.endswith("\n# EOF\n")
    lines = out.splitlines()
    for family in ("helm_eval_calls", "helm_eval_tokens", "helm_eval_cost_usd"):
        assert f"# TYPE {family} counter" in lines
    assert 'helm_eval_calls_total{repo="acme/rank",workflow="nightly"} 2' in lines
    assert 'helm_eval_calls_total{repo="acme/app",workflow="eval"} 5' in lines
    assert 'helm_eval_tokens_total{repo="acme/app",workflow="eval"} 7650' in lines
    assert 'helm_eval_tokens_total{repo="acme/rank",workflow="nightly"} 6500' in lines
    assert 'helm_eval_cost_usd_total{repo="acme/rank",workflow="nightly"} 0.03' in lines
    assert 'helm_eval_cost_usd_total{repo="acme/app",workflow="eval"} 0.002105' in lines


def test_empty_period_prints_a_note(sqlite_ledger: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "--ledger", sqlite_ledger, "--since", "2030-01-01"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"helm-eval: no calls in {sqlite_ledger} since 2030-01-01\n"
    assert json.loads(_cost(capsys, sqlite_ledger, "--since", "2030-01-01", "--format", "json")) == []


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "helm_eval.cli", "cost", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_command_reads_the_default_ledger_in_the_current_directory(tmp_path: Path) -> None:
    _fill(str(tmp_path / ".helm-eval" / "ledger.sqlite"))
    done = _run(tmp_path, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == BY_TEAM


def test_missing_ledger_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    done = _run(tmp_path)
    assert done.returncode == 2  # a usage error, like every HelmEvalError of the command
    assert done.stdout == ""
    assert done.stderr == (
        "helm-eval: no ledger at .helm-eval/ledger.sqlite: runs write one there (pytest --helm-eval); "
        "pass --ledger PATH or a postgresql:// URL\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_reads_without_writing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_a_ledger = tmp_path / "other.sqlite"
    not_a_ledger.write_bytes(b"")
    assert main(["cost", "--ledger", str(not_a_ledger)]) == 2
    assert capsys.readouterr().err == f"helm-eval: {not_a_ledger} is not a helm-eval ledger (no helm_eval_meta table)\n"
    assert not_a_ledger.read_bytes() == b""  # no schema was created in it


def test_postgres_without_schema_is_refused(postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    empty = postgres_url.rsplit("/", 1)[0] + "/postgres"
    assert main(["cost", "--ledger", empty]) == 2
    assert capsys.readouterr().err == f"helm-eval: {empty} is not a helm-eval ledger (no helm_eval_meta table)\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "team,colour"], "argument --by: unknown dimension colour: choose from team,repo,pr,"),
        (["--since", "last tuesday"], "argument --since: expects e.g. 7d, 12h or 2026-11-01, got 'last tuesday'"),
        (["--format", "xml"], "argument --format: invalid choice: 'xml'"),
    ],
)
def test_usage_errors_name_the_option(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["cost", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
