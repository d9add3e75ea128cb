"""Shared artefacts of the release tests, built once per test session (also across pytest-xdist workers): the
sdist and wheel that ``python -m build`` makes from a clean copy of the tree, and a wheelhouse of the project's
dependencies so fresh virtual environments install without asking the registry again."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.ci._support import clean_copy

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """``make(dir)`` once per session; xdist workers share the session's base temp dir (its parent)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    target = shared / f"release-{name}"
    with _locked(shared / f"release-{name}.lock"):
        done = target / ".done"
        if not done.exists():
            target.mkdir(parents=True, exist_ok=True)
            make(target)
            done.write_text(json.dumps({"built": True}), encoding="utf-8")
    return target


def run(args: list[str | Path], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Run a command; fail the test with its output when it exits non-zero."""
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}")
    return proc.stdout


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``dist/`` of ``python -m build`` run on a clean copy of the tree: one sdist and one wheel."""

    def make(target: Path) -> None:
        source = clean_copy(target / "src")
        run([sys.executable, "-m", "build", "--outdir", target / "dist", source], cwd=target)

    return _once(tmp_path_factory, "dist", make) / "dist"


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory, dist: Path) -> Path:
    """Wheels of everything a fresh venv needs for the documented installs (one pass over the registry)."""
    wheel = next(dist.glob("*.whl"))

    def make(target: Path) -> None:
        run([sys.executable, "-m", "pip", "download", "--quiet", "--dest", target, f"{wheel}[postgres]",
             "setuptools>=69", "wheel", "build"], cwd=target)  # fmt: skip
        for own in target.glob("helm_eval-*"):  # only the documented commands may install helm-eval itself
            own.unlink()

    return _once(tmp_path_factory, "wheelhouse", make)
