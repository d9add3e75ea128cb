"""Model-graded checks against the vLLM double scripting the judge's replies.

The system under test and the judge are the same double: plain questions get a canned answer, judge prompts
(recognised by what they ask for) get the scripted verdict. Every judge call goes through the run's pipeline,
so the double's request log, the run record and the ledger show exactly what the judge cost.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from helm_eval.ledger import Ledger

QUESTION = "What is the capital of France?"
ANSWER = "Paris is the capital of France."
QUESTION_RULE = (r"capital of France\?$", ANSWER)

RUBRIC_SUITE = """
    prompts: ["What is the capital of France?"]
    defaultTest: {options: {max_tokens: 16}}
    tests:
      - id: capital
        assert:
          - type: llm-rubric
            value: names Paris as the capital
"""


def judge_prompts(project: Any) -> list[dict[str, Any]]:
    """Bodies of the requests the judge received (everything but the question under test)."""
    return [r.body for r in project.chat_requests() if r.body["messages"][-1]["content"] != QUESTION]


def ledger_rows(project: Any) -> list[dict[str, Any]]:
    return Ledger(str(project.path / ".helm-eval" / "ledger.sqlite")).calls()


def rubric(reply: str) -> list[tuple[str, str]]:
    return [QUESTION_RULE, (r"<Rubric>", reply)]


def no_traceback(result: pytest.RunResult) -> None:
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    assert "INTERNALERROR" not in output


# -- llm-rubric ----------------------------------------------------------------------------------------------


@pytest.mark.vllm_double(rules=rubric('{"reason": "it names Paris", "pass": true, "score": 1.0}'))
def test_rubric_pass_counts_judge_tokens_apart_in_record_and_ledger(project: Any) -> None:
    project.suite("x.yaml", RUBRIC_SUITE)
    result = project.run("--helm-eval-report", "run.json")
    result.assert_outcomes(passed=1)
    [judged] = judge_prompts(project)
    assert judged["temperature"] == 0.0
    assert judged["seed"] == 0
    assert judged["max_tokens"] == 512
    assert "<Rubric>\nnames Paris as the capital\n</Rubric>" in judged["messages"][-1]["content"]
    # structured output: the server is asked for the verdict's JSON schema (vLLM enforces it)
    response_format = judged["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["schema"]["required"] == ["reason", "pass", "score"]
    record = project.record()
    [case] = record["cases"]
    totals = project.double.totals
    judge_rows = [r for r in ledger_rows(project) if r["kind"] == "judge"]
    call_rows = [r for r in ledger_rows(project) if r["kind"] == "call"]
    assert len(judge_rows) == 1
    assert len(call_rows) == 1
    assert case["judge_tokens"] == judge_rows[0]["tokens"] > 0
    # the case's own tokens are the system under test's only; the judge's are counted apart
    assert case["total_tokens"] == call_rows[0]["tokens"]
    assert case["total_tokens"] + case["judge_tokens"] == totals.prompt_tokens + totals.completion_tokens
    assert record["totals"]["judge_tokens"] == case["judge_tokens"]
    assert judge_rows[0]["case_id"] == call_rows[0]["case_id"] == "capital"
    assert case["verdicts"][0]["score"] == 1.0


@pytest.mark.vllm_double(rules=rubric('{"reason": "it talks about Lyon", "pass": false, "score": 0.2}'))
def test_rubric_failure_shows_score_threshold_and_reason(project: Any) -> None:
    project.suite(
        "x.yaml",
        """
        prompts: ["What is the capital of France?"]
        tests:
          - id: capital
            assert:
              - type: llm-rubric
                value: names Paris as the capital
                threshold: 0.5
        """,
    )
    result = project.run("--helm-eval-report", "run.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "suites/x.yaml:3: capital: failed",
            f"  output: '{ANSWER}'",
            "  FAIL llm-rubric: llm-rubric score 0.20, threshold 0.5, judge says fail; judge: it talks about Lyon",
        ]
    )
    [verdict] = project.record()["cases"][0]["verdicts"]
    assert (verdict["status"], verdict["score"], verdict["threshold"]) == ("fail", 0.2, 0.5)
    no_traceback(result)


TWO_RUBRICS = """
    prompts: ["What is the capital of France?"]
    tests:
      - id: first
        assert: [{type: llm-rubric, value: names Paris}]
      - id: second
        assert: [{type: llm-rubric, value: names Paris as the capital}]
