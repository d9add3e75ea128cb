"""``helm-eval init`` then ``helm-eval doctor`` and ``pytest --helm-eval`` against a real vLLM serving
SmolLM2-135M-Instruct: the example suite it writes passes on a real model, and every doctor check is green."""

from __future__ import annotations

import pytest

from helm_eval.cli import main
from helm_eval.serve import VLLMServer


def test_scaffolded_project_runs_on_real_vllm(
    pytester: pytest.Pytester, vllm: VLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--dir", str(pytester.path), "--endpoint", vllm.base_url]) == 0
    capsys.readouterr()
    assert main(["doctor", "--dir", str(pytester.path)]) == 0
    report = capsys.readouterr().out
    for check in ("endpoint default:", "endpoint default /tokenize:", "endpoint default /metrics:"):
        assert f"ok   {check}" in report, report
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--helm-eval", "-v", timeout=600)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*suites/example.yaml::two-plus-two PASSED*"])
