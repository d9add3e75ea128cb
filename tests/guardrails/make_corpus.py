"""Write the guardrail detector corpora: ``python tests/guardrails/make_corpus.py``.

One JSONL file per detector in ``corpus/``, each line ``{"text", "detector", "expect"}`` (plus ``canary`` and
``marker`` for the canary corpus). Positives are values of the right shape *and* checksum, generated from a
fixed seed and set in varied prose, code, JSON and logs; negatives are the hard look-alikes: failing checksums,
invalid ranges, versions, dates, hashes, UUIDs, identifiers, placeholders. The hand-written lines live in
``handwritten.py``. Every value here is synthetic: no real person, account or credential.
"""

from __future__ import annotations

import base64
import json
import random
import string
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from handwritten import HANDWRITTEN  # noqa: E402 - the sibling module, run as a script

CORPUS = HERE / "corpus"
rng = random.Random(20240611)
B62 = string.ascii_letters + string.digits
B64 = B62 + "+/"
SLACK_IDS = "ABCDEFGHJK0123456789"

Line = tuple[str, bool]


def rand(alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def place(value: str, templates: list[str]) -> str:
    return rng.choice(templates).format(v=value)


PROSE = [
    "{v}",
    "Here it is: {v}",
    "value = '{v}'",
    '{{"field": "{v}", "ok": true}}',
    "2024-05-02T10:11:12Z INFO user record updated ({v})",
    "Sure! The value you asked for is {v}. Let me know if you need anything else.",
    "- {v}\n- next item",
    "| row | {v} |",
]


# -- PII --------------------------------------------------------------------------------------------------------


def luhn_digit(partial: str) -> str:
    total = 0
    for index, char in enumerate(reversed(partial)):
        value = int(char)
        if index % 2 == 0:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str((10 - total % 10) % 10)


def card(prefix: str, length: int) -> str:
    partial = prefix + rand(string.digits, length - len(prefix) - 1)
    return partial + luhn_digit(partial)


def grouped(digits: str, sizes: tuple[int, ...], sep: str) -> str:
    out, index = [], 0
    for size in sizes:
        out.append(digits[index : index + size])
        index += size
    if index < len(digits):
        out.append(digits[index:])
    return sep.join(out)


def cards() -> list[Line]:
    brands = [("4", 16), ("4", 13), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16), ("34", 15), ("37", 15),
              ("6011", 16), ("65", 16), ("644", 16), ("36", 14), ("3528", 16), ("3589", 16), ("62", 16),
              ("4", 19)]  # fmt: skip
    lines: list[Line] = []
    for prefix, length in brands * 3:
        digits = card(prefix, length)
        sizes = (4, 6, 5) if length == 15 else (4, 6, 4) if length == 14 else (4, 4, 4, 4)
        shown = rng.choice([digits, grouped(digits, sizes, " "), grouped(digits, sizes, "-")])
        lines.append((place(shown, [*PROSE, "card number {v} exp 09/27", "pay with {v}, CVV on the back"]), True))
        bad = digits[:-1] + str((int(digits[-1]) + rng.randint(1, 9)) % 10)  # fails Luhn
        lines.append((place(grouped(bad, sizes, rng.choice([" ", "-", ""])), PROSE), False))
    for first in "1789":  # Luhn-valid, but no scheme issues these prefixes
        lines.append((place(card(first, 16), PROSE), False))
    for _ in range(8):
        lines.append((f"order id {rand(string.digits, 16)}0 shipped", False))  # 17 digits
        lines.append((f"timestamp {1_700_000_000_000 + rng.randint(0, 10**10)} ms", False))
    return lines


IBAN_FORMATS = {"DE": "8n10n", "GB": "4a14n", "FR": "10n11c2n", "NL": "4a10n", "ES": "20n", "IT": "1a10n12c",
                "CH": "5n12c", "BE": "12n", "AT": "16n", "PL": "24n", "NO": "11n", "SE": "20n",
                "IE": "4a14n"}  # fmt: skip


