"""The README's install commands and the local quick start work as written, in a fresh venv, with real processes.

The blocks are taken from README.md (and docs/examples/quickstart.sh, which the README shows) at test time, with two
substitutions only: the GitHub URL becomes a local git repository of this tree, tagged like a release, and the
example endpoint becomes a vLLM-API stand-in. pip installs from a wheelhouse filled once per session (conftest), so
the venv sees the same packages the registry would give it without asking it four times.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import helm_eval
from fixtures.vllm_double import VLLMDouble
from tests.ci._support import clean_copy, git_init
from tests.release.readme import EXAMPLE_ENDPOINT, REPO, REPO_URL, blocks

VERSION = helm_eval.__version__


def _origin(tmp: Path) -> Path:
    """This tree as a git repository named like the real one, with the release tag the README pins."""
    origin = clean_copy(tmp / "helm-eval.git")
    git_init(origin, "file:///dev/null")
    subprocess.run(["git", "tag", f"v{VERSION}"], cwd=origin, check=True, capture_output=True)
    return origin


def _environment(wheelhouse: Path) -> dict[str, str]:
    """A shell as a new user has it: no venv active, pip told to use the wheelhouse instead of the registry."""
    dev_bin = str(Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin")
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != dev_bin)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    return {**env, "PATH": path, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_QUIET": "1"}  # fmt: skip


def _bash(script: str, cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip
    assert proc.returncode == 0, f"{script}\nexited {proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    return proc


@pytest.mark.vllm_double(rules=[(r"2\+2", "4")])
def test_readme_install_and_quickstart(tmp_path: Path, wheelhouse: Path, vllm_double: VLLMDouble) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    origin = _origin(tmp_path)
    env = _environment(wheelhouse)

    def local(text: str) -> str:
        # file://localhost/...: pip's own requirement parser (pip 23, what ensurepip gives Python 3.11) rejects a
        # file URL with an empty host
        return text.replace(REPO_URL, f"file://localhost{origin}").replace(EXAMPLE_ENDPOINT, vllm_double.base_url)

    timings: dict[str, float] = {}

    # 1. the quick start, as the README shows it: fresh venv, install from the repository URL, init, doctor, run
    project = tmp_path / "project"
    project.mkdir()
    started = time.monotonic()
    out = _bash(local((REPO / "docs" / "examples" / "quickstart.sh").read_text(encoding="utf-8")), project, env).stdout
    timings["quickstart"] = time.monotonic() - started
    assert "wrote suites/example.yaml" in out
    assert "doctor: ready for `pytest --helm-eval`" in out
    assert "1 passed" in out
    assert any(r.path == "/v1/chat/completions" for r in vllm_double.requests)
    activate = f". {project}/.venv/bin/activate\n"

    # 2. every install block of the README, in the same venv with helm-eval removed before each
    work = tmp_path / "work"
    work.mkdir()
    install = blocks("tested")
    for name in ("checkout", "vcs", "wheel", "extras"):
        started = time.monotonic()
        _bash(activate + "pip uninstall --yes helm-eval", work, env)
        _bash(activate + local(install[name]), work, env)
        timings[name] = time.monotonic() - started
        check = (
            "helm-eval --version\n"
            "python -c 'import helm_eval, pathlib; print(pathlib.Path(helm_eval.__file__).parent)'\n"
            "python -c 'import importlib.resources as r; "
            'print(sorted(p.name for p in r.files("helm_eval").joinpath("schemas").iterdir()))\''
        )
        lines = _bash(activate + check, work, env).stdout.splitlines()
        assert lines[0] == f"helm-eval {VERSION}", (name, lines)
        assert Path(lines[1]).is_relative_to(project / ".venv"), (name, lines)  # installed, not run from a tree
        assert lines[2] == "['config.schema.json', 'suite.schema.json']", (name, lines)
        if name == "checkout":
            assert (work / "helm-eval" / "pyproject.toml").is_file()
    _bash(activate + "python -c 'import psycopg'", work, env)  # the [postgres] extra came with it

    # 3. the installed plugin runs the quick start's project again, from its own files only
    rerun = _bash(activate + "pytest --helm-eval -p no:cacheprovider", project, env)
    assert "1 passed" in rerun.stdout
    print("install timings (s):", {k: round(v, 1) for k, v in timings.items()})
