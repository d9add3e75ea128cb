"""The detectors' rules one by one, at their edges: issuer ranges, placeholder shapes, label rules, scan order.

Mutation testing (``make mutation``, docs/guardrails.md) showed which of these a corpus with a 0.95 goal lets
drift: a range end moved by one, a ``continue`` turned into ``break`` (one skipped match hiding every later one),
a message no test read. Each table here states one rule.
"""

from __future__ import annotations

import pytest

from helm_eval.checks import Finding
from helm_eval.checks._findings import (
    AllowList,
    check_options,
    drop_overlaps,
    redact,
    shannon_entropy,
    strings_option,
    summary,
)
from helm_eval.checks._pii import card_brand, find_pii, iban_valid, is_private_ip, ssn_valid
from helm_eval.checks._secrets import find_secrets, is_placeholder, looks_random

KEY = "Xk2p9QwLm4Zr7Tb5Nc8dVh3J"  # 24 random characters: a secret wherever it stands unlabelled


def _digits(prefix: str, length: int) -> str:
    return prefix + "0" * (length - len(prefix))


# -- payment cards -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "length", "brand"),
    [
        ("4", 13, "visa"), ("4", 16, "visa"), ("4", 19, "visa"), ("4", 15, None),
        ("51", 16, "mastercard"), ("55", 16, "mastercard"), ("56", 16, None), ("50", 16, None),
        ("2221", 16, "mastercard"), ("2720", 16, "mastercard"), ("2220", 16, None), ("2721", 16, None),
        ("51", 15, None),
        ("34", 15, "amex"), ("37", 15, "amex"), ("34", 16, None), ("35", 15, None),
        ("6011", 16, "discover"), ("6011", 19, "discover"), ("6011", 20, None), ("65", 16, "discover"),
        ("644", 16, "discover"), ("649", 16, "discover"), ("643", 16, None),
        ("622126", 16, "discover"), ("622925", 16, "discover"), ("622125", 16, "unionpay"), ("622926", 16, "unionpay"),
        ("300", 14, "diners"), ("305", 14, "diners"), ("306", 14, None), ("36", 14, "diners"), ("38", 14, "diners"),
        ("39", 14, "diners"), ("36", 19, "diners"), ("36", 20, None), ("37", 14, None),
        ("3528", 16, "jcb"), ("3589", 16, "jcb"), ("3589", 19, "jcb"), ("3527", 16, None), ("3590", 16, None),
        ("3528", 20, None),
        ("62", 16, "unionpay"), ("62", 19, "unionpay"), ("62", 20, None), ("62", 15, None),
    ],
)  # fmt: skip
def test_card_brand_is_the_issuer_whose_prefix_range_and_length_fit(prefix: str, length: int, brand: str) -> None:
    assert card_brand(_digits(prefix, length)) == brand


@pytest.mark.parametrize(
    ("text", "card"),
    [
        ("4111 1111 1111 1111", "4111 1111 1111 1111"),
        ("4222 2222 2222 2", "4222 2222 2222 2"),  # 13 digits: the last group may be short
        ("6011 0000 0000 0000 1", "6011 0000 0000 0000 1"),
        ("4111-1111-1111-1111 exp", "4111-1111-1111-1111"),
        ("4111 1111-1111 1111", None),  # two kinds of separator
        ("6011 0000 0000 00001", None),  # a last group of five
        ("4222 222222222", None),  # 4 then 9
        ("411111 111111 1111", None),  # 6-6-4 is nobody's grouping
        ("4111 11111 1111 111", None),
        ("4111 1111 11111 111", None),
        ("4111 1111 1111 1111 737 (CVV)", "4111 1111 1111 1111"),  # a card, then its security code
        ("6211 1111 1111 1111 116", "6211 1111 1111 1111 116"),  # 19 digits
        ("6211 1111 1111 1111 1160", None),  # 20 digits is no card
    ],
)
def test_a_card_is_found_only_in_a_grouping_issuers_print(text: str, card: str | None) -> None:
    assert [f.value for f in find_pii(text, ["credit-card"])] == ([card] if card else [])