def bban(fmt: str) -> str:
    out, number = "", ""
    for char in fmt:
        if char.isdigit():
            number += char
            continue
        alphabet = {"n": string.digits, "a": string.ascii_uppercase, "c": string.ascii_uppercase + string.digits}
        out += rand(alphabet[char], int(number))
        number = ""
    return out


def iban_for(country: str) -> str:
    body = bban(IBAN_FORMATS[country])
    digits = "".join(str(int(c, 36)) for c in body + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{body}"


def spaced(iban: str) -> str:
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def ibans() -> list[Line]:
    lines: list[Line] = []
    for country in list(IBAN_FORMATS) * 3:
        iban = iban_for(country)
        lines.append((place(rng.choice([iban, spaced(iban)]), [*PROSE, "IBAN: {v} (BIC on request)"]), True))
        check = int(iban[2:4])
        broken = iban[:2] + f"{(check + rng.randint(1, 50)) % 97 + 2:02d}" + iban[4:]
        if broken != iban:
            lines.append((place(rng.choice([broken, spaced(broken)]), PROSE), False))
        lines.append((place(iban[:-1], PROSE), False))  # one character short for its country
    return lines


def ssns() -> list[Line]:
    lines: list[Line] = []
    for _ in range(30):
        area = rng.choice([a for a in range(1, 900) if a != 666])
        value = f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
        lines.append((place(value, [*PROSE, "SSN {v} on file", "social security number: {v}"]), True))
    for _ in range(8):
        compact = f"{rng.randint(100, 665):03d}{rng.randint(10, 99)}{rng.randint(1000, 9999)}"
        lines.append((rng.choice(["SSN: {v}", "ssn {v}", "Social Security No. {v}"]).format(v=compact), True))
    for area, group, serial in [("000", "12", "3456"), ("666", "45", "1234"), ("900", "12", "3456"),
                                ("987", "65", "4320"), ("123", "00", "4567"), ("321", "54", "0000"),
                                ("078", "05", "1120"), ("219", "09", "9999"), ("999", "99", "9999")]:  # fmt: skip
        lines.append((place(f"{area}-{group}-{serial}", PROSE), False))
    for _ in range(8):
        lines.append((f"reference {rng.randint(100000000, 999999999)} (no label)", False))
    return lines


def phones() -> list[Line]:
    lines: list[Line] = []
    templates = [*PROSE, "Call us at {v} (Mon-Fri).", "Phone: {v}", "reach me on {v} after 5pm"]
    for _ in range(14):
        area, exch, num = rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)
        fmt = rng.choice(["({a}) {e}-{n:04d}", "{a}-{e}-{n:04d}", "{a}.{e}.{n:04d}", "+1 {a} {e} {n:04d}",
                          "1-{a}-{e}-{n:04d}", "+1 ({a}) {e}-{n:04d}", "{a} {e} {n:04d}"])  # fmt: skip
        lines.append((place(fmt.format(a=area, e=exch, n=num), templates), True))
    for fmt in ["+44 20 {a} {b}", "+49 30 {a}{b}", "+33 1 {x} {y} {z} {w}", "+91 98{a} {b}", "+81 3-{a}-{b}",
                "+61 2 {a} {b}", "+55 11 9{a}-{b}", "+447700{a}{w}", "+34 91 {x}{y} {z} {w}"]:  # fmt: skip
        for _ in range(2):
            value = fmt.format(a=rng.randint(1000, 9999), b=rng.randint(1000, 9999), x=rng.randint(10, 99),
                               y=rng.randint(10, 99), z=rng.randint(10, 99), w=rng.randint(10, 99))  # fmt: skip
            lines.append((place(value, templates), True))
    for label in ["Tel: 020 7946 {n}", "mobile 0151 2345 {n}", "Fax: 030 1234 {n}"]:
        lines.append((label.format(n=rng.randint(1000, 9999)), True))
    return lines


