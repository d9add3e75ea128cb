"""The pytest plugin as users run it: collection, selection, configuration, endpoint checks, retries, repeats.

Every run goes through ``pytester`` against a vLLM double on a local port (see ``tests/conftest.py``).
"""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest

from fixtures.vllm_double import VLLMDouble
from helm_eval._stats import wilson_interval

SIMPLE = """
    prompts: ["Say {{word}}"]
    tests:
      - id: hello
        vars: {word: hello}
        assert:
          - type: contains
            value: hello
      - id: bye
        vars: {word: bye}
        assert:
          - type: contains
            value: bye
"""


def prompts_sent(project: Any) -> list[str]:
    return [r.body["messages"][-1]["content"] for r in project.chat_requests()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def no_traceback(result: pytest.RunResult) -> None:
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    assert "INTERNALERROR" not in output


# -- collection ------------------------------------------------------------------------------------------


def test_one_item_per_test_and_prompt_with_readable_node_ids(project: Any) -> None:
    project.suite("single.yaml", SIMPLE)
    project.suite(
        "multi.yaml",
        """
        prompts:
          - "Q: {{q}}"
          - id: polite
            prompt: "Please: {{q}}"
        tests:
          - description: asks twice
            vars: {q: a}
          - vars: {q: b}
        """,
    )
    result = project.run("--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "suites/multi.yaml::asks twice[prompt-1]",
            "suites/multi.yaml::asks twice[polite]",
            "suites/multi.yaml::test-2[prompt-1]",
            "suites/multi.yaml::test-2[polite]",
            "suites/single.yaml::hello",
            "suites/single.yaml::bye",
            "6 tests collected*",
        ]
    )
    assert result.ret == pytest.ExitCode.OK
    assert project.chat_requests() == [], "--collect-only must not call the model"


def test_run_passes_and_sends_one_request_per_case(project: Any) -> None:
    project.suite("x.yaml", SIMPLE)
    result = project.run("-v")
    result.stdout.fnmatch_lines(["suites/x.yaml::hello PASSED*", "suites/x.yaml::bye PASSED*"])
    result.assert_outcomes(passed=2)
    assert sorted(prompts_sent(project)) == ["Say bye", "Say hello"]
    body = project.chat_requests()[0].body
    assert body["model"] == "double-model"
    assert (body["temperature"], body["max_tokens"]) == (0.0, 256)


def test_failing_case_explains_itself_without_a_traceback(project: Any) -> None:
    project.suite(
        "x.yaml",
        """
        prompts: ["What is {{a}}+{{b}}?"]
        tests:
          - id: sum
            vars: {a: 2, b: 2}
            assert:
              - type: contains
                value: "4"
              - type: icontains
                value: "what"
        """,
    )
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ suites/x.yaml:3: sum _*",
            "suites/x.yaml:3: sum: failed",
            "  output: 'echo: What is 2+2?'",
            "  FAIL contains: output does not contain '4': 'echo: What is 2+2?'",
            "  pass icontains: output contains 'what'",
            "FAILED suites/x.yaml::sum*",
        ]
    )
    no_traceback(result)


def test_tags_become_markers_usable_with_m_under_strict_markers(project: Any) -> None:
    project.suite(
        "x.yaml",
        """
        tags: [llm]
        prompts: ["Say {{word}}"]
        tests:
          - id: quick
            tags: [smoke]
            vars: {word: a}
          - id: long
            tags: [slow]
            vars: {word: b}
        """,
    )
    result = project.run("--strict-markers", "-m", "smoke", "-v")
    result.stdout.fnmatch_lines(["suites/x.yaml::quick PASSED*"])
    result.assert_outcomes(passed=1, deselected=1)
    assert prompts_sent(project) == ["Say a"]

    result = project.run("--strict-markers", "-m", "llm and not smoke")
    result.assert_outcomes(passed=1, deselected=1)