def test_every_card_in_a_text_is_found() -> None:
    text = "4111 1111 1111 1111 and 5555 5555 5555 4444"
    assert [f.value for f in find_pii(text)] == ["4111 1111 1111 1111", "5555 5555 5555 4444"]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("+1 234 5678", "+1 234 5678"),  # 8 digits with a country code ...
        ("+1 234 567", None),
        ("+123 456 789 012 345", "+123 456 789 012 345"),  # ... up to E.164's 15
        ("+123 456 789 012 3456", None),
        ("Tel: 020 7946 0958", "020 7946 0958"),
    ],
)
def test_phone_numbers_have_8_to_15_digits(text: str, found: str | None) -> None:
    spans = [(text.index(found), text.index(found) + len(found), found)] if found else []
    assert [(f.start, f.end, f.value) for f in find_pii(text, ["phone"])] == spans


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 00"),
        ("DE89 3704  0044 0532 0130 00", None),  # two spaces end it
        ("DE89-3704-0044-0532-0130-00", None),  # and so does any other separator
        ("CH93 0076 2011 6238 5295 7", "CH93 0076 2011 6238 5295 7"),  # a last group of one, at the very end
        ("IBAN DE89 3704 ", None),
        ("DE89370400440532013000X", None),  # runs on into a longer token
        ("GB82WEST1234569876543!", None),  # the right length, not alphanumeric
    ],
)
def test_ibans_are_spaced_by_single_spaces_and_end_at_a_word_boundary(text: str, found: str | None) -> None:
    assert [f.value for f in find_pii(text, ["iban"])] == ([found] if found else [])


def test_checksums_and_number_rules() -> None:
    assert not iban_valid("GB82-WEST-1234-5698-7654")
    assert not iban_valid("GB82WEST1234569876543!")
    assert [(f.start, f.value) for f in find_pii("SSN 123-45-6789")] == [(4, "123-45-6789")]
    assert ssn_valid("123", "45", "6789")
    assert not ssn_valid("123", "00", "6789")
    assert not ssn_valid("123", "45", "0000")
    assert all(map(is_private_ip, ["10.1.2.3", "127.0.0.1", "fe80::1"]))
    assert not is_private_ip("8.8.8.8")
    assert not is_private_ip("not an address")


# -- placeholders and labels -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "placeholder"),
    [
        ("${DB_PASSWORD}", True), ("<token>", True), ("{{ api_key }}", True), ("%s", True),
        ("os.environ['K']", True), ("process.env.API_KEY", True), ("get_secret('db')", True),
        ("cfg.environ_key", True), ("load_getenv_value", True), ("xxx", True),
        ("****", True), ("xxxx", True), ("XXXX-XXXX", True), ("....", True), ("•••", True),
        ("sk-xxxx1234abcd", True), ("ab****cd", True), ("ab....cd", True), ("pass0000000", True), ("ab1234567", True),
        ("aaaaaaaa", True), ("abcabcab", True), ("abcdabcd", False), ("abcabca", False),
        ("changeme", True), ("your_api_key", True), ("example_key", True), ("required", True),
        ("Xk2p9QwLm4", False), ("hunter2!", False), ("1234566", False),
    ],
)  # fmt: skip
def test_placeholders(value: str, placeholder: bool) -> None:
    assert is_placeholder(value) is placeholder


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("password: hunter2", "hunter2"),
        ("passwd: hunter2", "hunter2"),  # 7 characters are enough after a password label ...
        ("pwd=hunter2", "hunter2"),
        ("api_key=hunter2", None),  # ... but not after another label (8 or more)
        ("api_key=Ab3dEf9h", "Ab3dEf9h"),
        ("PASSWORD: abcde1", "abcde1"),
        ("password: abcd1", None),  # under 6
        ("password: hunterhunte", None),  # one case of letters only, under 12: a word
        ("password: hunterhunter", "hunterhunter"),
        ("password: HunterHunte", "HunterHunte"),
        ("token: Ab3dEf9hK2:", None),  # a value ending in ':' is the next label
        ("api_key=http://acme.test/k3Y9", None),
        ("api_key=https://acme.test/k3Y9", None),
        ("password=./secrets/db.txt", None),
        ("pwd=../conf/db", None),
        ("PWD=~/work", None),
        ("password=http://acme.test/login", None),
        ("password=https://acme.test/login", None),
        ("api_key=aabb1122", None),  # too few distinct characters to be a key
        (r"pwd=c:\users\maria", None),
    ],
)
def test_labelled_values(text: str, found: str | None) -> None:
    assert [f.value for f in find_secrets(text)] == ([found] if found else [])


