"""Tool calls: tools sent as given, the calls kept next to the text, and the checks that read them."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from fixtures.vllm_double import VLLMDouble
from helm_eval import Call
from helm_eval._records import Assertion, Outcome, ToolCall
from helm_eval.checks import run_check, validate_assertion
from helm_eval.collect import load_suite
from helm_eval.dispatch import build_payload, cache_key
from helm_eval.pipeline import Pipeline, RunSettings

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city"],
        },
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}


def outcome(*calls: tuple[str, Any]) -> Outcome:
    tool_calls = tuple(
        ToolCall(name, args, json.dumps(args))
        if not isinstance(args, str)
        else ToolCall(name, None, args, error="arguments are not valid JSON: x")
        for name, args in calls
    )
    return Outcome("", tool_calls=tool_calls)


def check(kind: str, value: Any, result: Outcome, threshold: float | None = None, negate: bool = False) -> Any:
    options = {"tools": [WEATHER, TIME]}
    return run_check(Assertion(kind, value, threshold, negate=negate), result.text, result, options=options)


def test_tools_and_tool_choice_are_sent_as_given_and_key_the_cache() -> None:
    choice = {"type": "function", "function": {"name": "get_weather"}}
    call = Call(
        "e", "http://x/v1", "m", ({"role": "user", "content": "hi"},), {"tools": [WEATHER], "tool_choice": choice}
    )
    payload = build_payload(call)
    assert payload["tools"] == [WEATHER]
    assert payload["tool_choice"] == choice
    plain = Call("e", "http://x/v1", "m", call.messages, {})
    other = Call("e", "http://x/v1", "m", call.messages, {"tools": [WEATHER], "tool_choice": "required"})
    assert len({cache_key(call, None), cache_key(plain, None), cache_key(other, None)}) == 3


def test_a_suite_takes_tools_under_options(tmp_path: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "prompts: [hi]\ntests:\n  - options: {tools: "
        + json.dumps([WEATHER])
        + ", tool_choice: required}\n    assert: [{type: tool-call-f1, value: [get_weather]}]\n"
    )
    (case,) = load_suite(suite, "s.yaml")
    assert case.options["tools"] == [WEATHER]
    assert case.options["tool_choice"] == "required"


@pytest.mark.parametrize(
    ("calls", "passed", "reason"),
    [
        ([("get_weather", {"city": "Paris"})], True, "valid"),
        ([("get_weather", {"city": "Paris"}), ("get_time", {})], True, "valid"),
        ([], False, "called no tool"),
        ([("get_stock", {})], False, "names no offered tool"),
        ([("get_weather", {"unit": "c"})], False, "'city' is a required property"),
        ([("get_weather", {"city": "Paris", "unit": "k"})], False, "at unit"),
        ([("get_weather", '{"city": "Par')], False, "not valid JSON"),
    ],
)
def test_is_valid_openai_tools_call(calls: list[tuple[str, Any]], passed: bool, reason: str) -> None:
    verdict = check("is-valid-openai-tools-call", None, outcome(*calls))
    assert verdict.passed is passed
    assert reason in verdict.reason


def test_is_valid_openai_tools_call_needs_offered_tools() -> None:
    result = outcome(("get_weather", {"city": "Paris"}))
    verdict = run_check(Assertion("is-valid-openai-tools-call"), "", result)
    assert verdict.status == "error"
    assert "no tools were offered" in verdict.reason
    assert run_check(Assertion("is-valid-openai-tools-call", [WEATHER]), "", result).passed
    assert "invalid parameters schema" in str(
        validate_assertion("is-valid-openai-tools-call", [{"function": {"name": "f", "parameters": {"type": 3}}}], None)
    )


@pytest.mark.parametrize(
    ("value", "threshold", "calls", "score", "passed"),
    [
        (["get_weather"], None, [("get_weather", {})], 1.0, True),
        ("get_weather, get_time", None, [("get_weather", {})], 2 / 3, False),
        ("get_weather, get_time", 0.6, [("get_weather", {})], 2 / 3, True),
        (["get_weather"], None, [("get_weather", {}), ("get_weather", {})], 1.0, True),
        (["get_weather"], None, [], 0.0, False),
    ],
)
def test_tool_call_f1(value: Any, threshold: float | None, calls: list[Any], score: float, passed: bool) -> None:
    verdict = check("tool-call-f1", value, outcome(*calls), threshold)
    assert verdict.score == pytest.approx(score)
    assert verdict.passed is passed
    assert verdict.threshold == (threshold if threshold is not None else 1.0)


def test_trajectory_tool_used() -> None:
    result = outcome(("get_weather", {"city": "A"}), ("get_weather", {"city": "B"}))
    assert check("trajectory:tool-used", "get_weather", result).passed
    assert not check("trajectory:tool-used", ["get_weather", "get_time"], result).passed
    assert check("trajectory:tool-used", {"name": "get_weather", "min": 2}, result).passed
    assert not check("trajectory:tool-used", {"name": "get_weather", "max": 1}, result).passed
    assert check("trajectory:tool-used", "get_time", result, negate=True).passed
    assert "a tool name" in str(validate_assertion("trajectory:tool-used", 3, None))


def test_trajectory_tool_sequence() -> None:
    result = outcome(("get_time", {}), ("get_weather", {}), ("get_time", {}))
    assert check("trajectory:tool-sequence", ["get_time", "get_time"], result).passed
    assert not check("trajectory:tool-sequence", ["get_weather", "get_weather"], result).passed
    exact = {"steps": ["get_time", "get_weather"], "mode": "exact"}
    assert not check("trajectory:tool-sequence", exact, result).passed
    exact["steps"] = ["get_time", "get_weather", "get_time"]
    assert check("trajectory:tool-sequence", exact, result).passed
    assert "mode must be" in str(validate_assertion("trajectory:tool-sequence", {"steps": ["a"], "mode": "x"}, None))


def test_trajectory_tool_args_match_is_a_subset_match() -> None:
    result = outcome(("get_weather", {"city": "Paris", "unit": "c", "days": [1, 2]}), ("get_time", {}))
    assert check("trajectory:tool-args-match", {"name": "get_weather", "args": {"city": "Paris"}}, result).passed
    assert check("trajectory:tool-args-match", {"name": "get_weather", "args": {"days": [1, 2]}}, result).passed
    assert not check("trajectory:tool-args-match", {"name": "get_weather", "args": {"days": [1]}}, result).passed
    assert not check("trajectory:tool-args-match", {"name": "get_weather", "args": {"city": "Rome"}}, result).passed
    exact = {"name": "get_weather", "args": {"city": "Paris"}, "mode": "exact"}
    assert not check("trajectory:tool-args-match", exact, result).passed
    assert not check("trajectory:tool-args-match", {"name": "get_stock", "args": {}}, result).passed
    assert "needs args" in str(validate_assertion("trajectory:tool-args-match", {"name": "x"}, None))


def test_tool_calls_reach_the_run_record_and_survive_the_cache(
    tmp_path: Path, vllm_double: VLLMDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    def calls(body: Any) -> list[dict[str, Any]] | None:
        if not body.get("tools"):
            return None
        return [{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "get_time", "arguments": "{oops"}]

    vllm_double.set(tool_calls=calls)
    (tmp_path / "helm-eval.yaml").write_text(f"endpoints:\n  local: {{url: '{vllm_double.base_url}'}}\n")
    (tmp_path / "s.yaml").write_text(
        textwrap.dedent(
            f"""
            prompts: ["weather in Paris?"]
            tests:
              - options: {{max_tokens: 8, temperature: 0, tools: {json.dumps([WEATHER, TIME])}}}
                assert:
                  - {{type: trajectory:tool-args-match, value: {{name: get_weather, args: {{city: Paris}}}}}}
                  - {{type: is-valid-openai-tools-call}}
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    for _ in range(2):  # the second run answers from the response cache
        settings = RunSettings.load(tmp_path)
        with Pipeline(settings) as pipeline:
            (result,) = pipeline.evaluate(load_suite(tmp_path / "s.yaml", "s.yaml"))
        assert result.status == "failed"
        assert [v.status for v in result.verdicts] == ["pass", "fail"]
        assert "not valid JSON" in result.verdicts[1].reason
        assert [c["name"] for c in result.tool_calls] == ["get_weather", "get_time"]
        assert result.tool_calls[0]["arguments"] == {"city": "Paris"}
        assert result.tool_calls[1]["raw_arguments"] == "{oops"
        assert result.tool_calls[1]["error"]
    assert result.cache_hits == 1
    sent = [r.body for r in vllm_double.requests if r.path.endswith("/chat/completions")]
    assert len(sent) == 1
    assert [t["function"]["name"] for t in sent[0]["tools"]] == ["get_weather", "get_time"]