def test_k_selects_cases_and_only_selected_cases_are_sent(project: Any) -> None:
    project.suite("x.yaml", SIMPLE)
    result = project.run("-k", "bye", "-v")
    result.stdout.fnmatch_lines(["suites/x.yaml::bye PASSED*"])
    result.assert_outcomes(passed=1, deselected=1)
    assert prompts_sent(project) == ["Say bye"]


def test_a_suite_named_on_the_command_line_is_collected_even_outside_the_globs(project: Any) -> None:
    project.file("elsewhere/extra.yaml", SIMPLE)
    project.suite("x.yaml", SIMPLE)
    result = project.run("elsewhere/extra.yaml", "-v")
    result.stdout.fnmatch_lines(["elsewhere/extra.yaml::hello PASSED*"])
    result.assert_outcomes(passed=2)


def test_suites_outside_testpaths_are_still_collected(project: Any) -> None:
    project.pytester.makeini("[pytest]\ntestpaths = tests\n")
    project.file("tests/test_a.py", "def test_plain():\n    pass\n")
    project.suite("x.yaml", SIMPLE)
    result = project.run("-v")
    result.stdout.fnmatch_lines(["tests/test_a.py::test_plain PASSED*"])
    result.stdout.fnmatch_lines(["suites/x.yaml::hello PASSED*"])
    result.assert_outcomes(passed=3)


def test_other_yaml_files_are_not_suites(project: Any) -> None:
    project.suite("x.yaml", SIMPLE)
    project.file("config/settings.yaml", "key: value\n")
    result = project.run()
    result.assert_outcomes(passed=2)


@pytest.mark.vllm_double(latency=0.3, rules=[("first", "wrong")])
def test_x_stops_after_the_first_failure_and_cancels_queued_calls(project: Any) -> None:
    tests = "\n".join(
        f"  - id: case-{i}\n    vars: {{word: {'first' if i == 0 else f'w{i}'}}}\n"
        "    assert:\n      - type: not-contains\n        value: wrong"
        for i in range(10)
    )
    project.suite("x.yaml", f'prompts: ["Say {{{{word}}}}"]\ntests:\n{tests}\n')
    result = project.run("-x", "--helm-eval-concurrency", "1")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*stopping after 1 failures*"])
    # 10 cases were dispatched ahead one at a time (0.3 s each); -x ends the session after the first, and
    # the queued calls never reach the server
    sent = prompts_sent(project)
    assert sent[0] == "Say first"
    assert len(sent) <= 3, sent


def test_last_failed_reruns_only_the_failed_case(project: Any) -> None:
    project.suite(
        "x.yaml",
        """
        prompts: ["Say {{word}}"]
        tests:
          - id: good
            vars: {word: a}
          - id: bad
            vars: {word: b}
            assert:
              - type: equals
                value: nope
        """,
    )
    first = project.run(cache=True)
    first.assert_outcomes(passed=1, failed=1)
    assert project.double is not None
    project.double.reset()
    second = project.run("--lf", "-v", "--helm-eval-cache", "refresh", cache=True)  # re-ask, do not answer from cache
    second.assert_outcomes(failed=1)
    second.stdout.fnmatch_lines(["run-last-failure: rerun previous 1 failure*", "suites/x.yaml::bad FAILED*"])
    assert prompts_sent(project) == ["Say b"]


