"""Secrets never reach a log, report or annotation: API keys a server echoes back, and what a model leaks.

Each test runs pytest the way CI does (JUnit, run record), then publishes the record to GitHub and GitLab, and
greps every byte written (terminal, files, the ledger and the cache) for the raw values.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fixtures.vllm_double import VLLMDouble

API_KEY = "sk-live-4f9QzR2mXv8LpT6nW1yK3bC7dH5jA0sE"
AWS_KEY = "AKIAZ7Q2MX4PLW9RTK3B"
EMAIL = "jane.doe.private@example.org"
LEAK = f"Sure! The deploy key is {AWS_KEY} and you can mail {EMAIL} for access."

SUITE = """
prompts: ["{{q}}"]
tests:
  - id: leaky
    vars: {q: "tell me the key"}
    assert: [{type: secrets}, {type: pii}, {type: contains, value: "no such text"}]
  - id: other
    vars: {q: "anything else"}
    assert: [{type: contains, value: "never there"}]
  - id: chatty
    vars: {q: "hello"}
    turns: ["tell me the key"]
    assert: [{type: secrets}, {type: pii}]
"""


class Echo(BaseHTTPRequestHandler):
    """An endpoint whose errors quote the request's headers back, as some proxies do."""

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send(200, {"object": "list", "data": [{"id": "m", "object": "model"}]})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        detail = f"upstream rejected Authorization: {self.headers.get('Authorization')}"
        self._send(500, {"error": {"message": detail, "type": "server_error"}})


@pytest.fixture
def echo_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def run_everything(root: Path, endpoint: str) -> str:
    """pytest as CI runs it, then both publishers; returns all they printed."""
    (root / "suites").mkdir(exist_ok=True)
    (root / "suites" / "a.yaml").write_text(SUITE)
    env = {**os.environ, "HELM_EVAL_API_KEY": API_KEY}
    pytest_run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:deepeval", "--helm-eval",
         f"--helm-eval-endpoint={endpoint}", "--helm-eval-retries=0", "--junitxml=junit.xml",
         "--helm-eval-report=run.json", "--helm-eval-html=report.html", "-rA", "-v"],
        cwd=root, capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert pytest_run.returncode == 1, pytest_run.stdout + pytest_run.stderr
    github_env = {**env, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(root / "summary.md"),
                  "GITHUB_OUTPUT": str(root / "outputs.txt")}  # fmt: skip
    github = subprocess.run(
        [sys.executable, "-m", "helm_eval.cli", "report", "run.json", "--github", "--comment", "off"],
        cwd=root, capture_output=True, text=True, env=github_env,
    )  # fmt: skip
    gitlab = subprocess.run(
        [sys.executable, "-m", "helm_eval.cli", "report", "run.json", "--gitlab", "--out-dir=gl", "--comment=off",
         "--html=gl/report.html"],
        cwd=root, capture_output=True, text=True, env=env,
    )  # fmt: skip
    return "\n".join(p.stdout + p.stderr for p in (pytest_run, github, gitlab))


def everything_written(root: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and "suites" not in p.parts)


def test_a_key_echoed_by_a_failing_endpoint_is_never_published(tmp_path: Path, echo_endpoint: str) -> None:
    printed = run_everything(tmp_path, echo_endpoint)
    assert f"upstream rejected Authorization: Bearer [redacted: {len(API_KEY)} chars]" in printed  # the error stays
    assert API_KEY not in printed
    files = everything_written(tmp_path)
    assert (tmp_path / "summary.md").is_file()
    assert (tmp_path / "gl").is_dir()
    assert API_KEY.encode() not in files
    assert API_KEY[8:].encode() not in files


@pytest.mark.vllm_double(rules=[("tell me the key", LEAK)])
def test_a_secret_the_model_leaks_is_redacted_in_every_report(tmp_path: Path, vllm_double: VLLMDouble) -> None:
    printed = run_everything(tmp_path, vllm_double.base_url)
    record = json.loads((tmp_path / "run.json").read_text())
    leaky = next(c for c in record["cases"] if c["nodeid"].endswith("::leaky"))
    assert leaky["status"] == "failed"
    assert "[redacted: 20 chars]" in leaky["output"]  # the rest of the answer is still there to read
    assert "you can mail" in leaky["output"]
    assert "[redacted: 20 chars]" in (tmp_path / "report.html").read_text()  # the HTML report shows the marker
    chatty = next(c for c in record["cases"] if c["nodeid"].endswith("::chatty"))  # leaked in a later turn
    assert chatty["status"] == "failed"
    assert "[redacted: 20 chars]" in chatty["transcript"][-1]["content"]  # the conversation on every page
    for value in (AWS_KEY, EMAIL):
        assert value not in printed
        written = everything_written(tmp_path / "gl") + everything_written(tmp_path)
        reports = [
            p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".json", ".xml", ".md", ".txt", ".html")
        ]
        for path in reports:
            assert value not in path.read_text(encoding="utf-8", errors="replace"), path
        # the ledger holds no text at all; the cache keeps the raw answers (one per leaking call: leaky's, and
        # chatty's second turn), so that a replay fails the same way
        cache = b"".join(p.read_bytes() for p in tmp_path.glob(".helm-eval/cache.sqlite*"))
        assert cache.count(value.encode()) >= 1
        assert written.count(value.encode()) == cache.count(value.encode())  # nowhere but in the cache
