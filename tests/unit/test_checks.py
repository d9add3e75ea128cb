"""The assertion types: pass and fail messages, ``not-`` negation, value validation, the registry."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import helm_eval
from helm_eval import Outcome, Verdict, assert_check, check, register_check
from helm_eval._text import excerpt, inert, quote
from helm_eval.checks import REGISTRY, CheckInput, CheckOutput, parse_type, validate_assertion

BUILT_IN = [
    "contains",
    "contains-all",
    "contains-any",
    "contains-json",
    "equals",
    "finish-reason",
    "icontains",
    "icontains-all",
    "icontains-any",
    "is-json",
    "latency",
    "length",
    "levenshtein",
    "regex",
    "starts-with",
]


def test_public_api_is_pinned() -> None:
    assert sorted(helm_eval.__all__) == sorted(
        [
            "Assertion",
            "BudgetSummary",
            "Call",
            "CapUse",
            "Case",
            "CaseResult",
            "HelmEvalError",
            "Outcome",
            "Pipeline",
            "RunRecord",
            "RunSettings",
            "Verdict",
            "__version__",
            "assert_check",
            "check",
            "register_check",
        ]
    )


def test_registry_knows_every_built_in_type() -> None:
    assert set(BUILT_IN) <= set(REGISTRY.names())
    for name in BUILT_IN:
        entry = REGISTRY.get(name)
        assert entry is not None
        assert entry.description, f"{name} has no one-line description"


# -- pass and fail, with the reason stating a fact about the output -----------------------------------------

CASES: list[tuple[str, Any, dict[str, Any], str, str, str, str]] = [
    # type, value, kwargs, passing output, its reason, failing output, its reason
    ("equals", "4", {}, "4", "output equals '4'", "4.", "output '4.' is not '4'"),
    ("equals", {"a": 1}, {}, '{"a": 1}', "output JSON equals the value", '{"a": 2}', "output JSON differs"),
    ("contains", "Paris", {}, "It is Paris.", "output contains 'Paris'", "it is paris", "does not contain 'Paris'"),
    ("icontains", "PARIS", {}, "it is paris", "output contains 'PARIS'", "Lyon", "does not contain 'PARIS'"),
    ("contains-any", ["a1", "b2"], {}, "x b2", "output contains 'b2'", "c3", "output contains none of 'a1', 'b2'"),
    ("contains-all", ["a1", "b2"], {}, "a1 b2", "contains all of 2 values", "a1 only", "output lacks 'b2'"),
    ("icontains-any", "A1, B2", {}, "b2", "output contains 'B2'", "c3", "contains none of 'A1', 'B2'"),
    ("icontains-all", ["A1", "B2"], {}, "a1 b2", "contains all of 2 values", "A1", "output lacks 'B2'"),
    ("starts-with", "Yes", {}, "Yes, sure", "output starts with 'Yes'", "No. Yes", "does not start with 'Yes'"),
    ("regex", r"\d{3}-\d{4}", {}, "call 555-1234", "matches /\\d{3}-\\d{4}/ at '555-1234'", "no", "does not match"),
    ("is-json", None, {}, '{"ok": true}', "output is valid JSON", "{ok}", "output is not valid JSON"),
    (
        "is-json",
        {"type": "object", "required": ["ok"]},
        {},
        '{"ok": 1}',
        "output is valid JSON matching the schema",
        '{"no": 1}',
        "JSON does not match the schema at (root): 'ok' is a required property",
    ),
    ("contains-json", None, {}, "Here: ```json\n[1, 2]\n```", "output contains JSON", "none", "contains no JSON"),
    (
        "contains-json",
        {"type": "object", "properties": {"n": {"type": "integer"}}},
        {},
        'a {"n": "x"} then {"n": 3}',
        "output contains JSON matching the schema",
        'a {"n": "x"}',
        "JSON does not match the schema at n",
    ),
    ("levenshtein", "kitten", {"threshold": 3}, "sitting", "edit distance 3 <= 3", "sitting!", "edit distance 4 > 3"),
    ("length", {"min": 2, "max": 4}, {}, "abc", "output has 3 chars", "abcde", "5 chars, more than 4"),
    ("length", 3, {}, "abc", "output has 3 chars", "abcd", "more than 3"),
]


@pytest.mark.parametrize(
    ("kind", "value", "kwargs", "good", "good_reason", "bad", "bad_reason"),
    CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)],
)
def test_check_passes_and_fails_with_a_reason(
    kind: str, value: Any, kwargs: dict[str, Any], good: str, good_reason: str, bad: str, bad_reason: str
) -> None:
    passed = check(good, kind, value, **kwargs)
    assert passed.status == "pass"
    assert passed
    assert good_reason in passed.reason
    failed = check(bad, kind, value, **kwargs)
    assert failed.status == "fail"
    assert not failed
    assert bad_reason in failed.reason
    assert failed.assertion == kind


@pytest.mark.parametrize(("kind", "value", "kwargs", "good", "_gr", "bad", "_br"), CASES, ids=[c[0] for c in CASES])
def test_not_prefix_inverts_the_outcome_and_keeps_the_reason(
    kind: str, value: Any, kwargs: dict[str, Any], good: str, _gr: str, bad: str, _br: str
) -> None:
    negated = check(good, f"not-{kind}", value, **kwargs)
    assert negated.status == "fail"
    assert negated.assertion == f"not-{kind}"
    assert negated.reason == check(good, kind, value, **kwargs).reason
    assert check(bad, f"not-{kind}", value, **kwargs).status == "pass"


def test_length_min_only() -> None:
    assert check("a", "length", {"min": 2}).reason == "output has 1 chars, fewer than 2"
    assert check("ab", "length", {"min": 2}).passed


def test_levenshtein_default_limit_is_5() -> None:
    assert check("abcdefgh", "levenshtein", "abc").passed  # distance 5
    assert not check("abcdefghi", "levenshtein", "abc").passed  # distance 6
    assert check("abc", "levenshtein", "abd").score == 1.0


def test_checks_on_the_call_use_the_outcome() -> None:
    fast = Outcome("hi", latency_ms=40.0, finish_reason="stop")
    slow = Outcome("hi", latency_ms=900.0, finish_reason="length")
    assert check(fast, "latency", threshold=100).reason == "latency 40 ms <= 100 ms"
    failed = check(slow, "latency", threshold=100)
    assert (failed.status, failed.reason, failed.score) == ("fail", "latency 900 ms > 100 ms", 900.0)
    assert check(fast, "latency", 100).passed  # the limit may be given as the value
    assert check(fast, "finish-reason", "stop").passed
    cut = check(slow, "finish-reason", "stop")
    assert (cut.status, cut.reason) == ("fail", "finish reason is 'length'")
    assert check(slow, "not-finish-reason", "stop").passed


def test_latency_without_an_outcome_is_an_error_not_a_failure() -> None:
    verdict = check("just text", "latency", threshold=100)
    assert verdict.status == "error"
    assert "outcome" in verdict.reason
    assert check("just text", "not-latency", threshold=100).status == "error"


def test_check_accepts_an_outcome_and_reads_its_text() -> None:
    assert check(Outcome("The answer is 4"), "contains", "4").passed


def test_numbers_compare_as_text() -> None:
    assert check("4", "equals", 4).passed
    assert check("it is 42", "contains", 42).passed


# -- assert_check -----------------------------------------------------------------------------------------


def test_assert_check_returns_the_verdict_when_it_holds() -> None:
    verdict = assert_check("ok", "equals", "ok")
    assert isinstance(verdict, Verdict)
    assert verdict.passed


def test_assert_check_raises_with_type_and_reason() -> None:
    with pytest.raises(AssertionError) as info:
        assert_check("The answer is 5", "contains", "4")
    assert str(info.value) == "contains: output does not contain '4': 'The answer is 5'"
    with pytest.raises(AssertionError, match=r"^not-icontains: output contains 'FIVE'$"):
        assert_check("five", "not-icontains", "FIVE")


# -- value validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "kwargs", "message"),
    [
        ("contain", "x", {}, "unknown assertion type 'contain' (did you mean 'contains'?); known types: "),
        ("not-nope", "x", {}, "unknown assertion type 'not-nope'"),
        ("contains", None, {}, "assertion 'contains' needs a value"),
        ("not-contains", None, {}, "assertion 'not-contains' needs a value"),
        ("contains", ["a"], {}, "value must be a string, got list"),
        ("contains-any", [], {}, "non-empty list of strings"),
        ("contains-all", [{"a": 1}], {}, "non-empty list of strings"),
        ("regex", "([a-z", {}, "invalid regular expression"),
        ("regex", 3, {}, "regular expression string"),
        ("is-json", "object", {}, "JSON Schema mapping"),
        ("is-json", {"type": "no-such-type"}, {}, "invalid JSON Schema"),
        ("contains-json", {"type": 5}, {}, "invalid JSON Schema"),
        ("levenshtein", "x", {"threshold": -1}, "must be >= 0"),
        ("length", "ten", {}, "maximum length or a mapping"),
        ("length", {"min": 5, "max": 2}, {}, "length min 5 is above max 2"),
        ("length", {"min": -1}, {}, "non-negative integers"),
        ("length", {"most": 3}, {}, "maximum length or a mapping"),
        ("latency", None, {}, "maximum latency in milliseconds"),
        ("latency", None, {"threshold": 0}, "maximum latency in milliseconds"),
        ("finish-reason", 1, {}, "value must be a string"),
    ],
)
def test_invalid_assertions_raise_value_error(kind: str, value: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        check("output", kind, value, **kwargs)
    assert validate_assertion(kind, value, kwargs.get("threshold")) == str(info.value)


def test_valid_assertions_have_no_problem() -> None:
    assert validate_assertion("not-regex", r"\d", None) is None
    assert validate_assertion("is-json", None, None) is None
    assert validate_assertion("length", {"max": 3}, None) is None


def test_parse_type_strips_one_not_prefix() -> None:
    assert parse_type("not-contains") == ("contains", True)
    assert parse_type("contains") == ("contains", False)
    assert parse_type("not-not-contains") == ("not-contains", True)


# -- the registry is the extension point -----------------------------------------------------------------


@pytest.fixture
def custom_checks() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        REGISTRY._types.pop(name, None)


def test_registered_check_is_usable_with_negation(custom_checks: list[str]) -> None:
    custom_checks.append("test-shouty")

    @register_check("test-shouty", value="none")
    def shouty(check_input: CheckInput) -> CheckOutput:
        """Output is all upper case."""
        upper = check_input.output.isupper()
        return CheckOutput(upper, "output is upper case" if upper else "output is not upper case")

    assert "test-shouty" in REGISTRY.names()
    assert REGISTRY.get("test-shouty").description == "Output is all upper case."  # type: ignore[union-attr]
    assert check("HEY", "test-shouty").passed
    assert check("hey", "not-test-shouty").passed
    with pytest.raises(ValueError, match="takes no value"):
        check("HEY", "test-shouty", "x")


def test_a_check_that_raises_gives_an_error_verdict(custom_checks: list[str]) -> None:
    custom_checks.append("test-broken")

    @register_check("test-broken", value="optional")
    def broken(check_input: CheckInput) -> CheckOutput:
        raise KeyError("boom")

    verdict = check("x", "test-broken")
    assert (verdict.status, verdict.reason) == ("error", "KeyError: 'boom'")
    assert check("x", "not-test-broken").status == "error"


def test_check_names_may_not_start_with_not() -> None:
    with pytest.raises(ValueError, match="must not start with 'not-'"):
        register_check("not-allowed")(lambda c: CheckOutput(True, ""))


# -- untrusted output is made inert in messages ----------------------------------------------------------


def test_control_characters_in_output_are_escaped_in_reasons() -> None:
    output = "\x1b[31mRED\x1b[0m\r\x00\x07 done\u2028"
    verdict = check(output, "contains", "green")
    assert "\x1b" not in verdict.reason
    assert "\r" not in verdict.reason
    assert "\x00" not in verdict.reason
    assert "\\x1b[31mRED\\x1b[0m\\x0d\\x00\\x07 done\\x2028" in verdict.reason


def test_long_outputs_are_cut_with_a_count() -> None:
    verdict = check("y" * 1000, "contains", "x")
    assert verdict.reason.endswith("… [920 more chars]'")
    assert len(verdict.reason) < 200


@given(st.text())
def test_inert_never_leaves_control_characters(text: str) -> None:
    shown = inert(text)
    assert not any(
        (ord(ch) < 0x20 and ch not in "\n\t") or 0x7F <= ord(ch) <= 0x9F or ch in "\u2028\u2029" for ch in shown
    )
    assert "\n" not in quote(text, 10_000)
    assert len(excerpt(text, 50)) <= 50 + len("… [ more chars]") + 10


@given(st.text(max_size=40), st.text(min_size=1, max_size=5))
def test_contains_and_not_contains_are_exact_opposites(output: str, needle: str) -> None:
    plain = check(output, "contains", needle)
    assert plain.passed == (needle in output)
    assert check(output, "not-contains", needle).passed == (not plain.passed)


@pytest.mark.parametrize("kind", ["contains", "icontains", "starts-with", "contains-any"])
def test_a_yaml_boolean_is_not_silently_compared_as_text(kind: str) -> None:
    value = [True] if kind == "contains-any" else True
    with pytest.raises(ValueError, match=r"YAML boolean|list of strings"):
        helm_eval.check("yes", kind, value)
