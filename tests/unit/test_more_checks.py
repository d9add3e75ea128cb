"""rouge-n, bleu, word-count, is-xml, cost and assert-set: promptfoo's meaning and defaults."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from fixtures.vllm_double import VLLMDouble
from helm_eval._records import Assertion, Outcome
from helm_eval.checks import run_check, validate_assertion
from helm_eval.collect import load_suite
from helm_eval.config import SuiteError
from helm_eval.pipeline import Pipeline, RunSettings


def verdict(kind: str, output: str, value: Any = None, threshold: float | None = None, **kw: Any) -> Any:
    return run_check(Assertion(kind, value, threshold), output, Outcome(output), **kw)


def test_rouge_n_scores_unigram_overlap_with_a_default_threshold_of_0_75() -> None:
    same = verdict("rouge-n", "The cat sat on the mat.", "the cat sat on the mat")
    assert same.passed
    assert same.score == pytest.approx(1.0)
    assert same.threshold == 0.75
    half = verdict("rouge-n", "the cat ran far away", "the cat sat on the mat")
    assert not half.passed
    assert 0 < half.score < 0.75
    assert verdict("rouge-n", "the cat ran far away", "the cat sat on the mat", threshold=0.3).passed
    assert "reference text" in str(validate_assertion("rouge-n", ["a"], None))


def test_bleu_takes_one_or_several_references_with_a_default_threshold_of_0_5() -> None:
    exact = verdict(
        "bleu", "The quick brown fox jumps over the lazy dog", "the quick brown fox jumps over the lazy dog"
    )
    assert exact.passed
    assert exact.score == pytest.approx(1.0)
    assert exact.threshold == 0.5
    other = verdict("bleu", "a slow red fox sleeps", "the quick brown fox jumps over the lazy dog")
    assert not other.passed
    refs = ["the quick brown fox jumps over the lazy dog", "a slow red fox sleeps"]
    assert verdict("bleu", "a slow red fox sleeps", refs).passed
    assert "reference text" in str(validate_assertion("bleu", [""], None))


@pytest.mark.parametrize(
    ("value", "output", "passed"),
    [
        (3, "one two  three", True),
        (3, "one two", False),
        ({"min": 2}, "one two", True),
        ({"max": 2}, "one two three", False),
        ({"min": 1, "max": 3}, "  one\ntwo\tthree ", True),
        ({"min": 1, "max": 3}, "", False),
    ],
)
def test_word_count(value: Any, output: str, passed: bool) -> None:
    assert verdict("word-count", output, value).passed is passed


def test_word_count_values_are_checked_at_load_time() -> None:
    assert "min (5) is more than max (2)" in str(validate_assertion("word-count", {"min": 5, "max": 2}, None))
    assert "number of words" in str(validate_assertion("word-count", "ten", None))
    assert "number of words" in str(validate_assertion("word-count", True, None))


def test_is_xml_checks_well_formedness_and_required_elements() -> None:
    doc = "<analysis><summary>ok</summary><score>3</score></analysis>"
    assert verdict("is-xml", doc).passed
    assert verdict("is-xml", doc, ["analysis.summary", "analysis.score"]).passed
    assert verdict("is-xml", doc, {"requiredElements": ["analysis.summary"]}).passed
    assert verdict("is-xml", doc, "analysis.summary, analysis.score").passed
    missing = verdict("is-xml", doc, ["analysis.details"])
    assert not missing.passed
    assert "analysis.details" in missing.reason
    assert not verdict("is-xml", "<a><b></a>").passed
    assert not verdict("is-xml", "plain text").passed


def test_is_xml_refuses_entity_expansion() -> None:
    bomb = '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><l>&b;</l>'
    result = verdict("is-xml", bomb)
    assert not result.passed
    assert "not well-formed" in result.reason


def test_cost_is_a_ceiling_in_dollars() -> None:
    assert verdict("cost", "x", threshold=0.01, cost_usd=0.002).passed
    over = verdict("cost", "x", threshold=0.001, cost_usd=0.002)
    assert not over.passed
    assert "$0.002000" in over.reason
    assert verdict("cost", "x", threshold=0.01).status == "error"
    assert "set threshold" in str(validate_assertion("cost", None, None))


def test_assert_set_needs_all_or_a_weighted_share() -> None:
    nested = (Assertion("contains", "a"), Assertion("contains", "b"), Assertion("contains", "c", weight=2.0))
    assert verdict("assert-set", "abc", nested).passed
    partly = verdict("assert-set", "ab", nested)
    assert not partly.passed
    assert partly.score == pytest.approx(0.5)
    assert "2 of 3 nested assertions passed" in partly.reason
    assert verdict("assert-set", "ab", nested, threshold=0.5).passed
    assert not verdict("assert-set", "ab", nested, threshold=0.6).passed


SUITE = """
prompts: ["{{q}}"]
tests:
  - vars: {q: "say the cat sat"}
    options: {max_tokens: 16}
    assert:
      - type: assert-set
        threshold: 0.5
        assert:
          - {type: contains, value: "{{q}}"}
          - {type: word-count, value: {max: 2}}
      - {type: not-assert-set, assert: [{type: is-xml}]}
      - {type: cost, threshold: 0.5}
"""


def test_assert_set_in_a_suite_with_templated_nested_values_and_cost(
    tmp_path: Path, vllm_double: VLLMDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text(textwrap.dedent(SUITE).lstrip())
    (tmp_path / "helm-eval.yaml").write_text(
        f"endpoints:\n  local: {{url: '{vllm_double.base_url}',\n"
        "    price: {input_usd_per_1m: 1000, output_usd_per_1m: 1000}}\ncache: 'off'\n"
    )
    monkeypatch.chdir(tmp_path)
    (case,) = load_suite(suite, "s.yaml")
    assert case.assertions[0].value[0].value == "say the cat sat"
    with Pipeline(RunSettings.load(tmp_path)) as pipeline:
        (result,) = pipeline.evaluate([case])
    assert [v.status for v in result.verdicts] == ["pass", "pass", "pass"], result.verdicts
    assert result.cost_usd is not None
    assert result.cost_usd > 0


@pytest.mark.parametrize(
    ("assertion", "message"),
    [
        ("{type: assert-set, value: 1}", "nested assertions under assert"),
        ("{type: contains, value: a, assert: [{type: is-xml}]}", "only assert-set takes nested assert"),
        ("{type: assert-set, assert: [{type: containz, value: a}]}", "did you mean 'contains'"),
    ],
)
def test_assert_set_mistakes_are_suite_errors(tmp_path: Path, assertion: str, message: str) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text(f"prompts: [hi]\ntests:\n  - assert:\n      - {assertion}\n")
    with pytest.raises(SuiteError, match=message):
        load_suite(suite, "s.yaml")
