"""Support for the CI-platform tests: finding the tools, a stand-in for the GitHub/GitLab REST API, adversarial
model output, and checks that untrusted text stayed inert."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from fixtures.vllm_double import VLLMDouble

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin"
INSTALL_HINT = "bash .ci/install-ci-tools.sh"

# What a hostile model (or suite author) might answer: workflow commands, %-escapes, a stop-commands fence,
# ANSI escapes, markdown/HTML that would break a table or run script, a mention, and a 1 MB tail.
ADVERSARIAL = (
    "::set-output name=pwned::yes\n"
    "::add-mask::4\n"
    "::stop-commands::fence\n"
    "::error file=evil.py,line=1::owned\n"
    "%0A::warning::smuggled%0D\r\n"
    "  ::notice::indented\n"
    "\x1b[31mred\x1b[0m \x1b]8;;http://evil\x07link\x1b]8;;\x07\n"
    "| broken | table |\n<img src=x onerror=alert(1)><script>alert(1)</script></details>\n"
    "```\n~~~\n@everyone [click](javascript:alert(1)) <!-- helm-eval:report -->\n"
    "::endgroup::\n" + "A" * 1_000_000
)
EVIL_COMMANDS = ("pwned", "owned", "smuggled", "indented", "evil.py")


def tool(name: str) -> str:
    """Path of a CI tool; skips the test locally when missing, fails it when HELM_EVAL_REQUIRE_CI_TOOLS=1."""
    found = shutil.which(name, path=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found:
        return found
    message = f"{name} is not installed: run {INSTALL_HINT}"
    if os.environ.get("HELM_EVAL_REQUIRE_CI_TOOLS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def clean_copy(dest: Path) -> Path:
    """The repository's files as an action checkout would have them (no venv, caches or git metadata)."""
    ignore = shutil.ignore_patterns(".venv", ".git", ".*_cache", "__pycache__", ".hypothesis", "reports",
                                    "*.egg-info", "build", "dist", ".gitlab-ci-local")  # fmt: skip
    shutil.copytree(REPO, dest, ignore=ignore)
    return dest


_GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}


def git_init(path: Path, remote: str) -> None:
    """Make ``path`` a git repository with one commit and an ``origin`` remote."""
    for args in (["init", "-q", "-b", "feature"], ["remote", "add", "origin", remote], ["add", "-A"],
                 ["commit", "-qm", "consumer project"]):  # fmt: skip
        subprocess.run(["git", *args], cwd=path, check=True, env={**os.environ, **_GIT_ENV}, capture_output=True)


def plant_answers(project: Path, rules: list[tuple[str, str]]) -> None:
    """Commit a response cache whose answers follow ``rules``, as a pull request would (``git add -f``: the
    directory ignores itself). ``project`` is a git repository with its suites."""
    with VLLMDouble(rules=rules) as liar:
        planted = subprocess.run(
            [sys.executable, "-m", "pytest", "--helm-eval", "--helm-eval-endpoint", liar.base_url, "-p",
             "no:cacheprovider", "-q"],
            cwd=project, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    assert planted.returncode == 0, planted.stdout[-2000:]
    assert (project / ".helm-eval" / "cache.sqlite").is_file()
    for args in (["add", "-f", ".helm-eval"], ["commit", "-qm", "answers that pass"]):
        subprocess.run(["git", *args], cwd=project, check=True, env={**os.environ, **_GIT_ENV}, capture_output=True)


@dataclass
class Captured:
    """One request the API stand-in received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeApi:
    """A local HTTP server standing in for the GitHub or GitLab REST API's comment/note endpoints.

    ``existing`` is what a list request returns; ``deny`` makes every request answer 403 (a fork's read-only token).
    """

    existing: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    """Raw answers to GET requests by path (without the query), e.g. a job artifact."""
    deny: bool = False
    requests: list[Captured] = field(default_factory=list)
    url: str = ""

    def writes(self) -> list[Captured]:
        return [r for r in self.requests if r.method in ("POST", "PATCH", "PUT")]

    def one_new_comment(self, token: str, pr: int = 42, key: str = "report") -> str:
        """The body of the one sticky comment a run created on PR ``pr`` with ``token``: nothing else was written."""
        writes = self.writes()
        assert [(w.method, w.path) for w in writes] == [("POST", f"/repos/acme/app/issues/{pr}/comments")]
        assert writes[0].headers["authorization"] == f"Bearer {token}"
        body = str(writes[0].body["body"])
        assert body.startswith(f"<!-- helm-eval:{key} -->")
        assert_markdown_inert(body)
        return body


def serve_api(api: FakeApi) -> ThreadingHTTPServer:
    """Start ``api`` on a free port (in a daemon thread); the caller shuts the server down."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            api.requests.append(
                Captured(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            raw_file = api.files.get(self.path.split("?")[0])
            if raw_file is not None and not api.deny and self.command == "GET":
                self.send_response(200)
                self.send_header("Content-Length", str(len(raw_file)))
                self.end_headers()
                self.wfile.write(raw_file)
                return
            if api.deny:
                status, answer = 403, {"message": "Resource not accessible by integration"}
            elif self.command == "GET" and "/jobs/artifacts/" in self.path:  # as GitLab: no such artifact
                status, answer = 404, {"message": "404 Not Found"}
            elif self.command == "GET":
                page = re.search(r"[?&]page=(\d+)", self.path)
                status, answer = 200, api.existing if not page or page.group(1) == "1" else []
            else:
                status, answer = (201 if self.command == "POST" else 200), {"id": 99, "body": (body or {}).get("body")}
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


_TABLE_ROW = re.compile(r"^\|.*\|$")


def _split_fences(text: str) -> tuple[list[str], list[str]]:
    """(lines outside code fences, lines inside) by CommonMark's backtick fence rules; fails if one is left open."""
    outside, inside, fence = [], [], 0
    for line in text.splitlines():
        run = len(line) - len(line.lstrip("`"))
        if not fence and run >= 3:
            fence = run
        elif fence and run >= fence and not line.strip("`").strip():
            fence = 0
        else:
            (inside if fence else outside).append(line)
    assert not fence, "a code fence was left open"
    return outside, inside


def assert_markdown_inert(text: str) -> None:
    """Untrusted text in a markdown report stayed inert: no tags or control characters, tables and fences intact."""
    for bad in ("\x1b", "\r", "\x07"):
        assert bad not in text, f"{bad!r} reached the markdown"
    assert len(text.encode()) < 1024 * 1024
    outside, _inside = _split_fences(text)
    prose = "\n".join(outside)
    for bad in ("<script", "<img", "@everyone", "javascript:", "::set-output", "::error"):
        assert bad not in prose, f"{bad!r} reached the markdown outside a code block"
    assert prose.count("<details>") == prose.count("</details>")
    header_cells: int | None = None
    tables = 0
    for line in outside:
        if not _TABLE_ROW.match(line):
            header_cells = None
            continue
        cells = line.count("|")
        if header_cells is None:
            header_cells, tables = cells, tables + 1
        assert cells == header_cells, f"a table row has {cells} cell borders, the header {header_cells}: {line[:200]}"
    assert tables