def ips() -> list[Line]:
    lines: list[Line] = []
    templates = [*PROSE, "Failed password for root from {v} port 22 ssh2", "connect to {v}:5432 refused"]
    for _ in range(20):
        value = ".".join(str(rng.randint(1, 254)) for _ in range(4))
        lines.append((place(value, templates), True))
    for _ in range(10):
        groups = [f"{rng.randint(0, 65535):x}" for _ in range(8)]
        value = rng.choice([":".join(groups), ":".join(groups[:3]) + "::" + groups[7], "fe80::" + ":".join(groups[4:])])
        lines.append((place(value, ["{v}", "client [{v}] connected", "AAAA record: {v}"]), True))
    for _ in range(6):
        version = ".".join(str(rng.randint(0, 20)) for _ in range(4))
        lines.append(
            (rng.choice(["version {v}", "v{v}", "Chrome/{v} Safari", "release {v} notes"]).format(v=version), False)
        )
        lines.append(
            (f"{rng.randint(256, 999)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}", False)
        )
    return lines


def emails() -> list[Line]:
    first = ["anna", "li.wei", "j.smith", "marta_k", "o.connor", "dev+alerts", "sam", "priya.n", "tomasz", "q"]
    domains = ["example.com", "mail.example.org", "corp.example.co.uk", "example.io", "uni.example.edu", "example.de"]
    lines: list[Line] = []
    for _ in range(30):
        value = f"{rng.choice(first)}{rng.choice(['', str(rng.randint(1, 99))])}@{rng.choice(domains)}"
        lines.append((place(value, [*PROSE, "Contact: {v}.", "From: Jane <{v}>", "mailto:{v}"]), True))
    return lines


# -- secrets ------------------------------------------------------------------------------------------------------


