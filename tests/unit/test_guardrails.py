"""Guardrail checks: each detector on its corpus, redaction that never leaks a found value, values, negation."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from helm_eval import Assertion
from helm_eval.checks import REGISTRY, Finding, redact, run_check, validate_assertion
from helm_eval.checks._findings import shannon_entropy
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
        ("secrets", {"detectors": ["nope"]}, "unknown detector 'nope'; known: aws-access-key-id,"),
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


# -- behaviours a mutation could drop while every corpus score stays at 1.0 -------------------------------------

_RSA_SPKI = (
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAq7BFUpkGp3+XQxGoxrW1\n"
    "zY5OLtHqKmL8Ypw9sC2Hn3RtXfJbVuD4eGaQk0lZ6NcTsWmyP1rIoEAhv7dBxF2K\n"
    "qd9Jt3uNwM0pRc5ZXyVs8bLfkH4aGnY1eOiT6mAQ2xrDlPCW7oEjSUzvKgB0hF+N\n"
)


_ED25519 = "AAAAC3NzaC1lZDI1NTE5AAAAIG0lz3NMSaHdJz5Nj6tfW9uNEJnsBej9x8HXNHd2SKtz"


@pytest.mark.parametrize(
    "public",
    [
        f"-----BEGIN PUBLIC KEY-----\n{_RSA_SPKI}-----END PUBLIC KEY-----",
        f"-----BEGIN CERTIFICATE-----\n{_RSA_SPKI}-----END CERTIFICATE-----",
        f"ssh-ed25519 {_ED25519} deploy@ci",
        "const stripe = Stripe('pk_live_51HqLyjWDarjtT1zdp7dcXkJvJrL0QqYv2rLdNyNw');",
    ],
)
def test_public_keys_are_not_secrets_although_their_material_looks_random(public: str) -> None:
    assert find_secrets(public) == []


@pytest.mark.parametrize("material", [_RSA_SPKI.splitlines()[1], _ED25519])
def test_the_same_key_material_outside_a_public_key_is_reported(material: str) -> None:
    assert [f.kind for f in find_secrets(f"material: {material}")] == ["generic-secret"]


def test_a_password_keyword_is_a_connection_string_only_inside_one() -> None:
    connection = "Server=tcp:sql.acme.test,1433;Database=crm;User Id=svc;Password=Xk2p9QwLm4;"
    assert [(f.kind, f.value) for f in find_secrets(connection)] == [("connection-string", "Xk2p9QwLm4")]
    # without a server, host or database before it, the same pair is a labelled password
    assert [(f.kind, f.value) for f in find_secrets("password=Xk2p9QwLm4")] == [("generic-secret", "Xk2p9QwLm4")]


@pytest.mark.parametrize(
    "text",
    [
        "OPENAI_API_KEY=sk-your-openai-api-key-goes-here-thank-you",
        "pip install sk-learn-compatible-estimators-for-timeseries",
        'openai.api_key = "sk-proj-replace-with-your-own-project-api-key"',
    ],
)
def test_an_sk_prefix_needs_mixed_case_and_digits_to_be_an_openai_key(text: str) -> None:
    assert find_secrets(text) == []


def test_an_openai_key_with_mixed_case_and_digits_is_found() -> None:
    key = "sk-proj-" + "Zq3" * 12
    assert [f.kind for f in find_secrets(f"OPENAI_API_KEY={key}")] == ["openai-api-key"]


@pytest.mark.parametrize(
    ("token", "entropy", "random"),
    [
        ("3D5B3e9DgFe7ecBH5ag95FaH", 3.52, False),  # floor for 24 characters: 3.0 + 24/40 = 3.6 bits
        ("mW7FW9Hk7239mcD7pccpc5ep", 3.61, True),
        ("5aeggH3aHH5F5H5g9D9FagaH", 2.93, False),
    ],
)
def test_the_entropy_floor_for_an_unlabelled_token(token: str, entropy: float, random: bool) -> None:
    assert shannon_entropy(token) == pytest.approx(entropy, abs=0.01)
    assert looks_random(token) is random
    assert bool(find_secrets(f"token {token} expires in 1h")) is random


_RANDOM = "Vq8ZtR2mXk7LpW4nBc9HsD3f"


@pytest.mark.parametrize(
    "text",
    [
        f"github.com/acme/api v1.4.0 h1:{_RANDOM}Qe5Ty1Uo6Ia0Ps8=",  # go.sum
        f'{{"id": "{_RANDOM}", "object": "chat.completion"}}',
        f"request_id={_RANDOM}",
        f'{{"kty": "EC", "kid": "{_RANDOM}", "crv": "P-256"}}',
        f"ipfs://Qm{_RANDOM}{_RANDOM[:20]}",
    ],
)
def test_a_random_token_that_is_a_digest_or_an_identifier_is_not_a_secret(text: str) -> None:
    assert find_secrets(text) == []


def test_the_same_random_token_elsewhere_is_a_secret() -> None:
    assert [f.value for f in find_secrets(f"key: {_RANDOM}")] == [_RANDOM]


@pytest.mark.parametrize("text", ["PWD=/home/maria/src/api", "OLDPWD=~/work", r"pwd=C:\Users\maria"])
def test_a_path_after_a_password_label_is_not_a_password(text: str) -> None:
    assert find_secrets(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "git+ssh://git@github.com/acme/widgets.git",
        "postgres://app:Xk2p9QwLm4@db.acme.test/prod",
        "https://0f1e2d3c4b5a69788796a5b4c3d2e1f0@o4505.ingest.sentry.io/42",
    ],
)
def test_the_user_part_of_a_url_is_not_an_email_address(text: str) -> None:
    assert find_pii(text, ["email"]) == []


def test_an_address_after_a_url_is_still_an_email_address() -> None:
    text = "see https://acme.test/contact or write to maria@acme.test"
    assert [f.value for f in find_pii(text)] == ["maria@acme.test"]
