"""``helm-eval doctor``: one line per check with the fix, exit 1 when something a run needs is missing; against
the vLLM-API double and against a port nothing listens on."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.vllm_double import VLLMDouble
from helm_eval.cli import main


def find_free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def doctor(capsys: pytest.CaptureFixture[str], tmp: Path, *args: str) -> tuple[int, list[str]]:
    status = main(["doctor", "--dir", str(tmp), "--timeout", "3", *args])
    return status, capsys.readouterr().out.splitlines()


def line(lines: list[str], prefix: str) -> str:
    found = [text for text in lines if text.startswith(prefix)]
    assert len(found) == 1, (prefix, lines)
    return found[0]


def project(tmp: Path, url: str, extra: str = "") -> Path:
    assert main(["init", "--dir", str(tmp), "--endpoint", url]) == 0
    if extra:
        with (tmp / "helm-eval.yaml").open("a", encoding="utf-8") as fh:
            fh.write(extra)
    return tmp


def test_ready_against_the_double(tmp_path: Path, vllm_double: VLLMDouble, capsys: pytest.CaptureFixture[str]) -> None:
    project(tmp_path, vllm_double.base_url)
    capsys.readouterr()
    status, lines = doctor(capsys, tmp_path)
    assert status == 0, lines
    assert line(lines, "ok   config:") == "ok   config: helm-eval.yaml: 1 suite file(s)"
    assert line(lines, "ok   endpoint default:") == f"ok   endpoint default: {vllm_double.base_url} serves double-model"
    line(lines, "ok   endpoint default /tokenize:")
    line(lines, "ok   endpoint default /metrics:")
    assert line(lines, "ok   ledger:").endswith(".helm-eval/ledger.sqlite can be created")
    line(lines, "ok   cache:")
    assert lines[-1] == "doctor: ready for `pytest --helm-eval`"
    assert not (tmp_path / ".helm-eval").exists()  # doctor creates nothing
    paths = {r.path for r in vllm_double.requests}
    assert paths == {"/v1/models", "/tokenize", "/metrics"}  # no generation is paid for


def test_a_dead_port_fails_with_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{find_free_port()}/v1"
    project(tmp_path, url)
    capsys.readouterr()
    status, lines = doctor(capsys, tmp_path)
    assert status == 1
    failed = line(lines, "FAIL endpoint default:")
    assert f"{url} unreachable" in failed
    assert "— fix: start the server, or point endpoints.default.url / HELM_EVAL_ENDPOINT at a running one" in failed
    assert not any("/tokenize" in text for text in lines)  # nothing more is asked of a dead endpoint
    assert lines[-1] == "doctor: 1 required check(s) failed"


def test_the_console_command_exits_non_zero(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{find_free_port()}/v1"
    helm_eval = Path(sys.executable).with_name("helm-eval")
    proc = subprocess.run([helm_eval, "doctor", "--endpoint", url, "--timeout", "3"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL endpoint default:" in proc.stdout
    assert "warn suites:" in proc.stdout  # an empty project: no suite yet, and how to get one
    assert "helm-eval init writes an example suite" in proc.stdout


def test_a_model_the_endpoint_does_not_serve(
    tmp_path: Path, vllm_double: VLLMDouble, capsys: pytest.CaptureFixture[str]
) -> None:
    project(tmp_path, vllm_double.base_url)
    capsys.readouterr()
    status, lines = doctor(capsys, tmp_path, "--model", "llama-70b")
    assert status == 1
    assert line(lines, "FAIL endpoint default:") == (
        "FAIL endpoint default: does not serve model 'llama-70b' — fix: set endpoints.default.model to one of: "
        "double-model"
    )


@pytest.mark.vllm_double(api_key="s3cret")
def test_a_missing_api_key_names_its_variable(
    tmp_path: Path, vllm_double: VLLMDouble, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project(tmp_path, vllm_double.base_url)
    capsys.readouterr()
    status, lines = doctor(capsys, tmp_path)
    assert status == 1
    assert "refused the API key (HTTP 401) — fix: set HELM_EVAL_API_KEY" in line(lines, "FAIL endpoint default:")
    monkeypatch.setenv("HELM_EVAL_API_KEY", "s3cret")
    status, lines = doctor(capsys, tmp_path)
    assert status == 0, lines
    assert all("s3cret" not in text for text in lines)


def test_policy_ledger_and_cache_problems(
    tmp_path: Path, vllm_double: VLLMDouble, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "blocker").write_text("a file where a directory should be\n", encoding="utf-8")
    project(tmp_path, vllm_double.base_url, "ledger: blocker/ledger.sqlite\ncache_path: blocker/cache.sqlite\n")
    capsys.readouterr()
    status, lines = doctor(capsys, tmp_path, "--policy", str(tmp_path / "missing-policy.yaml"))
    assert status == 1
    assert "policy file not found" in line(lines, "FAIL policy:")
    assert "is not a writable directory" in line(lines, "FAIL ledger:")
    assert "is not a writable directory" in line(lines, "warn cache:")  # a cache problem costs tokens, not the run
    assert lines[-1] == "doctor: 2 required check(s) failed"


def test_judges_and_vllm(
    tmp_path: Path, vllm_double: VLLMDouble, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from helm_eval.cli import _doctor

    project(tmp_path, vllm_double.base_url)
    (tmp_path / "suites" / "graded.yaml").write_text(
        "prompts: [hi]\ntests:\n  - assert: [{type: g-eval, value: polite}]\n", encoding="utf-8"
    )
    capsys.readouterr()
    monkeypatch.setattr(_doctor, "installed", lambda module: module != "deepeval")
    monkeypatch.setenv("HELM_EVAL_VLLM_PYTHON", str(tmp_path / "no-python"))
    status, lines = doctor(capsys, tmp_path)
    assert status == 1
    assert line(lines, "FAIL judges:").endswith("— fix: pip install 'helm-eval[judges]'")
    assert line(lines, "info vllm:").startswith("info vllm: not found (needed only for --helm-eval-serve)")
    status, lines = doctor(capsys, tmp_path, "--serve")
    line(lines, "FAIL vllm:")


def test_serve_needs_no_endpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--dir", str(tmp_path), "--serve"]) == 0
    capsys.readouterr()
    _, lines = doctor(capsys, tmp_path, "--serve")
    assert line(lines, "info endpoint:").startswith("info endpoint: none configured: --helm-eval-serve starts vLLM")