# -- a skipped match never ends the scan -------------------------------------------------------------------------

WORD_PASSWORD = "Tr0ub4dor&3"  # too short and too wordy for the unlabelled detector: only its label finds it
_SKIPPED_THEN_FOUND = [
    (f"api_key=${{API_KEY}}\npassword: {WORD_PASSWORD}", "generic-secret", WORD_PASSWORD),
    (f"PWD=/home/maria\npassword: {WORD_PASSWORD}", "generic-secret", WORD_PASSWORD),
    (f"password: abc\napi_key={WORD_PASSWORD}", "generic-secret", WORD_PASSWORD),
    (f"token: string1\nsecret: {WORD_PASSWORD}", "generic-secret", WORD_PASSWORD),
    (f"GITHUB_TOKEN=ghp_{'x' * 36}\nghp_{KEY}{KEY[:12]}", "github-token", f"ghp_{KEY}{KEY[:12]}"),
    (f"sk-your-openai-api-key-goes-here-thank-you sk-proj-{KEY}{KEY}", "openai-api-key", f"sk-proj-{KEY}{KEY}"),
    (
        f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG0lz3NMSaHdJz5Nj6tfW9uNEJnsBej9x8HXNHd2SKtz ci\nmaterial {KEY}",
        "generic-secret",
        KEY,
    ),
    (f"h1:Vq8ZtR2mXk7LpW4nBc9HsD3fQe5Ty1Uo6Ia0Ps8=\nmaterial {KEY}", "generic-secret", KEY),
    (f"request_id:\n{KEY}", "generic-secret", KEY),  # a label on the line above labels nothing
    (f"build\nrequest_id:\n{KEY}", "generic-secret", KEY),
    (
        f"postgres://u:${{PW}}@db/app\nServer=db;Password={{0}};\npostgres://u:{KEY}@db/app",
        "connection-string",
        f"postgres://u:{KEY}@db",
    ),
]


@pytest.mark.parametrize(("text", "kind", "secret"), _SKIPPED_THEN_FOUND)
def test_a_skipped_secret_candidate_does_not_hide_the_next(text: str, kind: str, secret: str) -> None:
    assert [(f.kind, f.value) for f in find_secrets(text)] == [(kind, secret)]


def test_a_filtered_or_allowed_finding_does_not_hide_the_next_of_its_detector() -> None:
    github = f"ghp_{KEY}{KEY[:12]}"
    text = f"AKIAQZ7XK2M4TN6PW3RJ then {github}"
    assert [f.value for f in find_secrets(text, ["github-token"])] == [github]
    assert [f.value for f in find_secrets(text, allow=AllowList(["AKIA.*"]))] == [github]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("icon@2x.png then maria@acme.test", "maria@acme.test"),
        ("a..b@acme.test then maria@acme.test", "maria@acme.test"),
        ("ssh://git@github.com/x then maria@acme.test", "maria@acme.test"),
        ("version 1.2.3.4 then 203.0.113.9", "203.0.113.9"),
        ("std::vector then 2001:db8::1", "2001:db8::1"),
        (":: then 2001:db8::1", "2001:db8::1"),
        ("cafe::beef then 2001:db8::1", "2001:db8::1"),  # no digit
        ("1::2::3 then 2001:db8::1", "2001:db8::1"),  # not an address
        ("DE12 ABC then DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 00"),
        ("415-555 0132 then (415) 555-0133", "(415) 555-0133"),  # mixed separators: two numbers
        ("4111 1111-1111 1111 then 5555 5555 5555 4444", "5555 5555 5555 4444"),
        ("XX89 3704 then DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 00"),
    ],
)
def test_a_skipped_pii_candidate_does_not_hide_the_next(text: str, value: str) -> None:
    assert [f.value for f in find_pii(text)] == [value]


@pytest.mark.parametrize(
    "text",
    [
        "server 10.20.30.40",
        "print driver 192.0.2.7",
        "failover 198.51.100.4",
        "avoid 10.1.2.3",
        "rebuild 10.1.2.3",
        "intersection 10.1.2.3",
        "prerelease 10.1.2.3",
    ],
)
def test_an_address_after_a_word_ending_in_a_version_word_is_found(text: str) -> None:
    assert [f.kind for f in find_pii(text)] == ["ip-address"]