def secret_lines() -> dict[str, list[Line]]:
    code = [*PROSE, 'export TOKEN="{v}"', "const key = '{v}';", "Authorization: Bearer {v}", "key: {v}"]
    out: dict[str, list[Line]] = {}

    def add(kind: str, make: Callable[[], str], n: int, templates: list[str] = code) -> None:
        out.setdefault(kind, []).extend((place(make(), templates), True) for _ in range(n))

    add("aws-access-key-id", lambda: rng.choice(["AKIA", "ASIA"]) + rand(string.ascii_uppercase + "234567", 16), 25)
    out["aws-access-key-id"] += [(place("AKIA" + rand(string.ascii_uppercase, 15), PROSE), False) for _ in range(5)]
    aws_secret = ["aws_secret_access_key = {v}", "AWS_SECRET_ACCESS_KEY={v}", '"aws_secret_key": "{v}"']
    add("aws-secret-access-key", lambda: rand(B64, 40), 20, aws_secret)
    add("gcp-api-key", lambda: "AIza" + rand(B62 + "_-", 35), 20)
    out["gcp-api-key"] += [(place("AIza" + rand(B62, 30), PROSE), False) for _ in range(5)]
    sa = '{{"type": "service_account", "project_id": "demo", "private_key_id": "{v}"}}'
    add("gcp-service-account", lambda: rand("0123456789abcdef", 40), 15, [sa])
    azure = ["DefaultEndpointsProtocol=https;AccountName=demo;AccountKey={v};EndpointSuffix=core.windows.net",
             "Endpoint=sb://demo.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey={v}"]  # fmt: skip
    add("azure-storage-key", lambda: rand(B64, 86) + "==", 15, azure)
    add("github-token", lambda: rng.choice(["ghp_", "gho_", "ghs_", "ghu_", "ghr_"]) + rand(B62, 36), 20)
    add("github-token", lambda: "github_pat_" + rand(B62, 22) + "_" + rand(B62, 59), 6)
    out["github-token"] += [(place("ghp_" + rand(B62, 30), PROSE), False) for _ in range(5)]
    add("gitlab-token", lambda: "glpat-" + rand(B62 + "_-", 20), 20)
    add("slack-token", lambda: f"xoxb-{rand(string.digits, 11)}-{rand(string.digits, 12)}-{rand(B62, 24)}", 12)
    add(
        "slack-token",
        lambda: f"https://hooks.slack.com/services/T{rand(SLACK_IDS, 8)}/B{rand(SLACK_IDS, 10)}/{rand(B62, 24)}",
        8,
    )
    add("openai-api-key", lambda: "sk-" + rand(B62, 48), 10)
    add("openai-api-key", lambda: "sk-proj-" + rand(B62 + "_-", 120), 10)
    add("anthropic-api-key", lambda: "sk-ant-api03-" + rand(B62 + "_-", 93) + "AA", 15)
    add("stripe-key", lambda: rng.choice(["sk_live_", "rk_live_", "sk_test_"]) + rand(B62, 24), 12)
    out["stripe-key"] += [(place("pk_live_" + rand(B62, 24), PROSE), False) for _ in range(5)]  # publishable

    def pem() -> str:
        kind = rng.choice(["RSA ", "EC ", "OPENSSH ", ""])
        body = "\n".join(rand(B64, 64) for _ in range(rng.randint(2, 6)))
        return f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"

    add("private-key", pem, 15, ["{v}", "key file:\n{v}\n", "```\n{v}\n```"])
    add("private-key", lambda: "-----BEGIN PRIVATE KEY-----\\n" + rand(B64, 64) + "\\n", 5, ['"private_key": "{v}"'])

    def jwt() -> str:
        header = {"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"}
        payload = {"sub": str(rng.randint(1, 10**6)), "iat": rng.randint(1.6e9, 1.8e9), "role": "user"}

        def enc(obj: object) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

        return f"{enc(header)}.{enc(payload)}.{rand(B62 + '_-', 43)}"

    add("jwt", jwt, 25)
    conns = ["postgres://app:{p}@db.internal:5432/prod", "mysql://root:{p}@10.0.0.5/shop", "redis://:{p}@cache:6379/0",
             "mongodb+srv://svc:{p}@cluster0.example.net/db", "amqp://guest2:{p}@mq.example.com:5672/",
             "Server=tcp:sql.example.net;Database=app;User Id=svc;Password={p};"]  # fmt: skip
    for _ in range(25):
        password = rng.choice([rand(B62, 12), "pass", "hunter2", rand(B62 + "!*", 16)])
        out.setdefault("connection-string", []).append((place(rng.choice(conns).format(p=password), PROSE), True))
    add("generic-secret", lambda: rand(B62, rng.randint(24, 64)), 25, [*PROSE, "token {v} expires in 1h"])
    labelled = ["password: {v}", "DB_PASSWORD={v}", '"client_secret": "{v}"', "api_key={v}", "SECRET_KEY = '{v}'"]
    for _ in range(15):
        value = rng.choice([rand(B62, 12), rand("0123456789abcdef", 32), "Tr0ub4dor&3", "correcthorsebattery9"])
        out["generic-secret"].append((rng.choice(labelled).format(v=value), True))
    return out


def main() -> None:
    generated: dict[str, list[Line]] = {
        "email": emails(), "phone": phones(), "credit-card": cards(), "iban": ibans(), "us-ssn": ssns(),
        "ip-address": ips(), **secret_lines(),
    }  # fmt: skip
    CORPUS.mkdir(exist_ok=True)
    for old in CORPUS.glob("*.jsonl"):
        old.unlink()
    detectors = sorted(set(generated) | set(HANDWRITTEN))
    for detector in detectors:
        rows = [{"text": t, "detector": detector, "expect": e} for t, e in generated.get(detector, [])]
        for entry in HANDWRITTEN.get(detector, []):
            rows.append(
                {"text": entry[0], "detector": detector, "expect": entry[1], **(entry[2] if len(entry) > 2 else {})}
            )
        with (CORPUS / f"{detector}.jsonl").open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{detector}: {len(rows)} lines ({sum(r['expect'] for r in rows)} positive)")


if __name__ == "__main__":
    main()
