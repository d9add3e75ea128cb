"""The action's ``version`` input: install a released helm-eval from the package registry instead of the action's
checkout. The built wheel in a local find-links directory stands in for the registry."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import helm_eval
from tests.release.conftest import REPO

INSTALL = REPO / "actions" / "scripts" / "install.sh"


def _install(tmp_path: Path, version: str, find_links: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RUNNER_TEMP": str(tmp_path),
        "HELM_EVAL_SOURCE": str(tmp_path / "no-checkout-here"),  # a pinned version must never install this
        "HELM_EVAL_VERSION": version,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": find_links,
    }
    return subprocess.run(["bash", INSTALL], env=env, capture_output=True, text=True, timeout=600)


def test_a_pinned_version_installs_that_release(tmp_path: Path, dist: Path, wheelhouse: Path) -> None:
    proc = _install(tmp_path, helm_eval.__version__, f"{dist} {wheelhouse}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"helm-eval {helm_eval.__version__} installed in" in proc.stdout
    venv = tmp_path / "helm-eval-venv"
    # installed from the registry stand-in as a release, not from a path or URL
    site = next(venv.glob(f"lib/python*/site-packages/helm_eval-{helm_eval.__version__}.dist-info"))
    assert not (site / "direct_url.json").exists()


def test_a_version_that_is_not_a_release_number_is_refused(tmp_path: Path) -> None:
    for bad in ("0.1.0 --index-url http://127.0.0.1:9/simple", "../x", "git+https://example.invalid/x", "latest"):
        proc = _install(tmp_path, bad)
        assert proc.returncode == 1, (bad, proc.stdout, proc.stderr)
        assert "::error title=helm-eval::version input: expected a release number" in proc.stdout
        assert not (tmp_path / "helm-eval-venv").exists()


def test_a_runner_python_that_already_has_helm_eval_still_gets_the_command_in_the_venv(
    tmp_path: Path, dist: Path, wheelhouse: Path
) -> None:
    # the runner's Python (first python3 on PATH) already holds this very release, e.g. the workflow installed it
    runner = tmp_path / "runner-python"
    subprocess.run([os.environ.get("PYTHON", "python3"), "-m", "venv", runner], check=True, timeout=120)
    subprocess.run(
        [runner / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-index", "--find-links", dist,
         "--find-links", wheelhouse, f"helm-eval=={helm_eval.__version__}"],
        check=True, timeout=600,
    )  # fmt: skip
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    env = {
        **os.environ,
        "PATH": f"{runner / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "RUNNER_TEMP": str(temp),
        "HELM_EVAL_SOURCE": str(tmp_path / "no-checkout-here"),
        "HELM_EVAL_VERSION": helm_eval.__version__,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": f"{dist} {wheelhouse}",
    }
    proc = subprocess.run(["bash", INSTALL], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (temp / "helm-eval-venv" / "bin" / "helm-eval").is_file()
    assert f"helm-eval {helm_eval.__version__} installed in" in proc.stdout