"""


@pytest.mark.vllm_double(
    rules=rubric('{"reason": "it names Paris", "pass": true, "score": 1.0}'), structured_output=False
)
def test_a_server_without_structured_output_gets_the_plain_prompt_after_one_refusal(project: Any) -> None:
    project.suite("x.yaml", TWO_RUBRICS)
    result = project.run("--helm-eval-report", "run.json")
    result.assert_outcomes(passed=2)
    asked = ["response_format" in body for body in judge_prompts(project)]
    # refusals (HTTP 400: one per case at most, as both are sent ahead at once), each retried without the field;
    # once a refusal is known, the endpoint is asked without it from the start
    assert asked.count(False) == 2
    assert 1 <= asked.count(True) <= 2
    assert not any(asked[asked.index(False) :])
    judge_rows = [r for r in ledger_rows(project) if r["kind"] == "judge"]
    assert sum(r["tokens"] for r in judge_rows) == sum(c["judge_tokens"] for c in project.record()["cases"])


@pytest.mark.vllm_double(rules=rubric('{"reason": "it names Paris", "pass": true, "score": 1.0}'))
def test_structured_output_can_be_turned_off(project: Any) -> None:
    project.file("helm-eval.yaml", "judge: {structured: false}\n")
    project.suite("x.yaml", RUBRIC_SUITE)
    project.run().assert_outcomes(passed=1)
    [judged] = judge_prompts(project)
    assert "response_format" not in judged


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("I think the output is fine.", "judge output is not JSON; judge said: 'I think the output is fine.'"),
        ('{"verdict": "yes"}', "judge output lacks 'reason' (a string), 'pass' or 'score'; judge said: *"),
        ('{"reason": "ok", "pass": "yes"}', "judge output lacks 'pass' as true/false; judge said: *"),
    ],
    ids=["not-json", "missing-fields", "wrong-type"],
)
def test_malformed_rubric_reply_is_a_clear_error_not_a_crash(project: Any, reply: str, error: str) -> None:
    project.double.set(rules=rubric(reply))
    project.suite("x.yaml", RUBRIC_SUITE)
    result = project.run("--helm-eval-report", "run.json", "--junitxml", "junit.xml")
    # the judge failed, not the model under test: an error (inconclusive), never a failure
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"suites/x.yaml:4: capital: judge gave no valid verdict: llm-rubric: {error}"])
    [case] = project.record()["cases"]
    assert case["status"] == "error"
    assert case["error"].startswith("judge gave no valid verdict: llm-rubric: judge output")
    assert (case["verdicts"][0]["status"], case["verdicts"][0]["inconclusive"]) == ("error", True)
    junit = (project.path / "junit.xml").read_text()
    assert "<error " in junit
    assert "<failure" not in junit
    assert "judge gave no valid verdict" in junit
    no_traceback(result)


@pytest.mark.vllm_double(rules=rubric("no idea"))
def test_a_model_that_fails_a_plain_check_fails_whatever_the_judge_says(project: Any) -> None:
    project.suite(
        "x.yaml",
        """
        prompts: ["What is the capital of France?"]
        tests:
          - id: capital
            assert:
              - {type: contains, value: Lyon}
              - {type: llm-rubric, value: names Paris as the capital}
        """,
    )
    result = project.run("--helm-eval-report", "run.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["  FAIL contains: *", "  ERROR llm-rubric: inconclusive: judge output is not JSON*"])
    assert project.record()["cases"][0]["status"] == "failed"


def test_rubric_reply_in_prose_with_only_a_score_uses_the_default_threshold(project: Any) -> None:
    project.double.set(rules=rubric('Sure! ```json\n{"reason": "names Paris", "score": 0.9}\n```'))
    project.suite("x.yaml", RUBRIC_SUITE)
    project.run("--helm-eval-report", "run.json").assert_outcomes(passed=1)
    [verdict] = project.record()["cases"][0]["verdicts"]
    assert (verdict["score"], verdict["threshold"]) == (0.9, 0.5)


@pytest.mark.vllm_double(rules=[QUESTION_RULE], faults=["ok", "503"])
def test_judge_call_failing_after_retries_is_an_error_naming_the_judge_endpoint(project: Any) -> None:
    project.suite("x.yaml", RUBRIC_SUITE)
    result = project.run("--helm-eval-retries", "0")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [f"*: judge gave no valid verdict: llm-rubric: judge call to endpoint 'default' ({project.base_url}) failed: *"]
    )
    no_traceback(result)


def test_judge_is_a_configured_endpoint_with_its_own_sampling(project: Any) -> None:
    project.double.set(rules=rubric('{"reason": "ok", "pass": true}'))
    project.file(
        "helm-eval.yaml",
        f"""
        endpoints:
          sut: {{url: "{project.base_url}"}}
          grader: {{url: "{project.base_url}", model: double-model}}
        judge: {{endpoint: grader, seed: 7, max_tokens: 64, temperature: 0.3}}
        """,
    )
    project.suite("x.yaml", RUBRIC_SUITE)
    project.run("--helm-eval-report", "run.json", endpoint=False).assert_outcomes(passed=1)
    [judged] = judge_prompts(project)
    assert (judged["seed"], judged["max_tokens"], judged["temperature"]) == (7, 64, 0.3)
    rows = ledger_rows(project)
    assert {(r["kind"], r["endpoint"]) for r in rows} == {("call", "sut"), ("judge", "grader")}


@pytest.mark.parametrize(
    ("judge", "message"),
    [
        ("{endpoint: nowhere}", "judge.endpoint 'nowhere' is not among the endpoints (sut)"),
        ("{rejudge: {times: 3}}", "judge.rejudge needs judge.temperature > 0*"),
    ],
)
def test_judge_config_mistakes_are_usage_errors(project: Any, judge: str, message: str) -> None:
    project.file("helm-eval.yaml", f'endpoints: {{sut: {{url: "{project.base_url}"}}}}\njudge: {judge}\n')
    project.suite("x.yaml", RUBRIC_SUITE)
    result = project.run(endpoint=False)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])


# -- budget and cache ------------------------------------------------------------------------------------------


@pytest.mark.vllm_double(rules=rubric('{"reason": "it names Paris", "pass": true}'))
def test_budget_applies_to_judge_calls(project: Any) -> None:
    project.file("helm-eval.yaml", "judge: {max_tokens: 4000}\n")
    project.suite("x.yaml", RUBRIC_SUITE)
    result = project.run(
        "--helm-eval-budget-tokens", "1000", "--helm-eval-budget-scope", "run", "--helm-eval-report", "run.json", "-rs"
    )
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED *budget*"])
    assert judge_prompts(project) == [], "a judge call the budget refused must not reach the server"
    [case] = project.record()["cases"]
    assert case["status"] == "skipped"
    assert "budget" in case["skip_reason"]
    assert {r["kind"] for r in ledger_rows(project)} == {"call"}


@pytest.mark.vllm_double(rules=rubric('{"reason": "it names Paris", "pass": true, "score": 1.0}'))
def test_rerun_answers_judge_calls_from_the_cache(project: Any) -> None:
    project.suite("x.yaml", RUBRIC_SUITE)
    project.run("--helm-eval-report", "first.json").assert_outcomes(passed=1)
    sent = len(project.chat_requests())
    project.run("--helm-eval-report", "second.json").assert_outcomes(passed=1)
    assert len(project.chat_requests()) == sent, "the rerun must not reach the server"
    first, second = project.record("first.json")["cases"][0], project.record("second.json")["cases"][0]
    assert first["judge_tokens"] > 0
    assert second["judge_tokens"] == 0
    judge_rows = [r for r in ledger_rows(project) if r["kind"] == "judge"]
    assert [bool(r["cache_hit"]) for r in judge_rows] == [False, True]


# -- re-judging ------------------------------------------------------------------------------------------------


def scores_by_seed(scores: Mapping[int, float]) -> Callable[[Mapping[str, Any]], str | None]:
    def answer(body: Mapping[str, Any]) -> str | None:
        if "<Rubric>" not in body["messages"][-1]["content"]:
            return None
        score = scores[body["seed"]]
        return json.dumps({"reason": f"seed {body['seed']}", "score": score})

    return answer


@pytest.mark.parametrize(
    ("scores", "outcome", "judgments"),
    [
        ({0: 0.55, 1: 0.3, 2: 0.4}, "failed", 3),  # near the threshold: re-judged, the majority fails
        ({0: 0.45, 1: 0.7, 2: 0.6}, "passed", 3),  # near the threshold: re-judged, the majority passes
        ({0: 0.9, 1: 0.0, 2: 0.0}, "passed", 1),  # far from the threshold: judged once
    ],
)
def test_verdict_near_the_threshold_is_rejudged_with_the_next_seeds(
    project: Any, scores: dict[int, float], outcome: str, judgments: int
) -> None:
    project.double.set(rules=[QUESTION_RULE], answer=scores_by_seed(scores))
    project.file("helm-eval.yaml", "judge: {temperature: 0.7, rejudge: {margin: 0.1, times: 3}}\n")
    project.suite(
        "x.yaml",
        """
        prompts: ["What is the capital of France?"]
        tests:
          - id: capital
            assert: [{type: llm-rubric, value: names Paris, threshold: 0.5}]
        """,
    )
    result = project.run("--helm-eval-report", "run.json")
    result.assert_outcomes(**{outcome: 1})
    assert [b["seed"] for b in judge_prompts(project)] == list(range(judgments))
    [verdict] = project.record()["cases"][0]["verdicts"]
    if judgments > 1:
        passed = sum(s >= 0.5 for s in scores.values())
        assert f"(re-judged near the threshold: {passed} of 3 judgments passed)" in verdict["reason"]
        assert verdict["score"] == sorted(scores.values())[1]


# -- deepeval metrics ------------------------------------------------------------------------------------------

# What each deepeval prompt asks for, recognised by the key its instructions name; first match wins.
DEEPEVAL_REPLIES = [
    (r'"steps" key', '{"steps": ["Check that the answer names the capital."]}'),
    (r'"statements" key', '{"statements": ["Paris is the capital of France."]}'),
    (r'"truths" key', '{"truths": ["Paris is the capital of France."]}'),
    (r'"claims" key', '{"claims": ["Paris is the capital of France."]}'),
    (r'"opinions" key', '{"opinions": []}'),
    (r"verdicts", '{"verdicts": [{"verdict": "yes", "reason": "supported"}]}'),
    (r"Evaluation Steps", '{"score": 8, "reason": "the answer names Paris correctly"}'),
    (r"reason", '{"reason": "the score is high because the output is on point"}'),
]


def deepeval_judge(body: Mapping[str, Any]) -> str | None:
    prompt = body["messages"][-1]["content"]
    if prompt.endswith("capital of France?"):
        return None
    for pattern, reply in DEEPEVAL_REPLIES:
        if re.search(pattern, prompt):
            return reply
    return '{"reason": "unrecognised prompt"}'


@pytest.mark.parametrize(
    ("assertion", "judge_calls"),
    [
        ("{type: g-eval, value: names the capital correctly}", 2),
        ("{type: g-eval, value: {evaluation_steps: [Check the capital is Paris]}}", 1),
        ("{type: answer-relevancy}", 3),
        ("{type: faithfulness, value: Paris is the capital and largest city of France.}", 4),
        ("{type: hallucination}", 2),
        ("{type: bias}", 2),
        ("{type: toxicity}", 2),
        ("{type: moderation}", 2),
    ],
    ids=lambda v: v if isinstance(v, int) else v.split(",")[0].split(": ")[1].rstrip("}"),
)
def test_deepeval_metric_passes_through_the_pipeline(project: Any, assertion: str, judge_calls: int) -> None:
    project.double.set(rules=[QUESTION_RULE], answer=deepeval_judge)
    project.suite(
        "x.yaml",
        f"""
        prompts: ["What is the capital of France?"]
        tests:
          - id: capital
            vars: {{context: [Paris is the capital of France.]}}
            assert: [{assertion}]
        """,
    )
    result = project.run("--helm-eval-report", "run.json")
    result.assert_outcomes(passed=1)
    assert len(judge_prompts(project)) == judge_calls
    [case] = project.record()["cases"]
    [verdict] = case["verdicts"]
    assert verdict["score"] >= 0.5
    assert verdict["threshold"] == 0.5
    assert "judge: " in verdict["reason"]
    judge_rows = [r for r in ledger_rows(project) if r["kind"] == "judge"]
    assert len(judge_rows) == judge_calls
    assert case["judge_tokens"] == sum(r["tokens"] for r in judge_rows)
    assert not (project.path / ".deepeval").exists()


def test_g_eval_failure_shows_score_threshold_and_reason(project: Any) -> None:
    def judge(body: Mapping[str, Any]) -> str | None:
        prompt = body["messages"][-1]["content"]
        return '{"score": 2, "reason": "it names Lyon, not Paris"}' if "Evaluation Steps" in prompt else None

    project.double.set(rules=[QUESTION_RULE], answer=judge)
    project.suite(
        "x.yaml",
        """
        prompts: ["What is the capital of France?"]
        tests:
          - id: capital
            assert:
              - type: g-eval
                value: {evaluation_steps: [Check the capital is Paris]}
                threshold: 0.7
        """,
    )
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["  FAIL g-eval: g-eval score 0.20, threshold 0.7; judge: it names Lyon, not Paris"])
    no_traceback(result)


@pytest.mark.parametrize(
    ("value", "reply", "error"),
    [
        ("{evaluation_steps: [Check it]}", "The answer looks great to me!", "is not JSON"),
        ("names the capital", '{"step": ["Check it"]}', "lacks 'steps'"),
    ],
    ids=["not-json", "missing-field"],
)
def test_malformed_deepeval_reply_is_a_clear_error(project: Any, value: str, reply: str, error: str) -> None:
    project.double.set(rules=[QUESTION_RULE, (r"JSON", reply)])
    project.suite(
        "x.yaml",
        f"""
        prompts: ["What is the capital of France?"]
        tests:
          - id: capital
            assert: [{{type: g-eval, value: {value}}}]
        """,
    )
    result = project.run()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*: judge gave no valid verdict: g-eval: judge output {error}; judge said: *"])
    assert f"judge said: '{reply}'" in result.stdout.str()
    no_traceback(result)


@pytest.mark.parametrize(
    ("assertion", "message"),
    [
        ("{type: faithfulness}", "faithfulness needs a context: set the assertion's value or vars.context"),
        ("{type: g-eval, value: {steps: [x]}}", "*unknown key(s) steps; use criteria and/or evaluation_steps"),
        ("{type: llm-rubric, value: ok, threshold: 5}", "*threshold is a score between 0 and 1, got 5"),
        ("{type: toxicity, value: x}", "*assertion 'toxicity' takes no value"),
    ],
)
def test_assertion_mistakes_are_reported_clearly(project: Any, assertion: str, message: str) -> None:
    project.suite(
        "x.yaml",
        f"""
        prompts: ["What is the capital of France?"]
        tests:
          - id: capital
            assert: [{assertion}]
        """,
    )
    result = project.run()
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines([f"*{message}*"])
    no_traceback(result)


# -- deepeval's own side effects -------------------------------------------------------------------------------


def test_deepeval_pytest_plugin_stays_out_of_helm_eval_runs(project: Any) -> None:
    project.double.set(rules=rubric('{"reason": "ok", "pass": true}'))
    project.suite("x.yaml", RUBRIC_SUITE)
    project.file(
        "conftest.py",
        """
        import sys

        def pytest_sessionfinish(session):
            pm = session.config.pluginmanager
            print(f"\\ndeepeval plugin: {pm.get_plugin('deepeval') is not None}; imported: {'deepeval' in sys.modules}")
        """,
    )
    with_helm_eval = project.run_subprocess("-s")
    with_helm_eval.assert_outcomes(passed=1)
    with_helm_eval.stdout.fnmatch_lines(["deepeval plugin: False; imported: False"])
    assert "Running teardown with pytest sessionfinish" not in with_helm_eval.stdout.str()


def test_check_without_a_run_says_it_needs_one() -> None:
    from helm_eval._records import Assertion
    from helm_eval.checks import run_check

    verdict = run_check(Assertion("llm-rubric", "is polite"), "hello")
    assert verdict.status == "error"
    assert verdict.reason == "model-graded checks need a helm-eval run with a judge (pytest --helm-eval)"
