"""Multi-turn conversations: sent turn by turn with the model's own answers, checked per turn, reported whole."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fixtures.vllm_double import VLLMDouble
from helm_eval import RunRecord
from helm_eval.checks import scan_inputs
from helm_eval.collect import load_suite
from helm_eval.config import SuiteError
from helm_eval.pipeline import Pipeline, RunSettings
from helm_eval.report._markdown import render as markdown_summary

SUITE = """
prompts: ["My name is {{name}}."]
defaultTest: {options: {max_tokens: 16, temperature: 0}}
tests:
  - id: remembers
    vars: {name: Ada}
    turns: ["What is my name?", "Thanks, {{name}}. Bye!"]
    assert:
      - {type: contains, value: "echo: My name is Ada.", turn: 1}
      - {type: contains, value: "What is my name?", turn: 2}
      - {type: contains, value: "Bye!"}
  - id: forgets
    vars: {name: Bob}
    turns: ["What is my name?"]
    assert:
      - {type: contains, value: "Bob"}
"""


def write(root: Path, suite: str = SUITE) -> Path:
    path = root / "s.yaml"
    path.write_text(textwrap.dedent(suite).lstrip())
    return path


def test_turns_are_sent_one_by_one_with_the_models_answers(
    tmp_path: Path, vllm_double: VLLMDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "helm-eval.yaml").write_text(f"endpoints:\n  local: {{url: '{vllm_double.base_url}'}}\ncache: 'off'\n")
    monkeypatch.chdir(tmp_path)
    cases = load_suite(write(tmp_path), "s.yaml")
    with Pipeline(RunSettings.load(tmp_path)) as pipeline:
        remembers, forgets = pipeline.evaluate(cases)
    rows = pipeline.ledger.calls(run_id=pipeline.run_id)  # written once the pipeline is closed
    sent = [r.body["messages"] for r in vllm_double.requests if r.path.endswith("/chat/completions")]
    ada = [m for m in sent if "Ada" in m[0]["content"]]
    assert [len(m) for m in sorted(ada, key=len)] == [1, 3, 5]
    assert sorted(ada, key=len)[-1] == [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "echo: My name is Ada."},
        {"role": "user", "content": "What is my name?"},
        {"role": "assistant", "content": "echo: What is my name?"},
        {"role": "user", "content": "Thanks, Ada. Bye!"},
    ]
    assert remembers.status == "passed", remembers.verdicts
    assert [v.reason.split(":")[0] for v in remembers.verdicts[:2]] == ["turn 1", "turn 2"]
    assert remembers.calls == 3
    mine = [r for r in rows if r["case_id"] == "remembers"]
    assert len(mine) == 3
    assert remembers.prompt_tokens == sum(r["prompt_tokens"] for r in mine) > 0
    assert remembers.completion_tokens == sum(r["completion_tokens"] for r in mine) > 0
    assert [(m["role"], m["turn"]) for m in remembers.transcript] == [
        ("user", 1), ("assistant", 1), ("user", 2), ("assistant", 2), ("user", 3), ("assistant", 3)
    ]  # fmt: skip
    assert remembers.transcript[-1]["content"] == "echo: Thanks, Ada. Bye!"
    assert forgets.status == "failed"
    record = RunRecord(cases=[remembers, forgets])
    again = RunRecord.from_json(record.to_json())
    assert again.cases[0].transcript == remembers.transcript
    text = markdown_summary(again)
    assert "Conversation:" in text
    assert "echo: What is my name?" in text


def test_each_turn_goes_through_the_cache(
    tmp_path: Path, vllm_double: VLLMDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "helm-eval.yaml").write_text(f"endpoints:\n  local: {{url: '{vllm_double.base_url}'}}\n")
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        with Pipeline(RunSettings.load(tmp_path)) as pipeline:
            results = list(pipeline.evaluate(load_suite(write(tmp_path), "s.yaml")))
    assert [r.cache_hits for r in results] == [3, 2]
    assert [r.total_tokens for r in results] == [0, 0]
    assert len([r for r in vllm_double.requests if r.path.endswith("/chat/completions")]) == 5


def test_a_budget_that_cannot_fit_a_later_turn_skips_the_case(
    tmp_path: Path, vllm_double: VLLMDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "helm-eval.yaml").write_text(
        f"endpoints:\n  local: {{url: '{vllm_double.base_url}'}}\ncache: 'off'\nbudget:\n  run: {{tokens: 60}}\n"
    )
    monkeypatch.chdir(tmp_path)
    suite = SUITE.replace("max_tokens: 16", "max_tokens: 20")
    with Pipeline(RunSettings.load(tmp_path)) as pipeline:
        results = list(pipeline.evaluate(load_suite(write(tmp_path, suite), "s.yaml")[:1]))
    (result,) = results
    assert result.status == "skipped"
    assert str(result.skip_reason).startswith("budget: ")
    assert 1 <= len([r for r in vllm_double.requests if r.path.endswith("/chat/completions")]) < 3


def test_an_assertion_on_a_turn_the_test_lacks_is_a_suite_error(tmp_path: Path) -> None:
    suite = SUITE.replace("turn: 2}", "turn: 4}")
    with pytest.raises(SuiteError, match=r"s.yaml:\d+: .*turn 4, but the test has 3 turns"):
        load_suite(write(tmp_path, suite), "s.yaml")


def test_input_guardrails_scan_every_turn(tmp_path: Path) -> None:
    suite = SUITE.replace("Thanks, {{name}}. Bye!", "my key is AKIAIOSFODNN7EXAMPLE")
    case = load_suite(write(tmp_path, suite), "s.yaml")[0]
    assert any("turns[1]" in f.where for f in scan_inputs(case))
