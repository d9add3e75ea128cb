"""The single-file HTML report: self-contained, inert data, small; written by the CLI and by the plugin.

What it looks like and does in a browser is tested in test_html_browser.py (headless Chromium).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from fixtures.html_records import HOSTILE, sample_record
from helm_eval.report import Baseline, CaseDelta, render_html, write_html, write_run_record

DATA_BLOCK = re.compile(r'<script type="application/json" id="data">(.*?)</script>', re.S)


def page_data(page: str) -> dict[str, Any]:
    (blob,) = DATA_BLOCK.findall(page)
    data: dict[str, Any] = json.loads(blob)
    return data


def test_page_fetches_nothing() -> None:
    page = render_html(sample_record(20))
    # no external resource of any kind: scripts, styles, images, fonts, frames, imports
    for pattern in (r"<script[^>]*\ssrc=", r"<link\b", r"<img\b", r"<iframe\b", r"@import", r"url\(", r"<base\b"):
        assert not re.search(pattern, page, re.I), pattern
    urls = set(re.findall(r"https?://[^\s\"'<>]+", page))
    assert urls <= {"http://www.w3.org/2000/svg"}  # the SVG namespace name, never fetched
    assert "default-src 'none'" in page  # the page's CSP forbids fetches even if something slipped in


def test_hostile_text_cannot_leave_the_data_block() -> None:
    record = sample_record(10, hostile_at=4)
    page = render_html(record, title=HOSTILE)
    assert page.count("</script>") == 2  # the data block's and the page script's own
    assert "<!--" not in page
    assert "<img" not in page
    data = page_data(page)
    hostile = data["cases"][4]
    assert hostile["output"] == f"Here you go: {HOSTILE}"
    assert hostile["messages"] == [{"role": "user", "content": HOSTILE}]
    assert hostile["verdicts"][0][2] == f"expected 'x', got {HOSTILE}"
    assert data["title"] == HOSTILE


def test_page_data_has_the_record_figures() -> None:
    record = sample_record(40)
    data = page_data(render_html(record))
    totals = record.totals()
    assert data["totals"]["tokens"] == totals["total_tokens"]
    assert (data["totals"]["passed"], data["totals"]["failed"], data["totals"]["error"]) == (
        totals["passed"],
        totals["failed"],
        totals["error"],
    )
    assert data["totals"]["pass_rate"] == totals["passed"] / (totals["passed"] + totals["failed"] + totals["error"])
    assert [c["id"] for c in data["cases"]] == [c.nodeid for c in record.cases]
    assert data["budget"]["caps"][0]["used"] == 123_456
    assert data["baseline"] is None
    assert all("change" not in c for c in data["cases"])
    repeated = data["cases"][0]
    assert (repeated["repeats"], repeated["passes"], repeated["ci"]) == (3, 2, [0.21, 0.94])


def test_baseline_adds_changes_base_output_and_header_deltas() -> None:
    head, base = sample_record(12), sample_record(12, seed=8)
    first, second = head.cases[0].nodeid, head.cases[3].nodeid
    deltas = {first: CaseDelta("unchanged", "same words", "passed"), second: CaseDelta("regressed", "old", "passed")}
    data = page_data(render_html(head, baseline=Baseline(base, deltas, label="main")))
    assert data["baseline"]["label"] == "main"
    assert data["baseline"]["tokens"] == base.totals()["total_tokens"]
    assert data["baseline"]["changes"] == {"regressed": 1, "unchanged": 1}
    cases = {c["id"]: c for c in data["cases"]}
    assert (cases[second]["change"], cases[second]["base_output"], cases[second]["base_status"]) == (
        "regressed",
        "old",
        "passed",
    )
    assert "change" not in cases[head.cases[1].nodeid]


def test_two_thousand_cases_stay_under_two_megabytes(tmp_path: Path) -> None:
    size = write_html(sample_record(2000), tmp_path / "report.html")
    print(f"2,000-case HTML report: {size:,} bytes")
    assert size < 2_000_000


def test_cli_writes_the_page_from_run_records(tmp_path: Path) -> None:
    write_run_record(sample_record(30), tmp_path / "a.json")
    shard = sample_record(5, seed=3)
    for case in shard.cases:
        case.nodeid = case.nodeid.replace("case-", "shard-case-")
    write_run_record(shard, tmp_path / "b.json")
    out = tmp_path / "out" / "report.html"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "helm_eval.cli",
            "report",
            str(tmp_path / "a.json"),
            str(tmp_path / "b.json"),
            "--html",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stderr
    assert len(page_data(out.read_text())["cases"]) == 35  # both shards merged


def test_plugin_writes_the_page_with_prompts_and_outputs(project: Any) -> None:
    project.suite(
        "x.yaml",
        'prompts: ["What is {{q}}?"]\ntests:\n  - id: four\n    vars: {q: 2+2}\n    assert:\n'
        "      - type: contains\n        value: nope\n",
    )
    result = project.run("--helm-eval-html", "out/report.html")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"HTML report: {project.path / 'out' / 'report.html'}"])
    (case,) = page_data((project.path / "out" / "report.html").read_text())["cases"]
    assert case["status"] == "failed"
    assert case["messages"] == [{"role": "user", "content": "What is 2+2?"}]
    assert case["output"] == "echo: What is 2+2?"
    assert case["verdicts"][0][:2] == ["contains", "fail"]


def test_html_path_from_the_config_file(project: Any) -> None:
    project.file("helm-eval.yaml", "html: site/index.html\n")
    project.suite(
        "x.yaml", 'prompts: ["hi"]\ntests:\n  - id: a\n    assert:\n      - type: contains\n        value: hi\n'
    )
    project.run().assert_outcomes(passed=1)
    assert page_data((project.path / "site" / "index.html").read_text())["totals"]["passed"] == 1


def _link_args(**values: Any) -> Any:
    import argparse

    defaults = {"html": "helm-eval-reports/report.html", "html_link": None, "github": False, "gitlab": False}
    return argparse.Namespace(**{**defaults, **values})


def test_html_link_points_at_the_run_artifacts_on_github_and_the_artifact_file_on_gitlab() -> None:
    from helm_eval.report._cli import html_link

    github = {"GITHUB_RUN_ID": "99", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/app"}
    (line,) = html_link(_link_args(github=True), github)
    assert "[report.html](https://github.com/acme/app/actions/runs/99#artifacts)" in line
    gitlab = {"CI_JOB_URL": "https://gitlab.example.com/acme/app/-/jobs/5", "CI_PROJECT_DIR": "/builds/acme/app"}
    (line,) = html_link(_link_args(gitlab=True), gitlab)
    assert "(https://gitlab.example.com/acme/app/-/jobs/5/artifacts/file/helm-eval-reports/report.html)" in line
    absolute = _link_args(gitlab=True, html="/builds/acme/app/out/r.html")
    assert "/jobs/5/artifacts/file/out/r.html)" in html_link(absolute, gitlab)[0]
    assert html_link(_link_args(html=None, github=True), github) == []
    assert html_link(_link_args(), {}) == []  # nowhere to link to


def test_html_link_that_could_break_the_markdown_is_dropped() -> None:
    from helm_eval.report._cli import html_link

    assert html_link(_link_args(html_link="https://x.example/a) [click](javascript:alert(1)"), {}) == []
    assert html_link(_link_args(html_link="javascript:alert(1)"), {}) == []
    (line,) = html_link(_link_args(html_link="https://reports.example.com/pr-42/report.html"), {})
    assert line.endswith("[report.html](https://reports.example.com/pr-42/report.html)")
