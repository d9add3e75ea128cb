"""Credentials and personal data in the formats their issuers document, generated fresh from a seed.

Written from the providers' own descriptions of their formats, not from the detectors' patterns: AWS access key
ids (``AKIA``/``ASIA`` + 16), GitHub's prefixed tokens with their CRC32 checksum, Slack's ``xox*``/``xapp``
tokens and webhook URLs, Stripe's secret and restricted keys, OpenAI's legacy and project keys, Google API keys,
JWTs (RFC 7519) with realistic claims and signature lengths, PEM/OpenSSH/PGP private keys (RFC 7468) with
DER-shaped bodies, and connection strings (URL, ADO.NET, JDBC) with passwords. Each value is set in the kind of
text it turns up in: env files, YAML, JSON, shell history, logs, Python, prose.

Every value is random: none is or was a real credential. Every sample names the value planted in it, so a
detector is credited only when it reports that value, not something else in the same line.
"""

from __future__ import annotations

import base64
import json
import random
import string
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

UPPER_ALNUM = string.ascii_uppercase + string.digits
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
URLSAFE = string.ascii_letters + string.digits + "-_"
HEX = "0123456789abcdef"


@dataclass(frozen=True)
class Sample:
    """One line of text, whether a check should fire on it, and what it holds."""

    text: str
    form: str
    """The documented format (``github-token``) or look-alike (``git-sha``) the line is an instance of."""
    value: str = ""
    """The planted secret or personal datum (positives only): a finding must overlap it to count."""

    @property
    def span(self) -> tuple[int, int]:
        start = self.text.index(self.value)
        return start, start + len(self.value)