@pytest.mark.parametrize(
    "text",
    ["ver 1.2.3.4", "Ver. 10.0.0.1", "version 4.4.2.1", "v 1.2.3.4", "build 10.1.2.3", "OID 1.3.6.1",
     "kernel 5.15.0.1", "section 10.1.2.3", "Chrome/120.0.6099.109", "firmware 1.2.3.4", "§ 1.2.3.4"],
)  # fmt: skip
def test_a_version_number_is_not_an_address(text: str) -> None:
    assert find_pii(text) == []


# -- what a finding covers ---------------------------------------------------------------------------------------


def test_a_private_key_finding_runs_to_its_own_end_line() -> None:
    pem = f"-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA{KEY}\n{KEY}\n-----END RSA PRIVATE KEY-----"
    ec = f"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI{KEY}\n-----END EC PRIVATE KEY-----"
    assert [f.value for f in find_secrets(f"key:\n{pem}\nand\n{ec}\ndone")] == [pem, ec]


def test_a_jwt_needs_alg_in_its_header() -> None:
    # {"not":"a jwt"} . {"sub":"123"} . signature
    assert find_secrets("eyJub3QiOiJhIGp3dCJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl", ["jwt"]) == []
    # {"alg":"HS256"} . {"sub":"123"} . signature; unpadded base64url parts of any length decode
    assert len(find_secrets("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl", ["jwt"])) == 1


def test_a_labelled_provider_secret_is_reported_without_its_label() -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQx7PzK2mW"
    assert [f.value for f in find_secrets(f"aws_secret_access_key = {secret}")] == [secret]


def test_an_identifier_label_counts_only_right_before_the_token() -> None:
    assert find_secrets(f'{{"id": "{KEY}"}}') == []
    assert [f.value for f in find_secrets(f'{{"id": 7, "name": "build", "note": "{KEY}"}}')] == [KEY]
    long_line = "x" * 100 + f' "request_id": {KEY}'
    assert find_secrets(long_line) == []


def test_a_connection_url_is_reported_up_to_its_host() -> None:
    url = f"postgres://app:{KEY}@db.acme.test"
    assert [(f.kind, f.value) for f in find_secrets(f"DATABASE_URL={url}/prod")] == [("connection-string", url)]


def test_findings_carry_family_and_where_and_allowed_values_are_left_out() -> None:
    text = f"AKIAQZ7XK2M4TN6PW3RJ and maria@acme.test and secret: {KEY}"
    secrets = find_secrets(text, where="vars.doc")
    assert [(f.family, f.kind, f.where) for f in secrets] == [
        ("secrets", "aws-access-key-id", "vars.doc"),
        ("secrets", "generic-secret", "vars.doc"),
    ]
    assert [f.kind for f in find_secrets(text, allow=AllowList(["AKIA[A-Z0-9]{16}"]))] == ["generic-secret"]
    assert [f.kind for f in find_secrets(text, ["jwt", "generic-secret"])] == ["generic-secret"]
    assert [(f.family, f.where) for f in find_pii(text, where="messages[0]")] == [("pii", "messages[0]")]
    assert find_pii(text, allow=AllowList(["maria@acme.test"])) == []
    assert [f.value for f in find_pii(f"{text} or jo@acme.test", allow=AllowList(["maria@.*"]))] == ["jo@acme.test"]
    assert find_pii(text)[0].where == ""
    assert find_pii("from 10.0.0.2 and 8.8.8.8", allow_private_ip=True)[0].value == "8.8.8.8"
    assert find_pii("from 10.0.0.2 and 8.8.8.8", ["email"]) == []


