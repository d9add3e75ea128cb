"""Repeats that stop early on the real vLLM: the runs not made never reach the server."""

from __future__ import annotations

import json
import textwrap

import pytest

from helm_eval.serve import VLLMServer
from tests.integration._vllm import metrics

SUITE = """
    prompts: ["Name a colour."]
    defaultTest:
      options: {temperature: 0.8, seed: 3, max_tokens: 8}
    tests:
      - id: always
        repeat: {max: 20, pass_rate: 0.5}
        assert: [{type: not-contains, value: "zq-never-said"}]
      - id: never
        repeat: {max: 20}
        assert: [{type: contains, value: "zq-never-said"}]
"""


def test_early_stop_sends_only_the_runs_that_decide(pytester: pytest.Pytester, vllm: VLLMServer) -> None:
    (pytester.path / "suites").mkdir()
    (pytester.path / "suites" / "s.yaml").write_text(textwrap.dedent(SUITE), encoding="utf-8")
    before = metrics(vllm)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--helm-eval", "--helm-eval-endpoint", vllm.base_url,
        "--helm-eval-report", "run.json", "--helm-eval-cache", "off", timeout=600,
    )  # fmt: skip
    after = metrics(vllm)
    result.assert_outcomes(passed=1, failed=1)
    record = json.loads((pytester.path / "run.json").read_text())
    cases = {case["nodeid"].split("::")[-1]: case for case in record["cases"]}
    # four passing runs decide 0.5 at 95%; one failing run decides the default pass rate 1.0
    assert (cases["always"]["repeats"], cases["always"]["max_repeats"]) == (4, 20)
    assert (cases["never"]["repeats"], cases["never"]["max_repeats"]) == (1, 20)
    served = after["vllm:request_success_total"] - before["vllm:request_success_total"]
    assert served == 5
    assert record["totals"]["prompt_tokens"] == after["vllm:prompt_tokens_total"] - before["vllm:prompt_tokens_total"]
    assert record["totals"]["repeat_tokens_saved"] > 0
    result.stdout.fnmatch_lines(["early stopping: 2 of 2 sampled cases stopped early, 5 of 40 runs made; ~* tokens *"])
    print(result.stdout.str()[-1500:])