class Maker:
    """Seeded random pieces shared by the positive and look-alike generators."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def chars(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def raw(self, n: int) -> bytes:
        return self.rng.randbytes(n)

    def b64(self, data: bytes) -> str:
        return base64.b64encode(data).decode()

    def b64url(self, data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    def pick(self, options: list[str]) -> str:
        return self.rng.choice(options)

    def place(self, value: str, templates: list[str]) -> str:
        return self.rng.choice(templates).replace("{v}", value)


def pem_lines(body: str, width: int = 64) -> str:
    return "\n".join(body[i : i + width] for i in range(0, len(body), width))


# -- secrets in their documented formats -------------------------------------------------------------------------


def _github(m: Maker, prefix: str) -> str:
    # GitHub: prefix, 30 random base62 characters, then a CRC32 of them as 6 base62 digits
    entropy = m.chars(BASE62, 30)
    crc = zlib.crc32(entropy.encode())
    digits = ""
    for _ in range(6):
        crc, rem = divmod(crc, 62)
        digits = BASE62[rem] + digits
    return prefix + entropy + digits


def _openai_legacy(m: Maker) -> str:
    return "sk-" + m.chars(BASE62, 20) + "T3BlbkFJ" + m.chars(BASE62, 20)


def _openai_project(m: Maker) -> str:
    return "sk-proj-" + m.chars(URLSAFE, 74) + "T3BlbkFJ" + m.chars(URLSAFE, 74)


def _stripe(m: Maker, prefix: str) -> str:
    # older keys: 24 characters after the prefix; keys issued since 2019 are ~99 (account id + secret)
    return prefix + ("51" + m.chars(BASE62, 97) if m.rng.random() < 0.5 else m.chars(BASE62, 24))


def _jwt(m: Maker) -> str:
    alg, sig_bytes = m.rng.choice([("HS256", 32), ("RS256", 256), ("ES256", 64), ("HS512", 64)])
    header: dict[str, str] = {"alg": alg, "typ": "JWT"}
    if alg != "HS256":
        header["kid"] = m.chars(URLSAFE, 20)
    iat = m.rng.randint(1_650_000_000, 1_800_000_000)
    claims = {
        "iss": m.pick(["https://auth.acme.test/", "https://login.acme.test/oauth2", "acme-api"]),
        "sub": m.pick([str(m.rng.randint(1, 10**9)), "user_" + m.chars(BASE62, 10)]),
        "aud": m.pick(["acme-web", "https://api.acme.test"]),
        "iat": iat,
        "exp": iat + 3600,
        "scope": m.pick(["read:orders", "openid profile", "admin"]),
    }
    parts = (json.dumps(header, separators=(",", ":")), json.dumps(claims, separators=(",", ":")))
    return ".".join(m.b64url(p.encode()) for p in parts) + "." + m.b64url(m.raw(sig_bytes))


_DER_PREFIX = {  # the opening bytes of each key encoding, so the bodies start as real keys do (MIIE..., b3Bl...)
    "RSA PRIVATE KEY": bytes.fromhex("308204a40201000282010100"),
    "PRIVATE KEY": bytes.fromhex("308204bd020100300d06092a864886f70d0101010500048204a7"),
    "EC PRIVATE KEY": bytes.fromhex("307702010104"),
    "ENCRYPTED PRIVATE KEY": bytes.fromhex("3082051c304e06092a864886f70d01050d"),
    "OPENSSH PRIVATE KEY": b"openssh-key-v1\x00\x00\x00\x00\x04none\x00\x00\x00\x04none",
}


def _pem_private(m: Maker) -> str:
    label = m.pick(list(_DER_PREFIX))
    size = {"EC PRIVATE KEY": 115, "OPENSSH PRIVATE KEY": 380}.get(label, 1190)
    body = m.b64(_DER_PREFIX[label] + m.raw(size))
    width = 70 if label == "OPENSSH PRIVATE KEY" else 64
    return f"-----BEGIN {label}-----\n{pem_lines(body, width)}\n-----END {label}-----"


def _pgp_private(m: Maker) -> str:
    body = pem_lines(m.b64(b"\x95\x03\x98\x04" + m.raw(700)))
    checksum = m.b64(m.raw(3))
    return f"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n{body}\n={checksum}\n-----END PGP PRIVATE KEY BLOCK-----"


def _password(m: Maker) -> str:
    return m.rng.choice(
        [
            lambda: m.chars(string.ascii_letters + string.digits, m.rng.randint(12, 32)),
            lambda: m.chars(string.ascii_letters + string.digits + "!*_~", 20),
            lambda: m.pick(["Summer", "Winter", "Dragon", "Monkey"]) + str(m.rng.randint(1990, 2030)) + "!",
            lambda: m.chars(HEX, 32),
        ]
    )()


def _url_connection(m: Maker) -> tuple[str, str]:
    password = _password(m).replace("!", "%21")
    user = m.pick(["app", "svc_orders", "postgres", "root", "admin", "reporting"])
    host = m.pick(["db.internal", "prod-db.acme.test", "pg-primary", "cluster0.ab1cd.mongodb.test", "localhost"])
    template = m.pick(
        [
            "postgresql://{u}:{p}@{h}:5432/orders",
            "postgres://{u}:{p}@{h}/app?sslmode=require",
            "postgresql+psycopg2://{u}:{p}@{h}/analytics",
            "mysql://{u}:{p}@{h}:3306/shop",
            "mongodb+srv://{u}:{p}@{h}/?retryWrites=true&w=majority",
            "mongodb://{u}:{p}@{h}:27017/admin",
            "redis://default:{p}@{h}:6379/0",
            "rediss://:{p}@{h}:6380",
            "amqp://{u}:{p}@{h}:5672/%2F",
            "mssql+pyodbc://{u}:{p}@{h}/crm?driver=ODBC+Driver+18",
        ]
    )
    return template.format(u=user, p=password, h=host), password


def _kv_connection(m: Maker) -> tuple[str, str]:
    password = _password(m)
    template = m.pick(
        [
            "Server=tcp:{h},1433;Initial Catalog=crm;User ID={u};Password={p};Encrypt=True;",
            "Data Source={h};Initial Catalog=Orders;User Id={u};Password={p};",
            "Host={h};Port=5432;Database=app;Username={u};Password={p}",
            "host={h} port=5432 dbname=app user={u} password={p} sslmode=require",
            "jdbc:postgresql://{h}:5432/app?user={u}&password={p}",
            "jdbc:mysql://{h}:3306/shop?user={u}&password={p}&useSSL=true",
        ]
    )
    host = m.pick(["sql-prod.acme.test", "db.internal", "orders-db"])
    return template.format(h=host, u=m.pick(["svc", "app_rw", "sa"]), p=password), password


PLACES = {  # where each kind of value turns up
    "env": ["{NAME}={v}", 'export {NAME}="{v}"', "{NAME}='{v}'"],
    "code": ['client = Client(api_key="{v}")', "const token = '{v}';", '{"{name}": "{v}"}', "{name}: {v}"],
    "text": [
        "Here is the key you asked for: {v}",
        "I found this in the logs: {v} — rotate it.",
        "curl -H 'Authorization: Bearer {v}' https://api.acme.test/v1/me",
        "2024-06-11 10:32:01 DEBUG using credential {v}",
        "| prod | {v} |",
    ],
}


def _place(m: Maker, value: str, name: str, kinds: tuple[str, ...] = ("env", "code", "text")) -> str:
    templates = [t for kind in kinds for t in PLACES[kind]]
    return m.place(value, templates).replace("{NAME}", name.upper()).replace("{name}", name)


def secret_positives(seed: int = 7301, per_form: int = 20) -> list[Sample]:
    """Fresh credentials in each documented format, ``per_form`` of each, in varied surroundings."""
    m = Maker(seed)
    makers: dict[str, tuple[str, Callable[[], str]]] = {
        "aws-access-key-id": ("aws_access_key_id", lambda: m.pick(["AKIA", "ASIA"]) + m.chars(UPPER_ALNUM, 16)),
        "github-classic": ("github_token", lambda: _github(m, m.pick(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]))),
        "github-fine-grained": ("gh_token", lambda: "github_pat_" + m.chars(BASE62, 22) + "_" + m.chars(BASE62, 59)),
        "gitlab-token": ("gitlab_token", lambda: "glpat-" + m.chars(URLSAFE, 20)),
        "slack-bot": (
            "slack_bot_token",
            lambda: f"xoxb-{m.chars(string.digits, 12)}-{m.chars(string.digits, 13)}-{m.chars(BASE62, 24)}",
        ),
        "slack-user": (
            "slack_token",
            lambda: "xoxp-" + "-".join(m.chars(string.digits, 12) for _ in range(3)) + "-" + m.chars(HEX, 32),
        ),
        "slack-app": (
            "slack_app_token",
            lambda: f"xapp-1-A{m.chars(UPPER_ALNUM, 10)}-{m.chars(string.digits, 13)}-{m.chars(HEX, 64)}",
        ),
        "stripe-secret": ("stripe_key", lambda: _stripe(m, m.pick(["sk_live_", "sk_test_"]))),
        "stripe-restricted": ("stripe_key", lambda: _stripe(m, "rk_live_")),
        "openai-legacy": ("openai_api_key", lambda: _openai_legacy(m)),
        "openai-project": ("openai_api_key", lambda: _openai_project(m)),
        "openai-service-account": ("openai_api_key", lambda: "sk-svcacct-" + m.chars(URLSAFE, 156)),
        "anthropic": ("anthropic_api_key", lambda: "sk-ant-api03-" + m.chars(URLSAFE, 93) + "AA"),
        "google-api-key": ("google_api_key", lambda: "AIza" + m.chars(URLSAFE, 35)),
        "jwt": ("id_token", lambda: _jwt(m)),
    }
    samples: list[Sample] = []
    for form, (name, make) in makers.items():
        for _ in range(per_form):
            value = make()
            samples.append(Sample(_place(m, value, name), form, value))

    aws_secret = ["aws_secret_access_key = {v}", "AWS_SECRET_ACCESS_KEY={v}", '"SecretAccessKey": "{v}",',
                  "boto3.client('s3', aws_access_key_id=kid, aws_secret_access_key='{v}')"]  # fmt: skip
    for _ in range(per_form):
        value = m.chars(string.ascii_letters + string.digits + "+/", 40)
        samples.append(Sample(m.place(value, aws_secret), "aws-secret-access-key", value))
    webhook = ["SLACK_WEBHOOK_URL={v}", "requests.post('{v}', json={'text': msg})", "webhook: {v}"]
    for _ in range(per_form):
        value = f"https://hooks.slack.com/services/T{m.chars(UPPER_ALNUM, 8)}/B{m.chars(UPPER_ALNUM, 10)}/"
        value += m.chars(BASE62, 24)
        samples.append(Sample(m.place(value, webhook), "slack-webhook", value))

    pem_places = ["{v}", "$ cat ~/.ssh/id_rsa\n{v}\n$ ", "```\n{v}\n```", "tls.key: |\n  {v}"]
    for _ in range(per_form):
        value = _pem_private(m)
        text = m.place(value, pem_places)
        if text.startswith("tls.key"):
            value = value.replace("\n", "\n  ")
            text = "tls.key: |\n  " + value
        samples.append(Sample(text, "pem-private-key", value))
    for _ in range(per_form // 3):
        value = _pem_private(m).replace("\n", "\\n") + "\\n"
        text = '{"type": "service_account", "project_id": "acme-prod", "private_key": "' + value + '"}'
        samples.append(Sample(text, "pem-private-key-in-json", value))
        value = _pgp_private(m)
        samples.append(Sample(f"gpg --export-secret-keys output:\n{value}", "pgp-private-key", value))

    for make_conn, form in ((_url_connection, "connection-url"), (_kv_connection, "connection-keywords")):
        for _ in range(per_form):
            conn, password = make_conn(m)
            text = m.place(conn, ["DATABASE_URL={v}", 'engine = create_engine("{v}")', "conn: {v}", "{v}"])
            samples.append(Sample(text, form, password))
    return samples


DOCUMENTED_EXAMPLES = [  # the providers' own example values: real keys' shape, so they count (docs/guardrails.md)
    Sample("aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "aws-documented-example", "AKIAIOSFODNN7EXAMPLE"),
    Sample(
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws-documented-example",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
]


# -- personal data in documented formats -------------------------------------------------------------------------

# Test card numbers that card networks and payment processors publish for sandboxes
PUBLISHED_TEST_CARDS = ["4242424242424242", "4000056655665556", "5555555555554444", "2223003122003222",
                        "5200828282828210", "5105105105105100", "378282246310005", "371449635398431",
                        "6011111111111117", "6011000990139424", "3056930009020004", "36227206271667",
                        "3566002020360505", "6200000000000005", "4111111111111111", "4012888888881881"]  # fmt: skip
# Example IBANs from national banking associations' documentation of the format
EXAMPLE_IBANS = ["DE89370400440532013000", "GB29NWBK60161331926819", "FR1420041010050500013M02606",
                 "NL91ABNA0417164300", "ES9121000418450200051332", "IT60X0542811101000000123456",
                 "CH9300762011623852957", "BE68539007547034", "AT611904300234573201",
                 "PL61109010140000071219812874", "SE4550000000058398257466", "NO9386011117947",
                 "DK5000400440116243", "FI2112345600000785", "IE29AIBK93115212345678"]  # fmt: skip


def _grouped(digits: str) -> str:
    if len(digits) == 15:
        return f"{digits[:4]} {digits[4:10]} {digits[10:]}"
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))


def pii_positives(seed: int = 7302) -> list[Sample]:
    """E-mail addresses, phone numbers, published test cards, example IBANs, SSNs and public IP addresses."""
    m = Maker(seed)
    samples: list[Sample] = []
    first = ["maria", "j.okafor", "wei.zhang", "s_gupta", "lars-erik", "Anna.Kowalska", "tom+billing", "d.o'neill"]
    domains = ["acme.test", "mail.acme-corp.test", "uni-heidelberg.test", "acme.co.test", "example.org"]
    for _ in range(16):
        value = m.pick(first).replace("'", "") + m.pick(["", str(m.rng.randint(1, 99))]) + "@" + m.pick(domains)
        samples.append(Sample(m.place(value, ["Contact {v} for access.", "From: Maria <{v}>", "{v},Berlin,2024",
                                              "mailto:{v}", "reply-to: {v}"]), "email", value))  # fmt: skip
    for _ in range(16):
        area, exchange, line = m.rng.randint(201, 989), m.rng.randint(201, 999), m.rng.randint(0, 9999)
        value = m.pick(
            [
                f"+1 {area} {exchange} {line:04d}",
                f"({area}) {exchange}-{line:04d}",
                f"{area}-{exchange}-{line:04d}",
                f"+44 20 {m.rng.randint(7000, 8999)} {line:04d}",
                f"+49 30 {m.rng.randint(1000000, 9999999)}",
                f"+1{area}{exchange}{line:04d}",
            ]
        )
        samples.append(Sample(m.place(value, ["Call me on {v}.", "Phone: {v}", "tel {v} (mobile)"]), "phone", value))
    for card in PUBLISHED_TEST_CARDS:
        value = m.pick([card, _grouped(card), _grouped(card).replace(" ", "-")])
        samples.append(Sample(m.place(value, ["Card: {v} exp 12/29", "pay with {v}", "{v}"]), "credit-card", value))
    for iban in EXAMPLE_IBANS:
        value = m.pick([iban, " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))])
        samples.append(Sample(m.place(value, ["IBAN: {v}", "transfer to {v} today", "{v}"]), "iban", value))
    for _ in range(12):
        area = m.rng.choice([a for a in range(1, 900) if a != 666])
        value = f"{area:03d}-{m.rng.randint(1, 99):02d}-{m.rng.randint(1, 9999):04d}"
        samples.append(Sample(m.place(value, ["SSN {v}", "social security number: {v}", "{v}"]), "us-ssn", value))
    for _ in range(12):
        value = m.pick(
            [
                ".".join(str(m.rng.randint(11, 223)) for _ in range(4)),
                f"2a0{m.rng.randint(0, 9)}:{m.chars(HEX, 4)}:{m.chars(HEX, 4)}::{m.chars(HEX, 3)}",
            ]
        )
        samples.append(Sample(m.place(value, ["Failed login from {v}", "client {v} connected", "{v}"]), "ip", value))
    return samples


def ssh_wire(*fields: bytes) -> bytes:
    """SSH wire encoding: each field as a 4-byte length and its bytes (RFC 4251)."""
    return b"".join(struct.pack(">I", len(f)) + f for f in fields)
