"""``pytest --helm-eval`` against a real vLLM serving SmolLM2-135M-Instruct.

Answers are real model output at temperature 0; token counts are checked against vLLM's own counters.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import threading
from pathlib import Path

import pytest

from helm_eval import Call
from helm_eval.dispatch import Dispatcher, Endpoint
from helm_eval.ledger import Ledger
from helm_eval.serve import VLLMServer
from tests.integration._vllm import http, metrics

MODEL = "smollm2"


def write_suite(root: Path, name: str, text: str) -> None:
    path = root / "suites" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def run_helm_eval(pytester: pytest.Pytester, vllm: VLLMServer, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--helm-eval", "--helm-eval-endpoint", vllm.base_url, *args, timeout=600
    )


def test_known_answer_passes_and_failure_shows_real_output(pytester: pytest.Pytester, vllm: VLLMServer) -> None:
    write_suite(
        pytester.path,
        "math.yaml",
        """
        prompts: ["{{q}}"]
        defaultTest: {options: {temperature: 0, max_tokens: 32}}
        tests:
          - id: two-plus-two
            vars: {q: "What is 2+2?"}
            assert: [{type: contains, value: "4"}]
          - id: ten-minus-three
            vars: {q: "What is 10 minus 3?"}
            assert: [{type: regex, value: "\\\\b7\\\\b"}]
        """,
    )
    result = run_helm_eval(pytester, vllm, "--helm-eval-report", "run.json")
    result.assert_outcomes(passed=1, failed=1)
    record = json.loads((pytester.path / "run.json").read_text())
    failed = next(case for case in record["cases"] if case["status"] == "failed")
    output = failed["output"]
    assert output
    assert "What is 10 minus 3?" not in output  # the model's answer, not an echo of the prompt
    assert failed["completion_tokens"] > 0
    result.stdout.fnmatch_lines(
        [
            "suites/math.yaml:7: ten-minus-three: failed",
            f"  output: '{output}'",
            f"  FAIL regex: output does not match /\\b7\\b/: '{output}'",
        ]
    )


def test_32_concurrent_cases_tokens_equal_vllm_counters(pytester: pytest.Pytester, vllm: VLLMServer) -> None:
    tests = "\n".join(
        f"  - {{id: q{i}, vars: {{n: {i}}}, assert: [{{type: length, value: {{min: 1}}}}]}}" for i in range(32)
    )
    write_suite(
        pytester.path,
        "many.yaml",
        "prompts: ['What is {{n}} plus {{n}}?']\n"
        "defaultTest: {options: {temperature: 0, max_tokens: 24}}\n"
        f"tests:\n{tests}\n",
    )
    running: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            running.append(metrics(vllm).get("vllm:num_requests_running", 0.0))
            done.wait(0.05)

    before = metrics(vllm)
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = run_helm_eval(
            pytester, vllm, "--helm-eval-concurrency", "32", "--helm-eval-report", "run.json",
            "--helm-eval-ledger", "ledger.sqlite", "--helm-eval-budget-tokens", "1000000",
        )  # fmt: skip
    finally:
        done.set()
        sampler.join()
    after = metrics(vllm)
    result.assert_outcomes(passed=32)
    record = json.loads((pytester.path / "run.json").read_text())
    totals = record["totals"]
    assert totals["calls"] == 32
    assert totals["prompt_tokens"] == after["vllm:prompt_tokens_total"] - before["vllm:prompt_tokens_total"]
    assert totals["completion_tokens"] == (
        after["vllm:generation_tokens_total"] - before["vllm:generation_tokens_total"]
    )
    assert max(running) > 1, "the requests were never batched: dispatch-ahead did not fill the server's queue"
    # the ledger agrees with the server's own counters, and /tokenize estimates were exact
    ledger = Ledger(str(pytester.path / "ledger.sqlite")).calls()
    assert sum(r["prompt_tokens"] for r in ledger) == totals["prompt_tokens"]
    assert sum(r["completion_tokens"] for r in ledger) == totals["completion_tokens"]
    assert all(c["estimated_prompt_tokens"] == c["prompt_tokens"] for c in record["cases"])


def test_tokenize_count_equals_reported_prompt_tokens(vllm: VLLMServer) -> None:
    messages = ({"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name three colours."})
    endpoint = Endpoint("local", vllm.base_url, MODEL, None, max_concurrency=4, timeout=120)
    dispatcher = Dispatcher({"local": endpoint})
    try:
        outcome = dispatcher.submit(Call("local", vllm.base_url, MODEL, messages, {"max_tokens": 8})).result()
    finally:
        dispatcher.close()
    assert outcome.ok, outcome.error
    root = vllm.base_url.removesuffix("/v1")
    counted = http(root + "/tokenize", {"model": MODEL, "messages": list(messages), "add_generation_prompt": True})
    assert counted["count"] == outcome.prompt_tokens


def test_helm_model_fixture_against_real_model(pytester: pytest.Pytester, vllm: VLLMServer) -> None:
    pytester.makepyfile(
        """
        from helm_eval import assert_check

        def test_arithmetic(helm_model):
            out = helm_model("What is 2+2?", temperature=0, max_tokens=32)
            assert_check(out, "contains", "4")
            assert out.prompt_tokens > 0 and out.completion_tokens > 0
            assert out.model == "smollm2"
        """
    )
    result = run_helm_eval(pytester, vllm, "--helm-eval-report", "run.json")
    result.assert_outcomes(passed=1)
    case = json.loads((pytester.path / "run.json").read_text())["cases"][0]
    assert case["kind"] == "python"
    assert case["completion_tokens"] > 0


def _launchers() -> set[str]:
    ps = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in ps.splitlines() if "_launcher.py serve" in line}


def test_helm_eval_serve_runs_a_session_and_leaves_nothing(
    pytester: pytest.Pytester, vllm: VLLMServer, vllm_python: str, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--helm-eval-serve smollm2`` starts its own server for the session and stops it at the end."""
    # pytester points HOME at a temp dir: say where the vLLM venv and the prepared model are
    monkeypatch.setenv("HELM_EVAL_VLLM_PYTHON", vllm_python)
    monkeypatch.setenv("HELM_EVAL_CACHE", str(model_dir.parent.parent))
    write_suite(
        pytester.path,
        "smoke.yaml",
        """
        prompts: ["What is 2+2?"]
        tests:
          - {id: add, options: {temperature: 0, max_tokens: 32}, assert: [{type: contains, value: "4"}]}
        """,
    )
    before = _launchers()
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--helm-eval", "--helm-eval-serve", "smollm2", timeout=600
    )
    result.assert_outcomes(passed=1)
    assert _launchers() <= before, "the session's vLLM outlived pytest"


def test_helm_eval_serve_failure_is_one_clear_error(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELM_EVAL_VLLM_PYTHON", "/nonexistent/python")
    write_suite(pytester.path, "s.yaml", "prompts: ['hi']\ntests: [{id: a}]\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--helm-eval", "--helm-eval-serve", "/some/model")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: helm-eval: --helm-eval-serve /some/model: *"])
    assert "Traceback" not in result.stderr.str()
