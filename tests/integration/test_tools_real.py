"""A real tool call: SmolLM2 on vLLM, with the tool named in ``tool_choice`` (vLLM enforces it by guided decoding)."""

from __future__ import annotations

import json
import textwrap

import pytest

from helm_eval.serve import VLLMServer

SUITE = """
prompts: ["What is the weather in Paris?"]
tests:
  - id: forced-call
    options:
      temperature: 0
      max_tokens: 48
      tool_choice: {type: function, function: {name: get_weather}}
      tools:
        - type: function
          function:
            name: get_weather
            description: Current weather in a city
            parameters:
              type: object
              properties: {city: {type: string, enum: [Paris, Rome, Oslo]}}
              required: [city]
              additionalProperties: false
    assert:
      - {type: is-valid-openai-tools-call}
      - {type: trajectory:tool-used, value: get_weather}
      - {type: tool-call-f1, value: [get_weather]}
      - {type: not-trajectory:tool-used, value: get_time}
"""


def test_a_forced_tool_call_is_kept_validated_and_reported(pytester: pytest.Pytester, vllm: VLLMServer) -> None:
    (pytester.path / "suites").mkdir()
    (pytester.path / "suites" / "tools.yaml").write_text(textwrap.dedent(SUITE).lstrip())
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--helm-eval", "--helm-eval-endpoint", vllm.base_url,
        "--helm-eval-report", "run.json", timeout=600,
    )  # fmt: skip
    record = json.loads((pytester.path / "run.json").read_text())
    (case,) = record["cases"]
    assert case["status"] == "passed", (case["verdicts"], case["tool_calls"], result.stdout.str()[-2000:])
    (call,) = case["tool_calls"]
    assert call["name"] == "get_weather"
    assert call["error"] is None
    assert call["arguments"]["city"] in ("Paris", "Rome", "Oslo")
    assert json.loads(call["raw_arguments"]) == call["arguments"]
    assert case["completion_tokens"] > 0
    result.assert_outcomes(passed=1)