def test_plugin_is_inert_without_the_flag(pytester: pytest.Pytester, vllm_double: VLLMDouble, monkeypatch: Any) -> None:
    monkeypatch.setenv("HELM_EVAL_ENDPOINT", vllm_double.base_url)
    (pytester.path / "suites").mkdir()
    (pytester.path / "suites" / "x.yaml").write_text(SIMPLE)
    pytester.makepyfile(
        test_py="""
        def test_uses_model(helm_model):
            helm_model("hi")

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*helm-eval is off: run pytest with --helm-eval*"])
    result.stdout.fnmatch_lines(["collected 2 items"])
    assert "= helm-eval =" not in result.stdout.str()
    assert vllm_double.requests == []


def test_xdist_runs_every_case_exactly_once(project: Any) -> None:
    tests = "\n".join(f"  - id: c{i}\n    vars: {{n: {i}}}" for i in range(8))
    project.suite("x.yaml", f'prompts: ["Number {{{{n}}}}"]\ntests:\n{tests}\n')
    project.suite("y.yaml", SIMPLE)
    result = project.run_subprocess("-n", "2", "--helm-eval-report", "run.json", "--junitxml", "junit.xml")
    result.assert_outcomes(passed=10)
    counts = Counter(prompts_sent(project))
    assert counts == Counter([f"Number {i}" for i in range(8)] + ["Say hello", "Say bye"])
    record = project.record()
    assert record["totals"]["cases"] == 10
    assert record["totals"]["passed"] == 10
    assert sorted(c["nodeid"] for c in record["cases"]) == sorted(
        [f"suites/x.yaml::c{i}" for i in range(8)] + ["suites/y.yaml::hello", "suites/y.yaml::bye"]
    )
    assert all(c["prompt_tokens"] > 0 and c["model"] == "double-model" for c in record["cases"])
    testcases = ET.parse(project.path / "junit.xml").getroot().iter("testcase")
    lines = {(tc.get("classname"), tc.get("name")): (tc.get("file"), tc.get("line")) for tc in testcases}
    assert len(lines) == 10
    assert lines[("suites.x.yaml", "c3")] == ("suites/x.yaml", str(3 + 2 * 3))
    assert lines[("suites.y.yaml", "bye")] == ("suites/y.yaml", "8")


# -- malformed suites --------------------------------------------------------------------------------------

MALFORMED = {
    "yaml-syntax": ('prompts: ["hi"]\ntests:\n  - id: a\n    vars: {x: [1, 2}\n', 4, "invalid YAML"),
    "unknown-type": (
        'prompts: ["hi"]\ntests:\n  - id: a\n    assert:\n      - type: contain\n        value: x\n',
        5,
        "tests[[]0].assert[[]0]: unknown assertion type 'contain'*",
    ),
    "wrong-type": ('prompts: ["hi"]\ntests:\n  - id: a\n    repeat: many\n', 4, "tests[[]0].repeat: *integer*"),
    "unknown-field": ('prompts: ["hi"]\ntests:\n  - id: a\n    asert: []\n', 4, "tests[[]0].asert: unknown field"),
    "undefined-var": ('prompts: ["{{word}}"]\ntests:\n  - id: a\n', 3, "tests[[]0]: undefined variable*word*"),
    "duplicate-id": (
        'prompts: ["hi"]\ntests:\n  - id: a\n  - id: a\n',
        4,
        "duplicate test id 'a' (first at line 3)*",
    ),
    "invalid-regex": (
        'prompts: ["hi"]\ntests:\n  - id: a\n    assert:\n      - type: regex\n        value: "(x"\n',
        5,
        "tests[[]0].assert[[]0]: *invalid regular expression*",
    ),
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_suite_fails_only_its_own_collection(project: Any, kind: str) -> None:
    text, line, message = MALFORMED[kind]
    project.suite("bad.yaml", text)
    project.suite("good.yaml", SIMPLE)
    result = project.run("--continue-on-collection-errors", "-v")
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting suites/bad.yaml*",
            f"suites/bad.yaml:{line}: {message}*",
        ]
    )
    result.stdout.fnmatch_lines(["suites/good.yaml::hello PASSED*", "suites/good.yaml::bye PASSED*"])
    result.assert_outcomes(passed=2, errors=1)
    no_traceback(result)


def test_collection_error_interrupts_without_calling_the_model(project: Any) -> None:
    project.suite("bad.yaml", MALFORMED["unknown-type"][0])
    project.suite("good.yaml", SIMPLE)
    result = project.run()
    result.stdout.fnmatch_lines(["*Interrupted: 1 error during collection*"])
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert project.chat_requests() == []
    no_traceback(result)


# -- configuration ----------------------------------------------------------------------------------------


def test_config_file_endpoints_and_suite_globs(project: Any) -> None:
    project.file(
        "helm-eval.yaml",
        f"""
        suites: ["evals/*.yaml"]
        endpoints:
          local: {{url: "{project.base_url}"}}
        options: {{temperature: 0.3, max_tokens: 12}}
        """,
    )
    project.file("evals/a.yaml", SIMPLE)
    project.suite("not-matched.yaml", SIMPLE)
    result = project.run("-v", endpoint=False)
    result.stdout.fnmatch_lines(["evals/a.yaml::hello PASSED*", "evals/a.yaml::bye PASSED*"])
    result.assert_outcomes(passed=2)
    body = project.chat_requests()[0].body
    assert (body["temperature"], body["max_tokens"]) == (0.3, 12)


def test_pyproject_section_configures_the_run(project: Any) -> None:
    project.file(
        "pyproject.toml",
        f"""
        [tool.helm-eval]
        retries = 0
        [tool.helm-eval.endpoints.local]
        url = "{project.base_url}"
        model = "double-model"
        """,
    )
    project.suite("x.yaml", SIMPLE)
    result = project.run("--helm-eval-report", "run.json", endpoint=False)
    result.assert_outcomes(passed=2)
    assert {c["endpoint"] for c in project.record()["cases"]} == {"local"}


def test_explicit_config_path(project: Any) -> None:
    project.file("ci/eval.yaml", f'endpoints:\n  ci: {{url: "{project.base_url}"}}\nsuites: ["suites/*.yaml"]\n')
    project.suite("x.yaml", SIMPLE)
    result = project.run("--helm-eval-config", "ci/eval.yaml", endpoint=False)
    result.assert_outcomes(passed=2)


def test_command_line_overrides_the_config_file(project: Any) -> None:
    assert project.double is not None
    project.double.close()
    with VLLMDouble(["m1", "m2"]) as double:
        project.file(
            "helm-eval.yaml",
            f'endpoints:\n  local: {{url: "http://127.0.0.1:{free_port()}/v1", model: m1}}\nretries: 0\n',
        )
        project.suite("x.yaml", SIMPLE)
        result = project.pytester.runpytest(
            "-p", "no:cacheprovider", "--helm-eval", "--helm-eval-endpoint", double.base_url,
            "--helm-eval-model", "m2",
        )  # fmt: skip
        result.assert_outcomes(passed=2)
        assert {r.body["model"] for r in double.requests if r.path.endswith("/chat/completions")} == {"m2"}


def test_environment_gives_endpoint_and_model(pytester: pytest.Pytester, monkeypatch: Any) -> None:
    with VLLMDouble(["m1", "m2"]) as double:
        monkeypatch.setenv("HELM_EVAL_ENDPOINT", double.base_url)
        monkeypatch.setenv("HELM_EVAL_MODEL", "m2")
        (pytester.path / "suites").mkdir()
        (pytester.path / "suites" / "x.yaml").write_text(SIMPLE)
        result = pytester.runpytest("-p", "no:cacheprovider", "--helm-eval")
        result.assert_outcomes(passed=2)
        assert {r.body["model"] for r in double.requests if r.path.endswith("/chat/completions")} == {"m2"}


def test_api_key_in_a_config_file_is_rejected(project: Any) -> None:
    project.file(
        "helm-eval.yaml",
        f"""
        endpoints:
          local:
            url: "{project.base_url}"
            api_key: sk-from-a-file
        """,
    )
    project.suite("x.yaml", SIMPLE)
    result = project.run(endpoint=False)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: helm-eval: helm-eval.yaml:4: endpoints.local.api_key: api keys are read from the environment only*"]
    )
    assert "sk-from-a-file" not in result.stdout.str() + result.stderr.str()
    assert project.chat_requests() == []
    no_traceback(result)


@pytest.mark.vllm_double(api_key="sekrit-7f3a9", rules=[("fail", "nope")])
def test_api_key_is_sent_as_bearer_and_never_shown(project: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("HELM_EVAL_API_KEY", "sekrit-7f3a9")
    project.suite(
        "x.yaml",
        """
        prompts: ["{{q}}"]
        tests:
          - id: ok
            vars: {q: hello}
          - id: failing
            vars: {q: fail}
            assert:
              - type: equals
                value: "yes"
        """,
    )
    result = project.run("-rA", "-vv", "--junitxml", "junit.xml", "--helm-eval-report", "run.json")
    result.assert_outcomes(passed=1, failed=1)
    # the double answers 401 to any request without "Authorization: Bearer sekrit-7f3a9"
    assert len(project.chat_requests()) == 2
    assert all(r.headers.get("Authorization") == "<redacted>" for r in project.chat_requests())
    for text in (
        result.stdout.str(),
        result.stderr.str(),
        (project.path / "junit.xml").read_text(),
        (project.path / "run.json").read_text(),
    ):
        assert "sekrit-7f3a9" not in text


@pytest.mark.vllm_double(api_key="sekrit-7f3a9")
def test_missing_api_key_is_one_clear_error(project: Any) -> None:
    project.suite("x.yaml", SIMPLE)
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*helm-eval: endpoint 'default' at * is unreachable: HTTP 401*"])
    assert project.chat_requests() == []


def test_model_is_discovered_when_the_endpoint_serves_one(pytester: pytest.Pytester) -> None:
    with VLLMDouble("the-only-model") as double:
        (pytester.path / "suites").mkdir()
        (pytester.path / "suites" / "x.yaml").write_text(SIMPLE)
        result = pytester.runpytest(
            "-p", "no:cacheprovider", "--helm-eval", "--helm-eval-endpoint", double.base_url,
            "--helm-eval-report", "run.json",
        )  # fmt: skip
        result.assert_outcomes(passed=2)
        assert {r.body["model"] for r in double.requests if r.path.endswith("/chat/completions")} == {"the-only-model"}
        record = json.loads((pytester.path / "run.json").read_text())
        assert record["endpoints"] == {"default": {"url": double.base_url, "model": "the-only-model"}}


def test_several_served_models_need_a_choice(pytester: pytest.Pytester) -> None:
    with VLLMDouble(["m1", "m2"]) as double:
        (pytester.path / "suites").mkdir()
        (pytester.path / "suites" / "x.yaml").write_text(SIMPLE)
        result = pytester.runpytest("-p", "no:cacheprovider", "--helm-eval", "--helm-eval-endpoint", double.base_url)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stdout.fnmatch_lines(
            ["*endpoint 'default' serves 2 models (m1, m2); choose one with --helm-eval-model*"]
        )


def test_unknown_endpoint_in_a_suite_is_a_collection_error_with_its_line(project: Any) -> None:
    project.suite(
        "x.yaml",
        """
        prompts: ["hi"]
        tests:
          - id: a
          - id: b
            endpoint: nowhere
        """,
    )
    result = project.run()
    result.stdout.fnmatch_lines(["suites/x.yaml:4: unknown endpoint 'nowhere' (configured: default)"])
    assert result.ret == pytest.ExitCode.INTERRUPTED
    no_traceback(result)


def test_suite_endpoint_routes_to_a_named_endpoint(project: Any) -> None:
    with VLLMDouble("other-model") as other:
        project.file(
            "helm-eval.yaml",
            f'endpoints:\n  main: {{url: "{project.base_url}"}}\n  other: {{url: "{other.base_url}"}}\n',
        )
        project.suite("x.yaml", 'endpoint: other\nprompts: ["hi"]\ntests:\n  - id: a\n')
        project.suite("y.yaml", 'prompts: ["hi"]\ntests:\n  - id: b\n')
        result = project.run("--helm-eval-report", "run.json", endpoint=False)
        result.assert_outcomes(passed=2)
        by_node = {c["nodeid"]: (c["endpoint"], c["model"]) for c in project.record()["cases"]}
        assert by_node == {"suites/x.yaml::a": ("other", "other-model"), "suites/y.yaml::b": ("main", "double-model")}
        assert len([r for r in other.requests if r.path.endswith("/chat/completions")]) == 1
        assert len(project.chat_requests()) == 1


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--helm-eval-concurrency", "0", "--helm-eval-concurrency must be at least 1, got 0"),
        ("--helm-eval-timeout", "soon", "--helm-eval-timeout expects seconds, got 'soon'"),
        ("--helm-eval-retries", "-1", "--helm-eval-retries must be 0 or more, got -1"),
    ],
)
def test_bad_option_values_are_usage_errors_naming_the_flag(
    bare_project: Any, option: str, value: str, message: str
) -> None:
    result = bare_project.pytester.runpytest("--helm-eval", f"{option}={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])


# -- endpoint checks at session start ------------------------------------------------------------------------


def test_unreachable_endpoint_is_one_error_at_session_start(bare_project: Any) -> None:
    tests = "\n".join(f"  - id: c{i}" for i in range(5))
    bare_project.suite("x.yaml", f'prompts: ["hi"]\ntests:\n{tests}\n')
    url = f"http://127.0.0.1:{free_port()}/v1"
    result = bare_project.pytester.runpytest("-p", "no:cacheprovider", "--helm-eval", "--helm-eval-endpoint", url)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert output.count("is unreachable") == 1, output
    result.stdout.fnmatch_lines([f"*helm-eval: endpoint 'default' at {url} is unreachable*"])
    assert "PASSED" not in output
    assert "FAILED" not in output


def test_unreachable_endpoint_under_xdist_is_one_error_before_workers_start(bare_project: Any) -> None:
    bare_project.suite("x.yaml", SIMPLE)
    url = f"http://127.0.0.1:{free_port()}/v1"
    result = bare_project.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--helm-eval", "--helm-eval-endpoint", url, "-n", "2"
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert output.count("is unreachable") == 1, output
    result.stderr.fnmatch_lines([f"ERROR: helm-eval: endpoint 'default' at {url} is unreachable*"])
    assert "INTERNALERROR" not in output


def test_unreachable_endpoint_for_helm_model_tests_is_one_error_at_session_start(bare_project: Any) -> None:
    bare_project.pytester.makepyfile(
        test_py="""
        def test_a(helm_model):
            helm_model("hi")

        def test_b(helm_model):
            helm_model("hi")
        """
    )
    url = f"http://127.0.0.1:{free_port()}/v1"
    result = bare_project.pytester.runpytest("-p", "no:cacheprovider", "--helm-eval", "--helm-eval-endpoint", url)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert output.count("is unreachable") == 1, output
    no_traceback(result)


def test_suite_naming_an_endpoint_with_none_configured_fails_its_collection(bare_project: Any) -> None:
    bare_project.suite("x.yaml", 'prompts: ["hi"]\ntests:\n  - id: a\n    endpoint: big\n')
    result = bare_project.pytester.runpytest("-p", "no:cacheprovider", "--helm-eval")
    result.stdout.fnmatch_lines(["*ERROR collecting suites/x.yaml*", "no endpoint configured: *"])
    no_traceback(result)


def test_no_endpoint_configured_is_a_clear_error(bare_project: Any) -> None:
    bare_project.suite("x.yaml", SIMPLE)
    result = bare_project.pytester.runpytest("-p", "no:cacheprovider", "--helm-eval")
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*no endpoint configured: pass --helm-eval-endpoint URL*"])
    no_traceback(result)


def test_model_not_served_names_the_served_models(project: Any) -> None:
    project.suite("x.yaml", SIMPLE)
    result = project.run("--helm-eval-model", "gpt-9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*does not serve model 'gpt-9' (it serves: double-model)*"])
    assert project.chat_requests() == []


# -- retries and call errors -----------------------------------------------------------------------------


@pytest.mark.vllm_double(faults=["503"])
def test_transient_503_is_retried_and_recorded(project: Any) -> None:
    project.suite("x.yaml", 'prompts: ["hi"]\ntests:\n  - id: a\n')
    result = project.run("--helm-eval-report", "run.json")
    result.assert_outcomes(passed=1)
    assert [r.fault for r in project.chat_requests()] == ["503", None]
    (case,) = project.record()["cases"]
    assert (case["status"], case["retries"], case["calls"]) == ("passed", 1, 1)
    assert project.record()["totals"]["retries"] == 1


@pytest.mark.vllm_double(faults=["429:1"])
def test_429_waits_for_retry_after(project: Any) -> None:
    project.suite("x.yaml", 'prompts: ["hi"]\ntests:\n  - id: a\n')
    result = project.run()
    result.assert_outcomes(passed=1)
    first, second = project.chat_requests()
    assert first.fault == "429"
    # without Retry-After the first backoff is at most 0.25 s; the header asked for 1 s
    assert second.timestamp - first.timestamp >= 0.9


@pytest.mark.vllm_double(faults=["500", "500"])
def test_permanent_500_makes_the_case_an_error_not_a_failure(project: Any) -> None:
    project.suite(
        "x.yaml", 'prompts: ["hi"]\ntests:\n  - id: a\n    assert:\n      - type: contains\n        value: x\n'
    )
    result = project.run("--helm-eval-retries", "1", "--helm-eval-report", "run.json")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of suites/x.yaml:3: a _*",
            f"suites/x.yaml:3: a: 1 of 1 calls to endpoint 'default' ({project.base_url}) failed: "
            "HTTP 500: injected fault: HTTP 500 (after 2 attempts)",
        ]
    )
    no_traceback(result)
    (case,) = project.record()["cases"]
    assert case["status"] == "error"
    assert case["error"] == "HTTP 500: injected fault: HTTP 500 (after 2 attempts)"
    assert case["retries"] == 1
    assert len(project.chat_requests()) == 2


@pytest.mark.vllm_double(faults=["400"])
def test_400_is_not_retried(project: Any) -> None:
    project.suite("x.yaml", 'prompts: ["hi"]\ntests:\n  - id: a\n')
    result = project.run("--helm-eval-report", "run.json")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*failed: HTTP 400: injected fault: HTTP 400"])
    assert len(project.chat_requests()) == 1
    (case,) = project.record()["cases"]
    assert (case["status"], case["retries"]) == ("error", 0)


# -- repeats and thresholds ------------------------------------------------------------------------------


def three_of_five(body: Mapping[str, Any]) -> str:
    """Answers 'yes' to the first three requests for each prompt, then 'no'."""
    prompt = body["messages"][-1]["content"]
    seen = three_of_five.counts[prompt] = three_of_five.counts.get(prompt, 0) + 1  # type: ignore[attr-defined]
    return "yes" if seen <= 3 else "no"


@pytest.fixture
def alternating(vllm_double: VLLMDouble) -> VLLMDouble:
    three_of_five.counts = {}  # type: ignore[attr-defined]
    vllm_double.set(answer=three_of_five)
    return vllm_double


def test_repeats_pass_rate_and_wilson_interval(project: Any, alternating: VLLMDouble) -> None:
    project.suite(
        "x.yaml",
        """
        prompts: ["{{q}}"]
        defaultTest:
          assert:
            - type: equals
              value: "yes"
        tests:
          - id: strict
            vars: {q: one}
            repeat: {n: 5, pass_rate: 0.8}
          - id: lenient
            vars: {q: two}
            repeat: {n: 5, pass_rate: 0.6}
        """,
    )
    result = project.run("--helm-eval-report", "run.json")
    result.assert_outcomes(passed=1, failed=1)
    low, high = wilson_interval(3, 5)
    result.stdout.fnmatch_lines(
        [
            f"suites/x.yaml:7: strict: 3 of 5 runs passed (60%, 95% CI {low:.0%}–{high:.0%}); needs 80%; showing run *",
            "  output: 'no'",
            "  FAIL equals: output 'no' is not 'yes'",
            "  run *: FAIL equals",
        ]
    )
    assert len(project.chat_requests()) == 10
    cases = {c["nodeid"].split("::")[1]: c for c in project.record()["cases"]}
    strict = cases["strict"]
    assert (strict["status"], strict["passes"], strict["repeats"], strict["threshold"]) == ("failed", 3, 5, 0.8)
    assert strict["pass_rate_ci"] == pytest.approx([low, high])
    assert strict["calls"] == 5
    assert len(strict["latency_ms"]) == 5
    assert (cases["lenient"]["status"], cases["lenient"]["passes"]) == ("passed", 3)


# -- helm_model fixture ---------------------------------------------------------------------------------


def test_helm_model_fixture_calls_the_model_and_is_recorded(project: Any) -> None:
    project.pytester.makepyfile(
        test_py="""
        from helm_eval import Outcome, assert_check

        def test_ask(helm_model):
            out = helm_model("What is 2+2?", system="Be brief.", max_tokens=20)
            assert isinstance(out, Outcome)
            assert out.text == "echo: What is 2+2?"
            assert out.prompt_tokens > 0 and out.completion_tokens > 0
            assert out.latency_ms > 0
            assert out.model == "double-model"
            assert_check(out, "contains", "2+2")

        def test_wrong(helm_model):
            assert_check(helm_model("Capital of France?"), "icontains", "paris")

        def test_no_model():
            pass
        """
    )
    result = project.run("test_py.py", "--helm-eval-report", "run.json")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*AssertionError: icontains: output does not contain 'paris': 'echo: Capital of France?'"]
    )
    request, _ = sorted(project.chat_requests(), key=lambda r: r.body["messages"][-1]["content"], reverse=True)
    assert request.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2+2?"},
    ]
    assert request.body["max_tokens"] == 20
    cases = {c["nodeid"]: c for c in project.record()["cases"]}
    assert set(cases) == {"test_py.py::test_ask", "test_py.py::test_wrong"}  # tests without model calls are not cases
    assert (cases["test_py.py::test_wrong"]["status"], cases["test_py.py::test_wrong"]["kind"]) == ("failed", "python")
    case = cases["test_py.py::test_ask"]
    assert case["kind"] == "python"
    assert (case["file"], case["line"]) == ("test_py.py", 3)
    assert case["status"] == "passed"
    assert case["calls"] == 1
    assert case["prompt_tokens"] > 0
    assert case["completion_tokens"] > 0
    assert case["output"] == "echo: What is 2+2?"


@pytest.mark.vllm_double(faults=["400"])
def test_helm_model_call_error_fails_the_test(project: Any) -> None:
    project.pytester.makepyfile(
        test_py="""
        import pytest
        from helm_eval.run import ModelCallError

        def test_ask(helm_model):
            with pytest.raises(ModelCallError, match="HTTP 400"):
                helm_model("hi")
        """
    )
    result = project.run("test_py.py")
    result.assert_outcomes(passed=1)


# -- untrusted output --------------------------------------------------------------------------------------


@pytest.mark.vllm_double(rules=[("", "\x1b[2J\x1b[31mPWNED\x1b[0m\r\x07done")])
def test_control_characters_in_model_output_are_escaped(project: Any) -> None:
    project.suite(
        "x.yaml",
        'prompts: ["hi"]\ntests:\n  - id: a\n    assert:\n      - type: contains\n        value: safe\n',
    )
    result = project.run("--helm-eval-report", "run.json")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "\x1b" not in output
    assert "\r" not in output.replace("\r\n", "\n")
    assert "\x07" not in output
    result.stdout.fnmatch_lines([r"  output: '\x1b[[]2J\x1b[[]31mPWNED\x1b[[]0m\x0d\x07done'"])
    (case,) = project.record()["cases"]
    assert "\x1b" not in case["output"]
    assert case["output"].startswith("\\x1b[2J")
