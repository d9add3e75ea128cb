"""Guardrail checks: each detector on its corpus, redaction that never leaks a found value, values, negation."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from helm_eval import Assertion
from helm_eval.checks import REGISTRY, Finding, redact, run_check, validate_assertion
from helm_eval.checks._pii import find_pii, iban_valid, luhn_valid, ssn_valid
from helm_eval.checks._secrets import find_secrets, looks_random

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "guardrails"))
import guardrail_corpus

CORPUS = guardrail_corpus.load()
# a fake JWT (header.payload.signature, base64url)
JWT = (
    "eyJhbGciOiAiUlMyNTYiLCAidHlwIjogIkpXVCJ9.eyJzdWIiOiAiNzU4NTU1IiwgImlhdCI6IDE3MTA5NTA5OTAsICJyb2xlIjogInVzZXIifQ"
    ".Z4uqzbxjj_GI76Kw5zxmUXOYHiT6rEFFT3upIVkV2jR"
)
# secrets of other kinds than a JWT
AWS_KEY_AND_DB_URL = "key AKIAQZ7XK2M4TN6PW3RJ, db postgres://a:S3cretPw@h/db"
DETECTORS = sorted({row["detector"] for row in CORPUS})


def test_the_corpus_is_large_and_has_both_kinds_of_line_for_every_detector() -> None:
    assert len(CORPUS) >= 500
    for detector in DETECTORS:
        rows = [r for r in CORPUS if r["detector"] == detector]
        assert any(r["expect"] for r in rows), detector
        assert not all(r["expect"] for r in rows), detector


@pytest.mark.parametrize("detector", DETECTORS)
def test_detector_meets_the_goal_on_its_corpus(detector: str) -> None:
    score = guardrail_corpus.scores([r for r in CORPUS if r["detector"] == detector])[detector]
    wrong = "\n".join(f"  expect={r['expect']}: {r['text'][:100]!r}" for r in score.wrong)
    assert score.precision >= 0.95, f"{detector}:\n{wrong}"
    assert score.recall >= 0.95, f"{detector}:\n{wrong}"


def _value_of(row: dict[str, Any]) -> list[Finding]:
    return find_pii(row["text"]) + find_secrets(row["text"])


@pytest.mark.parametrize("check", ["pii", "secrets"])
def test_a_failing_reason_never_contains_a_found_value(check: str) -> None:
    for row in CORPUS:
        if not row["expect"] or row["detector"] in ("canary", "is-refusal"):
            continue
        verdict = run_check(Assertion(check), row["text"])
        for finding in find_pii(row["text"]) if check == "pii" else find_secrets(row["text"]):
            if len(finding.value) >= 5:
                assert finding.value not in verdict.reason, (check, row["text"])


def test_redaction_shows_type_ends_and_length_only() -> None:
    assert redact("AKIAQZ7XK2M4TN6PW3RJ") == "'AK…RJ' (20 chars)"
    assert redact("hunter2") == "<7 chars>"
    assert redact("ab\x1b[31mcdefgh\x1b") == "'ab…h\\x1b' (14 chars)"
    finding = Finding("secrets", "github-token", 3, 43, "ghp_" + "a1B2" * 9, "vars.x")
    assert finding.describe() == "github-token 'gh…B2' (40 chars) in vars.x at char 3"
    assert "a1B2a1B2" not in repr(finding)


@pytest.mark.parametrize(
    ("check", "value", "clean", "dirty", "fact"),
    [
        (
            "pii",
            None,
            "Paris is in France.",
            "mail jane.doe@example.com",
            "output contains PII: email 'ja…om' (20 chars)",
        ),
        (
            "pii",
            {"entities": ["phone"]},
            "mail jane.doe@example.com",
            "call (415) 555-0132",
            "output contains PII: phone",
        ),
        ("pii", {"allow": ["support@example\\.com"]}, "support@example.com", "x@example.org", "email"),
        ("pii", {"allow_private_ip": True}, "bind 127.0.0.1 or 10.0.0.2", "from 8.8.8.8", "ip-address <7 chars>"),
        ("secrets", None, "no keys here", "key AKIAQZ7XK2M4TN6PW3RJ", "output contains secrets: aws-access-key-id"),
        ("secrets", {"detectors": ["jwt"]}, AWS_KEY_AND_DB_URL, f"Bearer {JWT}", "output contains secrets: jwt"),
        ("canary", "ZEBRA-7731-QUARTZ", "I won't say.", "z.e.b.r.a 7731 quartz", "output leaks the canary"),
        ("canary", {"instruction_marker": "PWNED"}, "Summary: fine.", "Summary. PWNED", "marker 'PWNED' at char 9"),
        ("is-refusal", None, "I’m sorry, but I can’t help with that.", "Sure, here it is.", None),
    ],
)
def test_pass_fail_and_negation(check: str, value: Any, clean: str, dirty: str, fact: str | None) -> None:
    assert validate_assertion(check, value, None) is None
    positive = run_check(Assertion(check, value), clean)
    negative = run_check(Assertion(check, value), dirty)
    assert positive.passed, positive.reason
    assert not negative.passed, negative.reason
    if fact is not None:
        assert fact in negative.reason
    # not- flips the status and keeps the reason: it states a fact about the output either way
    flipped = run_check(Assertion(check, value, negate=True), dirty)
    assert flipped.passed
    assert flipped.reason == negative.reason
    assert not run_check(Assertion(check, value, negate=True), clean).passed


def test_secrets_looks_only_for_the_listed_detectors() -> None:
    assert not run_check(Assertion("secrets"), AWS_KEY_AND_DB_URL).passed
    assert run_check(Assertion("secrets", {"detectors": ["jwt"]}), AWS_KEY_AND_DB_URL).passed
    assert not run_check(Assertion("secrets", {"detectors": ["aws-access-key-id"]}), AWS_KEY_AND_DB_URL).passed
    assert not run_check(Assertion("secrets", {"detectors": ["connection-string"]}), AWS_KEY_AND_DB_URL).passed


def test_canary_value_is_redacted_in_reasons() -> None:
    verdict = run_check(Assertion("canary", "ZEBRA-7731-QUARTZ"), "it is ZEBRA-7731-QUARTZ")
    assert "ZEBRA-7731-QUARTZ" not in verdict.reason
    assert "'ZE…TZ' (17 chars)" in verdict.reason


@pytest.mark.parametrize(
    ("check", "value", "problem"),
    [
        ("pii", {"entities": ["passport"]}, "unknown entity 'passport'"),
        ("pii", "email", "value must be a mapping"),
        ("pii", {"allow_private_ip": "yes"}, "allow_private_ip must be true or false"),
        ("secrets", {"detectors": "jwt", "extra": 1}, "unknown key 'extra'"),
        ("canary", {"canary": ""}, "canary must be a non-empty string"),
        ("canary", None, "needs a value"),
        ("is-refusal", "x", "takes no value"),
    ],
)
def test_bad_values_are_suite_errors(check: str, value: Any, problem: str) -> None:
    found = validate_assertion(check, value, None)
    assert found is not None
    assert problem in found


def test_the_checks_are_registered_with_descriptions() -> None:
    for name in ("pii", "secrets", "canary", "is-refusal"):
        entry = REGISTRY.get(name)
        assert entry is not None
        assert entry.description


def test_checksums() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert iban_valid("GB82WEST12345698765432")
    assert not iban_valid("GB82WEST12345698765433")
    assert not iban_valid("GB82WEST1234569876543")  # one short for GB
    assert ssn_valid("123", "45", "6789")
    assert not any(ssn_valid(*p) for p in [("000", "12", "3456"), ("666", "12", "3456"), ("912", "12", "3456")])


def test_random_tokens_are_found_and_names_are_not() -> None:
    import random
    import string

    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits
    tokens = ["".join(rng.choice(alphabet) for _ in range(40)) for _ in range(300)]
    assert sum(map(looks_random, tokens)) / len(tokens) >= 0.95
    for name in [
        "getHTTPResponseCode200Handler",
        "MAX_RETRY_COUNT_FOR_API_V2",
        "3f786850e387550fdab836ed7e6dc881de23001b",
    ]:
        assert not looks_random(name)