# -- the shape of an unlabelled secret ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "random"),
    [
        (KEY[:20], True),  # 20 characters is long enough
        (KEY[:19], False),
        (KEY[:19] + "==", False),  # padding is not length
        (KEY + "==", True),
        ("Xk2p/9QwL/m4Zr/7Tb5/Nc8d", True),  # 4 slashes in 24 characters: base64 can have that many
        ("Xk2p/9Qw/Lm4Z/r7Tb/5Nc8/d", False),  # 5: a path
        ("Xk2p-9QwL-m4Zr-7Tb5Nc8d", True),
        ("Xk2p-9QwL-m4Zr-7Tb5-Nc8d", False),  # 4 dashes: a slug
        ("Xk2p_9QwL_m4Zr_7Tb5Nc8d", True),
        ("Xk2p_9QwL_m4Zr_7Tb5_Nc8d", False),
        ("abcdefghij0123456789ABCD", False),  # sequential
        ("Kx7abcdefghiPzK2mWv9RtL4", True),  # 8 of 23 steps to a neighbouring character: a third, not more
        ("Kx7abcdefghijzK2mWv9RtL4", False),  # 9
        ("Qx7PzK2mW9876543210HdJ3f", False),  # counting down
        (KEY[:19] + "X", True),
        ("getHTTPResponseCode200Handler", False),
        ("MAXRetryCountForAPIVersion2", False),
        ("Qx7PzK2mWv9RtL4nBs8HdJ3f", True),
    ],
)
def test_looks_random(token: str, random: bool) -> None:
    assert looks_random(token) is random


# -- findings, options and messages ------------------------------------------------------------------------------


def test_overlapping_findings_keep_the_first_and_touching_ones_are_kept() -> None:
    a = Finding("secrets", "jwt", 0, 10, "a")
    inside = Finding("secrets", "generic-secret", 5, 8, "b")
    touching = Finding("secrets", "generic-secret", 10, 20, "c")
    before = Finding("secrets", "generic-secret", 0, 3, "d")
    elsewhere = Finding("secrets", "generic-secret", 5, 8, "e", where="vars.x")
    kept = drop_overlaps([touching, a, inside, before, elsewhere])
    assert [f.value for f in kept] == ["a", "c", "e"]
    assert [f.value for f in drop_overlaps([before, touching, a])] == ["d", "c"]
    assert [f.value for f in drop_overlaps([a, touching])] == ["a", "c"]  # one ends where the next starts
    mid, across = Finding("secrets", "jwt", 3, 10, "m"), Finding("secrets", "jwt", 5, 12, "x")
    assert [f.value for f in drop_overlaps([before, mid, across])] == ["d", "m"]


def test_summary_and_redaction() -> None:
    findings = [Finding("pii", "email", i * 20, i * 20 + 15, "person@acme.test", "vars.x") for i in range(7)]
    assert (
        summary(findings[:2])
        == "email 'pe…st' (16 chars) in vars.x at char 0; email 'pe…st' (16 chars) in vars.x at char 20"
    )
    assert summary(findings).endswith("; and 2 more")
    assert "and" not in summary(findings[:5])
    assert findings[0].describe() == "email 'pe…st' (16 chars) in vars.x at char 0"
    assert Finding("pii", "email", 3, 9, "abcdefghij").describe() == "email 'ab…ij' (10 chars) at char 3"
    assert redact("abcdefghi") == "<9 chars>"
    assert shannon_entropy("") == 0.0


def test_option_errors_name_the_culprit() -> None:
    kinds = ("email", "phone")
    with pytest.raises(ValueError, match=r"^value must be a mapping with any of: allow, entities$"):
        check_options("x", {"entities", "allow"}, kinds, "entities")
    with pytest.raises(ValueError, match=r"^unknown key 'extra'; known keys: allow, entities$"):
        check_options({"extra": 1}, {"entities", "allow"}, kinds, "entities")
    with pytest.raises(ValueError, match=r"^unknown entity 'fax'; known: email, phone$"):
        check_options({"entities": ["fax"]}, {"entities", "allow"}, kinds, "entities")
    with pytest.raises(ValueError, match=r"^unknown detector 'fax'; known: email, phone$"):
        check_options({"detectors": ["fax"]}, {"detectors", "allow"}, kinds, "detectors")
    with pytest.raises(ValueError, match=r"^allow entries must not be empty$"):
        check_options({"allow": [""]}, {"entities", "allow"}, kinds, "entities")
    with pytest.raises(ValueError, match=r"^allow must be a list of strings$"):
        strings_option({"allow": [1]}, "allow")
    with pytest.raises(ValueError, match=r"^allow must be a list of strings$"):
        strings_option({"allow": 3}, "allow")


def test_an_allow_entry_that_is_no_regular_expression_is_a_literal() -> None:
    allow = AllowList(["a+(b", "x.y"])
    assert allow.allows("a+(b")
    assert allow.allows("xzy")  # a regular expression where it is one
    assert not allow.allows("a+b")
