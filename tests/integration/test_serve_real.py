"""``helm_eval.serve`` on a real vLLM: the shared server answers; start/stop and a killed parent leave nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from helm_eval.serve import VLLMServer
from helm_eval.serve._server import wait_group_gone

MODEL_NAME = "smollm2"


def call(url: str, payload: dict[str, Any] | None = None, timeout: float = 60) -> tuple[int, Any]:
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        body = resp.read()
        return resp.status, json.loads(body) if body else None


def test_health_and_models(vllm: VLLMServer) -> None:
    root = vllm.base_url.removesuffix("/v1")
    with urllib.request.urlopen(root + "/health", timeout=10) as resp:
        assert resp.status == 200
    status, models = call(vllm.base_url + "/models")
    assert status == 200
    assert [m["id"] for m in models["data"]] == [MODEL_NAME]


def test_chat_completion_answers_two_plus_two(vllm: VLLMServer) -> None:
    status, body = call(
        vllm.base_url + "/chat/completions",
        {
            "model": MODEL_NAME,
            "messages": [{"role": "user", "content": "What is 2+2?"}],
            "temperature": 0,
            "max_tokens": 32,
        },
    )
    assert status == 200
    answer = body["choices"][0]["message"]["content"]
    assert "4" in answer, answer
    assert body["usage"]["completion_tokens"] > 0


def test_tokenize(vllm: VLLMServer) -> None:
    root = vllm.base_url.removesuffix("/v1")
    status, body = call(root + "/tokenize", {"model": MODEL_NAME, "prompt": "Hello world"})
    assert status == 200
    assert body["count"] == len(body["tokens"]) > 0


def test_stop_leaves_no_processes(vllm_python: str, model_dir: Path, tmp_path: Path) -> None:
    srv = VLLMServer(model_dir, served_model_name=MODEL_NAME, python=vllm_python, log_path=tmp_path / "log")
    with srv:
        pgid = srv.pid
        assert pgid is not None
        members = subprocess.run(["ps", "-o", "pid=", "-g", str(pgid)], capture_output=True, text=True).stdout
        assert len(members.split()) >= 2  # API server + engine core at least
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)


def test_killed_parent_leaves_no_vllm(vllm_python: str, model_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "vllm.log"
    parent = tmp_path / "parent.py"
    parent.write_text(
        "import sys, time\n"
        "from pathlib import Path\n"
        "from helm_eval.serve import VLLMServer\n"
        f"s = VLLMServer({str(model_dir)!r}, python={vllm_python!r}, log_path=Path({str(log)!r}))\n"
        "s.start()\n"
        "s.wait_ready()\n"
        "print(s.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    with subprocess.Popen([sys.executable, str(parent)], stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        pgid = int(proc.stdout.readline())
        os.killpg(pgid, 0)  # serving
        proc.kill()
    killed = time.monotonic()
    assert wait_group_gone(pgid, timeout=20), log.read_text()[-3000:]
    print(f"vllm group gone {time.monotonic() - killed:.1f} s after its parent was SIGKILLed")
