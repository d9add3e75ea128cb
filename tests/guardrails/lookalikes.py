"""Text from real code and tooling that looks like a secret or personal data and is neither.

Git SHAs, digests and the hashes lockfiles pin, UUIDs and other identifiers, base64 images and binary blobs,
file paths, URLs without credentials, public keys and certificates, placeholder keys, CSS colours, version
strings. Values are random (seeded) where the real thing is random; the surrounding text is what the tools
print or what the files hold.
"""

from __future__ import annotations

import base64
import string
import struct
import uuid
import zlib
from collections.abc import Callable

from provider_formats import BASE62, HEX, URLSAFE, Maker, Sample, pem_lines, ssh_wire

LOWER_ALNUM = string.ascii_lowercase + string.digits
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _png(m: Maker) -> bytes:
    width, height = m.rng.randint(8, 32), m.rng.randint(8, 32)
    rows = b"".join(b"\x00" + m.raw(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _binary(m: Maker) -> bytes:
    magic = m.pick(["jpeg", "gif", "pdf", "gzip", "zip", "woff2", "wasm"])
    head = {
        "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
        "gif": b"GIF89a",
        "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
        "gzip": b"\x1f\x8b\x08\x00",
        "zip": b"PK\x03\x04\x14\x00",
        "woff2": b"wOF2\x00\x01\x00\x00",
        "wasm": b"\x00asm\x01\x00\x00\x00",
    }[magic]
    return head + m.raw(m.rng.randint(60, 400))


def _uuid(m: Maker) -> str:
    return str(uuid.UUID(bytes=m.raw(16), version=4))


def _public_pem(m: Maker) -> str:
    label, prefix, size = m.rng.choice(
        [
            ("PUBLIC KEY", "30820122300d06092a864886f70d01010105000382010f003082010a0282010100", 262),
            ("RSA PUBLIC KEY", "3082010a0282010100", 262),
            ("PUBLIC KEY", "3059301306072a8648ce3d020106082a8648ce3d03010703420004", 64),
            ("CERTIFICATE", "308203773082025fa003020102020900", 860),
        ]
    )
    body = base64.b64encode(bytes.fromhex(prefix) + m.raw(size)).decode()
    return f"-----BEGIN {label}-----\n{pem_lines(body)}\n-----END {label}-----"


def _ssh_public(m: Maker) -> str:
    kind = m.pick(["ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256"])
    if kind == "ssh-rsa":
        blob = ssh_wire(b"ssh-rsa", b"\x01\x00\x01", b"\x00" + m.raw(256))
    elif kind == "ssh-ed25519":
        blob = ssh_wire(b"ssh-ed25519", m.raw(32))
    else:
        blob = ssh_wire(b"ecdsa-sha2-nistp256", b"nistp256", b"\x04" + m.raw(64))
    return f"{kind} {base64.b64encode(blob).decode()}"


def secret_lookalikes(seed: int = 7303, per_form: int = 20) -> list[Sample]:
    """Look-alikes that are not secrets, ``per_form`` of each generated kind plus fixed lines from real tools."""
    m = Maker(seed)
    sha1 = lambda: m.chars(HEX, 40)  # noqa: E731 - short local generators read best as a table
    sha256 = lambda: m.chars(HEX, 64)  # noqa: E731
    b64_digest = lambda n: base64.b64encode(m.raw(n)).decode()  # noqa: E731
    semver = lambda: f"{m.rng.randint(0, 30)}.{m.rng.randint(0, 40)}.{m.rng.randint(0, 120)}"  # noqa: E731
    pkg = lambda: m.pick(["lodash", "react-dom", "@babel/core", "typescript", "esbuild", "zod", "vite"])  # noqa: E731
    forms: dict[str, Callable[[], str]] = {
        "git-sha": lambda: m.pick(
            [
                f"commit {sha1()}",
                f"git checkout {sha1()}",
                f"Merge: {sha1()[:7]} {sha1()[:7]}",
                f"https://github.com/acme/api/commit/{sha1()}",
                f"uses: actions/checkout@{sha1()} # v4.1.1",
                f"{sha1()[:12]} Fix race in the retry loop (#{m.rng.randint(100, 9999)})",
                f"HEAD is now at {sha1()[:7]} Bump version",
            ]
        ),
        "sha256-digest": lambda: m.pick(
            [
                f"{sha256()}  dist/app-{semver()}.tar.gz",
                f"FROM python:3.12-slim@sha256:{sha256()}",
                f"SHA256 (node-v{semver()}.tar.xz) = {sha256()}",
                f"docker pull ghcr.io/acme/api@sha256:{sha256()}",
                f'"checksum": "{sha256()}"',
                f"md5: {m.chars(HEX, 32)}",
            ]
        ),
        "lockfile-hash": lambda: m.pick(
            [
                f'      "integrity": "sha512-{b64_digest(64)}",',
                f"    resolution: {{integrity: sha512-{b64_digest(64)}}}",
                f'  resolved "https://registry.yarnpkg.com/{pkg()}/-/x-{semver()}.tgz#{sha1()}"',
                f'    {{file = "requests-{semver()}-py3-none-any.whl", hash = "sha256:{sha256()}"}},',
                f"    --hash=sha256:{sha256()} \\",
                f'checksum = "{sha256()}"',
                f"github.com/acme/{pkg().strip('@/')} v{semver()} h1:{b64_digest(32)}",
                f"github.com/acme/{pkg().strip('@/')} v{semver()}/go.mod h1:{b64_digest(32)}",
                f'            "sha256:{sha256()}",',
                f'  url = "https://example.org/src.tar.gz"; hash = "sha256-{b64_digest(32)}";',
                f'<script src="/app.js" integrity="sha384-{b64_digest(48)}" crossorigin="anonymous"></script>',
            ]
        ),
        "uuid": lambda: m.pick(
            [
                f"request_id={_uuid(m)}",
                f'"id": "{_uuid(m)}"',
                f"{{{_uuid(m).upper()}}}",
                f"/api/v1/orders/{_uuid(m)}/items",
                f"traceparent: 00-{m.chars(HEX, 32)}-{m.chars(HEX, 16)}-01",
                f'ObjectId("{m.chars(HEX, 24)}")',
            ]
        ),
        "base64-image": lambda: m.pick(
            [
                '<img alt="logo" src="data:image/png;base64,{v}">',
                "background-image: url(data:image/png;base64,{v});",
                "![chart](data:image/png;base64,{v})",
            ]
        ).replace("{v}", base64.b64encode(_png(m)).decode()),
        "base64-data": lambda: m.pick(
            ['{"content": "{v}", "encoding": "base64"}', "attachment: {v}", 'data: "{v}"']
        ).replace("{v}", base64.b64encode(_binary(m)).decode()),
        "file-path": lambda: m.pick(
            [
                f"/usr/local/lib/python3.12/site-packages/{pkg().strip('@/')}/__init__.py",
                f"node_modules/.pnpm/{pkg().replace('/', '+')}@{semver()}/node_modules/{pkg()}/dist/index.js",
                f"C:\\Users\\maria\\AppData\\Local\\Temp\\pip-build-{m.chars(LOWER_ALNUM, 8)}",
                f"/static/js/main.{m.chars(HEX, 8)}.js",
                f"/_next/static/chunks/pages/_app-{m.chars(HEX, 16)}.js",
                f"src/main/java/com/acme/orders/service/impl/OrderServiceImpl.java:{m.rng.randint(10, 900)}",
                f"/var/lib/docker/overlay2/{sha256()}/merged",
                f"~/.cache/huggingface/hub/models--acme--tiny/snapshots/{sha1()}/config.json",
            ]
        ),
        "url": lambda: m.pick(
            [
                f"https://docs.google.com/document/d/1{m.chars(URLSAFE, 43)}/edit?usp=sharing",
                f"https://www.youtube.com/watch?v={m.chars(URLSAFE, 11)}&t=42s",
                f"https://acme.test/search?q=retry+backoff&page={m.rng.randint(2, 9)}&utm_source=newsletter",
                "postgresql://app@db.internal:5432/orders",
                f"https://acme-assets.s3.eu-west-1.amazonaws.com/uploads/{_uuid(m)}.png",
                f"https://{m.chars(HEX, 32)}@o{m.rng.randint(10**4, 10**6)}.ingest.sentry.io/{m.rng.randint(9, 10**6)}",
                "redis://localhost:6379/0",
                f"https://github.com/acme/api/blob/{sha1()}/src/retry.py#L{m.rng.randint(1, 400)}",
            ]
        ),
        "public-key": lambda: m.pick(
            [
                _public_pem(m),
                f"{_ssh_public(m)} deploy@build-{m.rng.randint(1, 9)}",
                f"github.com {_ssh_public(m)}",
                f'command="/usr/bin/backup",no-pty {_ssh_public(m)} backup@nas',
                f'{{"kty": "RSA", "kid": "{m.chars(URLSAFE, 20)}", "n": "{m.b64url(m.raw(256))}", "e": "AQAB"}}',
                f"STRIPE_PUBLISHABLE_KEY=pk_live_{m.chars(BASE62, 24)}",
                f"const stripe = Stripe('pk_test_{m.chars(BASE62, 24)}');",
            ]
        ),
        "id": lambda: m.pick(
            [
                f"ami-{m.chars(HEX, 17)}",
                f"i-{m.chars(HEX, 17)} is running",
                f"arn:aws:iam::{m.chars(string.digits, 12)}:role/deploy-{pkg().strip('@/')}",
                f"pod/api-{m.chars(HEX, 10)}-{m.chars('bcdfghjklmnpqrstvwxz2456789', 5)} Running",
                f"ipfs://Qm{m.chars(BASE58, 44)}",
                f"Build ID: {m.chars(string.digits, 8)}.{m.rng.randint(1, 9)}",
                f"ULID {m.chars('0123456789ABCDEFGHJKMNPQRSTVWXYZ', 26)}",
            ]
        ),
        "api-object-id": lambda: m.pick(
            [
                f'{{"id": "chatcmpl-{m.chars(BASE62, 29)}", "object": "chat.completion", "created": 1718101921}}',
                f'{{"id": "msg_01{m.chars(BASE62, 22)}", "type": "message", "role": "assistant"}}',
                f"request_id: req_{m.chars(BASE62, 24)}",
                f'"customer": "cus_{m.chars(BASE62, 14)}", "payment_intent": "pi_3{m.chars(BASE62, 23)}"',
                f'{{"id": "{m.chars(URLSAFE, 21)}", "title": "Retry budgets"}}',
                f"file_id=file-{m.chars(BASE62, 24)}",
            ]
        ),
        "shell-env": lambda: m.pick(
            [
                f"OLDPWD=/home/maria\nPWD=/home/maria/src/{pkg().strip('@/')}\nSHLVL=1",
                f"PWD=/workspace/{pkg().strip('@/')}",
                f"HOSTNAME={m.chars(HEX, 12)}\nHOME=/root\nPATH=/usr/local/bin:/usr/bin",
                f"SSH_AUTH_SOCK=/tmp/ssh-{m.chars(BASE62, 12)}/agent.{m.rng.randint(1000, 99999)}",
            ]
        ),
        "version": lambda: m.pick(
            [
                f"{pkg()}@^{semver()}",
                f"v{semver()}-rc.{m.rng.randint(1, 5)}+build.{sha1()[:7]}",
                f"numpy=={semver()}",
                f"image: postgres:{m.rng.randint(12, 17)}.{m.rng.randint(0, 9)}-alpine",
                f"go {semver()}",
                f'"version": "{semver()}-beta.{m.rng.randint(1, 9)}"',
            ]
        ),
        "css-colour": lambda: m.pick(
            [
                f"color: #{m.chars(HEX, 6)};",
                f"  --brand-{m.rng.randint(50, 900)}: #{m.chars(HEX, 6).upper()};",
                f"background: linear-gradient(90deg, #{m.chars(HEX, 6)} 0%, #{m.chars(HEX, 6)} 100%);",
                f'<path fill="#{m.chars(HEX, 3)}" d="M{m.rng.randint(0, 24)} 2C6.48 2 2 6.48 2 12s4.48 10 10 10z"/>',
            ]
        ),
    }
    samples = [Sample(make(), form) for form, make in forms.items() for _ in range(per_form)]
    samples += [Sample(text, "placeholder") for text in PLACEHOLDERS]
    samples += [Sample(text, "prose") for text in PROSE_ABOUT_SECRETS]
    return samples


PLACEHOLDERS = [
    'OPENAI_API_KEY="sk-..."',
    "export OPENAI_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "openai.api_key = 'sk-your-key-here'",
    "AWS_ACCESS_KEY_ID=AKIAXXXXXXXXXXXXXXXX",
    "aws_secret_access_key = YOUR_SECRET_ACCESS_KEY",
    "GITHUB_TOKEN=ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "token: ${{ secrets.GITHUB_TOKEN }}",
    'api_key = os.environ["ANTHROPIC_API_KEY"]',
    '"apiKey": "<YOUR_API_KEY>"',
    "SLACK_BOT_TOKEN=xoxb-your-bot-token",
    "STRIPE_SECRET_KEY=sk_test_...",
    "password: ********",
    "DATABASE_URL=postgresql://USER:PASSWORD@HOST:PORT/DATABASE",
    "postgres://user:password@localhost:5432/mydb",
    "Server=myServerAddress;Database=myDataBase;User Id=myUsername;Password=myPassword;",
    "Authorization: Bearer <token>",
    "GOOGLE_API_KEY=AIza...",
    "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
    "SECRET_KEY = 'django-insecure-change-me'",
    "jwt: eyJ...",
    'openai.api_key = "sk-proj-replace-with-your-own-project-api-key"',
    "OPENAI_API_KEY=sk-your-openai-api-key-goes-here-thank-you",
]

PROSE_ABOUT_SECRETS = [
    "Never commit your API key; load it from the environment instead.",
    "GitHub classic tokens start with ghp_ and fine-grained ones with github_pat_.",
    "AWS access key ids begin with AKIA for long-term keys and ASIA for temporary ones.",
    "Rotate the Stripe secret key (sk_live_) from the dashboard if it leaks.",
    "A JWT has three base64url parts separated by dots: header.payload.signature.",
    "Set PGPASSWORD or use ~/.pgpass rather than putting the password in the URL.",
    "The private key stays on the server; share only the .pub file.",
    "Use `ssh-keygen -t ed25519 -C 'laptop 2024'` to make a key pair.",
]


def pii_lookalikes() -> list[Sample]:
    """Text that is not personal data although parts of it look like it (for the whole ``pii`` check)."""
    lines = [
        "git clone git@github.com:acme/api.git",
        "git+ssh://git@github.com/acme/widgets.git#v1.2.0",
        '"@babel/core": "^7.24.0", "lodash": "4.17.21"',
        "pip install 'requests>=2.31.0,<3'",
        "user-agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0.6367.91 Safari/537.36",
        "Released 2024-06-11T10:32:01.123Z, build 20240611.4",
        "The OID 2.5.4.3 is the common name; 1.2.840.113549.1.1.11 is sha256WithRSAEncryption.",
        "Order 100-200-3000 shipped; invoice INV-2024-000123.",
        "Throughput rose from 1,234,567 to 2,345,678 requests per day.",
        "matrix[0][1] = 3.14159; eps = 1e-9",
        "ISBN 978-0-13-468599-1",
        "Temperature 21.5°C, humidity 48%, pressure 1013.25 hPa",
        "Use the @dataclass(frozen=True) decorator.",
        "@media (min-width: 768px) and (max-width: 1024px) { .nav { display: none } }",
        "Contact us via the form on our website.",
        "Timestamp 1718101921 (epoch seconds) and 1718101921123 (ms).",
        "std::unordered_map<std::string, int> counts;",
        "Lines 120-180 in src/retry.py",
        "The time is 14:05:33 and the ratio is 16:9.",
        "Tracking number 1Z 999 AA1 01 2345 6784",
        "See RFC 7519 section 4.1.4 and RFC 5322 section 3.4.1.",
        "Call `retry(max_attempts=5, backoff=0.25)` to retry.",
    ]
    return [Sample(text, "pii-lookalike") for text in lines]
