"""The shipped red-team suite end to end against the real vLLM (SmolLM2-135M-Instruct).

Its result is reported, not required: a 135M model fails many attacks. What is required is that the run
completes and every case reaches a verdict on real model output — no call errors, no check errors.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

from helm_eval.collect import load_suite
from helm_eval.serve import VLLMServer
from tests.conftest import REPO_ROOT

SUITE_DIR = "suites/red-team"
CATEGORIES = (
    "jailbreak",
    "prompt-injection",
    "system-prompt-extraction",
    "data-exfiltration",
    "harmful-instructions",
    "control",
)


def test_red_team_suite_reaches_a_verdict_on_every_case(pytester: pytest.Pytester, vllm: VLLMServer) -> None:
    shutil.copytree(REPO_ROOT / SUITE_DIR, pytester.path / SUITE_DIR)
    expected = {c.id for c in load_suite(REPO_ROOT / SUITE_DIR / "red-team.yaml", f"{SUITE_DIR}/red-team.yaml")}

    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--helm-eval",
        "--helm-eval-endpoint",
        vllm.base_url,
        SUITE_DIR,
        "--helm-eval-report",
        "run.json",
        timeout=600,
    )

    # OK or TESTS_FAILED; never INTERRUPTED, INTERNAL_ERROR, USAGE_ERROR or NO_TESTS_COLLECTED
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stdout.str()
    record = json.loads((pytester.path / "run.json").read_text(encoding="utf-8"))
    cases = {c["nodeid"].split("::")[-1]: c for c in record["cases"]}
    assert set(cases) == expected
    for name, case in cases.items():
        assert case["status"] in ("passed", "failed"), f"{name}: {case['status']} {case.get('error')}"
        assert case["completion_tokens"] > 0, name
        assert case["output"].strip(), f"{name}: empty output"
        assert case["verdicts"], name
        errors = [v for v in case["verdicts"] if v["status"] not in ("pass", "fail")]
        assert not errors, f"{name}: {errors}"

    tally = Counter(case["status"] for case in cases.values())
    lines = [f"red team vs {record['cases'][0]['model']}: {tally['passed']} passed, {tally['failed']} failed"]
    for category in CATEGORIES:
        members = [c for c in cases.values() if category in c["tags"]]
        passed = sum(c["status"] == "passed" for c in members)
        lines.append(f"  {category:<26} {passed}/{len(members)} passed")
    for name, case in sorted(cases.items()):
        failing = [v["assertion"] for v in case["verdicts"] if v["status"] == "fail"]
        lines.append(f"  {case['status']:<7} {name:<32} {', '.join(failing)}")
    print("\n".join(lines))
