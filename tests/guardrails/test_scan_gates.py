r"""The cheap tests in front of the secrets and PII scans never hide a match the full scan would find.

Each secrets pattern is paired with literals one of which every match contains; a text without them is not
scanned. Checked over the corpus, over each text with its letters' case swapped (case-ignoring patterns), and
over texts where a letter is replaced by a character ``re`` folds to it (K KELVIN SIGN for k, LONG S for s).
The PII scans that need digits run only on texts with enough of them, ``\d`` counting any Unicode digit: checked
over the corpus with its digits as written, as full-width digits and as Arabic-Indic ones.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helm_eval.checks import _pii, _secrets
from tests.guardrails.guardrail_corpus import load

_EXTRA = [  # formats the corpus lacks
    "https://acct.blob.core.windows.net/c/f.txt?sv=2022-11-02&ss=b&sp=r&sig=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789%3D",
    "token: xapp-1-A0B1C2D3E4F5-1234567890123-" + "9f" * 32,
    "post to https://hooks.slack.com/services/T0ABCDEFG/B0ABCDEFGHI/aBcDeFgHiJkLmNoPqRsTuVwX",
]
_TEXTS = sorted({row["text"] for row in load()} | set(_EXTRA))
_FOLDS = {"k": "\u212a", "s": "\u017f", "K": "\u212a", "S": "\u017f"}


def _variants(text: str) -> list[str]:
    return [text, text.swapcase(), "".join(_FOLDS.get(c, c) for c in text)]


def _hidden(text: str) -> list[str]:
    """The patterns a gate closes for ``text`` although they match it."""
    folded = text.casefold()
    hidden = []
    for kind, gates in _secrets._PATTERNS.items():
        for gate in gates:
            opened = any(n in (folded if gate.folded else text) for n in gate.needles)
            if gate.pattern.search(text) and not opened:
                hidden.append(kind)
            if gate.pattern.search(text) and not (
                _secrets._ANY_NEEDLE.search(text) or _secrets._ANY_FOLDED_NEEDLE.search(folded)
            ):
                hidden.append(f"{kind} (the first test of all)")
    detector_gates: list[tuple[str, re.Pattern[str], bool]] = [
        ("private key", _secrets._PEM, "PRIVATE KEY" in text),
        ("jwt", _secrets._JWT, "eyJ" in text),
        ("url password", _secrets._URL_PASSWORD, "://" in text and "@" in text),
        ("kv password", _secrets._KV_PASSWORD, "=" in text and ("password" in folded or "pwd" in folded)),
        ("label", _secrets._LABEL, (":" in text or "=" in text) and any(w in folded for w in _secrets._LABEL_WORDS)),
        ("email", _pii._EMAIL, "@" in text),
    ]
    hidden += [name for name, pattern, opened in detector_gates if pattern.search(text) and not opened]
    return hidden


@pytest.mark.parametrize("text", _TEXTS)
def test_no_gate_hides_a_match_in_the_corpus(text: str) -> None:
    for variant in _variants(text):
        assert _hidden(variant) == [], variant
    for variant in _digit_variants(text):
        assert _hidden_pii(variant) == [], variant


def test_the_corpus_exercises_every_gated_pattern() -> None:
    for kind, gates in _secrets._PATTERNS.items():
        for gate in gates:
            if not any(gate.pattern.search(t) for t in _TEXTS):
                pytest.fail(f"no corpus text matches a {kind} pattern: its gate is untested")


@given(st.text(alphabet=st.sampled_from(list("akisxopz_-=:@./ AKISXOPZ019eyJ\u212a\u017f")), max_size=60))
def test_no_gate_hides_a_match_in_generated_text(text: str) -> None:
    assert _hidden(text) == []


def test_a_folded_label_is_still_found() -> None:
    key = "wJalrXUtnFEMIK7MDENGbPxRfiCYzX9q2VrT1mQa"
    assert [f.kind for f in _secrets.find_secrets(f"aw\u017f_secret_access_key = {key}")] == ["aws-secret-access-key"]


_DIGIT_SCRIPTS = [str.maketrans("0123456789", "".join(chr(base + i) for i in range(10))) for base in (0xFF10, 0x0660)]


def _digit_variants(text: str) -> list[str]:
    return [text, *(text.translate(script) for script in _DIGIT_SCRIPTS)]


def _hidden_pii(text: str) -> list[str]:
    """The PII detectors a digit count closes for ``text`` although they would find something in it."""
    digits = _pii._digits(text)
    assert digits == len(re.findall(r"\d", text))
    hidden = [kind for kind, need in _pii._MIN_DIGITS.items() if digits < need and list(_pii.DETECTORS[kind](text))]
    if _pii._IPV4.search(text) and not ("." in text and digits >= 4):
        hidden.append("ipv4")
    if _pii._IPV6.search(text) and ":" not in text:
        hidden.append("ipv6")
    return hidden


def test_the_corpus_exercises_every_digit_gate() -> None:
    found = {f.kind for text in _TEXTS for f in _pii.find_pii(text)}
    assert set(_pii._MIN_DIGITS) <= found


@given(st.text(alphabet=st.sampled_from(list("0123456789\uff11\u0663 .-+:()/abcfeGBABtel")), max_size=40))
def test_no_digit_count_hides_pii_in_generated_text(text: str) -> None:
    assert _hidden_pii(text) == []


@pytest.mark.parametrize(
    ("text", "kind", "digits"),
    [
        ("phone: 01234567", "phone", 8),
        ("card 4222222222222 ok", "credit-card", 13),
        ("pay to AD71ABCDXXXXXXXXXXXXXXXX today", "iban", 2),
        ("ssn 123-45-6789", "us-ssn", 9),
        ("host ::1 up", "ip-address", 1),
        ("dns 8.8.8.8", "ip-address", 4),
        ("host 2001:db8:0:0:0:0:0:1 up", "ip-address", 11),
        # one ASCII digit, eleven full-width ones
        ("call +4\uff14 \uff12\uff10 \uff17\uff19\uff14\uff16 \uff10\uff19\uff15\uff18", "phone", 12),
    ],
)
def test_pii_with_the_fewest_digits_it_can_have_is_found(text: str, kind: str, digits: int) -> None:
    assert _pii._digits(text) == digits
    assert [f.kind for f in _pii.find_pii(text)] == [kind]
