"""The whole ``secrets`` and ``pii`` checks on text written independently of their detectors.

Positives are fresh values in the formats the providers document (``provider_formats.py``); negatives are
look-alikes from real code and tooling (``lookalikes.py``). Neither was derived from a detector's pattern, so these
figures, unlike the per-detector corpus in ``corpus/``, say something about text the detectors were not shaped on.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections import Counter
from collections.abc import Callable

import pytest
from lookalikes import pii_lookalikes, secret_lookalikes
from provider_formats import (
    BASE62,
    DOCUMENTED_EXAMPLES,
    EXAMPLE_IBANS,
    PUBLISHED_TEST_CARDS,
    Sample,
    pii_positives,
    secret_positives,
)

from helm_eval import Assertion
from helm_eval.checks import Finding, run_check
from helm_eval.checks._pii import find_pii
from helm_eval.checks._secrets import find_secrets

SECRETS = secret_positives()
PII = pii_positives()
NOT_SECRETS = secret_lookalikes() + PII
NOT_PII = secret_lookalikes() + pii_lookalikes() + SECRETS

FALSE_POSITIVE_CEILING = 0.01
FORM_CEILING = 0.1  # over the ~20 look-alikes of one kind
RECALL_FLOOR = 0.98  # over all positives of a family
FORM_RECALL_FLOOR = 0.9  # over the ~20 values of each documented format


def _found(find: Callable[[str], list[Finding]], sample: Sample) -> bool:
    start, end = sample.span
    return any(f.start < end and start < f.end for f in find(sample.text))


def _fires(check: str, text: str) -> bool:
    return not run_check(Assertion(check), text).passed


def _listing(samples: list[Sample]) -> str:
    return "\n".join(f"  {s.form}: {s.text[:110]!r}" for s in samples)


# -- the corpus is what it claims to be ------------------------------------------------------------------------


def test_the_corpus_is_large_enough_for_its_ceilings_to_mean_something() -> None:
    assert len(SECRETS) >= 300
    assert len(NOT_SECRETS) >= 300
    assert len(NOT_PII) >= 600
    assert len({s.form for s in SECRETS}) >= 20


def test_github_tokens_carry_the_crc32_checksum_github_documents() -> None:
    classic = [s.value for s in SECRETS if s.form == "github-classic"]
    for token in classic:
        entropy, check = token[4:34], token[34:]
        value = 0
        for char in check:
            value = value * 62 + BASE62.index(char)
        assert value == zlib.crc32(entropy.encode()), token


def test_jwts_decode_to_a_header_with_alg_and_registered_claims() -> None:
    for sample in (s for s in SECRETS if s.form == "jwt"):
        header, claims = (json.loads(base64.urlsafe_b64decode(p + "==")) for p in sample.value.split(".")[:2])
        assert header["alg"] in {"HS256", "HS512", "RS256", "ES256"}
        assert claims["exp"] > claims["iat"]


def test_published_cards_and_example_ibans_pass_their_own_checksums() -> None:
    def luhn(digits: str) -> bool:
        total = sum(int(d) if i % 2 == 0 else sum(divmod(int(d) * 2, 10)) for i, d in enumerate(reversed(digits)))
        return total % 10 == 0

    def mod97(iban: str) -> bool:
        return int("".join(str(int(c, 36)) for c in iban[4:] + iban[:4])) % 97 == 1

    assert all(map(luhn, PUBLISHED_TEST_CARDS))
    assert all(map(mod97, EXAMPLE_IBANS))


# -- recall on documented formats ------------------------------------------------------------------------------


def test_the_secrets_check_finds_credentials_in_every_documented_format() -> None:
    missed = [s for s in SECRETS if not _found(find_secrets, s)]
    by_form = Counter(s.form for s in SECRETS)
    missed_by_form = Counter(s.form for s in missed)
    assert 1 - len(missed) / len(SECRETS) >= RECALL_FLOOR, _listing(missed)
    weak = {form: n for form, n in missed_by_form.items() if 1 - n / by_form[form] < FORM_RECALL_FLOOR}
    assert not weak, f"{weak}\n{_listing(missed)}"


def test_a_found_credential_fails_the_check_as_a_user_runs_it() -> None:
    assert all(_fires("secrets", s.text) for s in SECRETS[::7])


@pytest.mark.parametrize("sample", DOCUMENTED_EXAMPLES, ids=lambda s: s.value[:8])
def test_documented_example_keys_count_as_secrets(sample: Sample) -> None:
    # AKIAIOSFODNN7EXAMPLE has a real key's shape; trusting the word EXAMPLE would let a real key through
    assert _found(find_secrets, sample)


def test_the_pii_check_finds_personal_data_in_documented_formats() -> None:
    missed = [s for s in PII if not _found(find_pii, s)]
    assert 1 - len(missed) / len(PII) >= RECALL_FLOOR, _listing(missed)


# -- false positives of the whole check ------------------------------------------------------------------------


def test_the_whole_secrets_check_rarely_fires_on_look_alikes() -> None:
    fired = [s for s in NOT_SECRETS if _fires("secrets", s.text)]
    assert len(fired) / len(NOT_SECRETS) <= FALSE_POSITIVE_CEILING, _listing(fired)


def test_the_whole_pii_check_rarely_fires_on_look_alikes_and_credentials() -> None:
    fired = [s for s in NOT_PII if _fires("pii", s.text)]
    assert len(fired) / len(NOT_PII) <= FALSE_POSITIVE_CEILING, _listing(fired)


@pytest.mark.parametrize("form", sorted({s.form for s in NOT_SECRETS}))
def test_no_kind_of_look_alike_is_often_reported_as_a_secret(form: str) -> None:
    # the ceiling above is over all look-alikes; this keeps one whole kind (every public key, every go.sum line)
    # from hiding under it
    samples = [s for s in NOT_SECRETS if s.form == form]
    fired = [s for s in samples if _fires("secrets", s.text)]
    assert len(fired) <= len(samples) * FORM_CEILING, _listing(fired)
