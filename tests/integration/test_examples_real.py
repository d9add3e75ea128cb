"""The tool-call, conversation and metrics examples (suites/examples, run by ``make demo``) pass on real SmolLM2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helm_eval.serve import VLLMServer

EXAMPLES = Path(__file__).resolve().parents[2] / "suites" / "examples"


def test_tools_conversation_and_metrics_examples_pass(pytester: pytest.Pytester, vllm: VLLMServer) -> None:
    (pytester.path / "suites").mkdir()
    for name in ("tools.yaml", "conversation.yaml", "metrics.yaml"):
        shutil.copy(EXAMPLES / name, pytester.path / "suites" / name)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--helm-eval", "--helm-eval-endpoint", vllm.base_url,
        "--helm-eval-report", "run.json", timeout=900,
    )  # fmt: skip
    record = json.loads((pytester.path / "run.json").read_text())
    cases = {case["nodeid"].split("::")[-1]: case for case in record["cases"]}
    for case in cases.values():
        print(case["nodeid"], case["status"], case["output"][:200], case["tool_calls"], case["verdicts"])
    assert {name: case["status"] for name, case in cases.items()} == {
        "weather-call": "passed",
        "follow-up": "passed",
        "capital": "passed",
    }, result.stdout.str()[-3000:]
    (call,) = cases["weather-call"]["tool_calls"]
    assert call["name"] == "get_weather"
    assert call["arguments"]["city"] in ("Paris", "London", "Tokyo")
    conversation = cases["follow-up"]
    assert [m["role"] for m in conversation["transcript"]] == ["user", "assistant", "user", "assistant"]
    assert conversation["calls"] == 2
    assert conversation["transcript"][1]["content"] != conversation["transcript"][3]["content"]
    rouge = next(v for v in cases["capital"]["verdicts"] if v["assertion"] == "rouge-n")
    assert rouge["score"] >= 0.5
    result.assert_outcomes(passed=3)
