"""Shared test support: the repo root on ``sys.path`` (for ``fixtures``), the ``vllm_double`` fixture, and a
small ``Project`` helper that lays out a pytester directory the way a user's repository looks."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

# pytester's in-process runs drop modules first imported inside them; PyYAML's C loader does not survive being
# imported twice, so the plugin's lazily imported modules are imported here, once, for every inner run.
import helm_eval.run  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from fixtures.vllm_double import LoggedRequest, VLLMDouble  # noqa: E402 - needs the repo root on sys.path

pytest_plugins = ["fixtures.pytest_vllm_double"]

HELM_ENV = ("HELM_EVAL_ENDPOINT", "HELM_EVAL_MODEL", "HELM_EVAL_API_KEY")


@pytest.fixture(autouse=True)
def _clean_helm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees a developer's own endpoint or key."""
    for name in HELM_ENV:
        monkeypatch.delenv(name, raising=False)


class Project:
    """A user's project inside ``pytester``: suites, config files, and how to run pytest on them."""

    def __init__(self, pytester: pytest.Pytester, double: VLLMDouble | None) -> None:
        self.pytester = pytester
        self.double = double
        self.base_url = double.base_url if double is not None else None
        self.path = pytester.path

    def suite(self, name: str, text: str) -> Path:
        """Write ``suites/<name>`` (dedented) and return its path."""
        path = self.path / "suites" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def file(self, name: str, text: str) -> Path:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def args(self, *args: str, endpoint: bool = True) -> list[str]:
        extra = ["--helm-eval-endpoint", self.base_url] if endpoint and self.base_url else []
        return ["--helm-eval", *extra, *args]

    def run(self, *args: str, endpoint: bool = True, cache: bool = False) -> pytest.RunResult:
        """``pytest --helm-eval --helm-eval-endpoint <double> ARGS`` in-process."""
        base = [] if cache else ["-p", "no:cacheprovider"]
        return self.pytester.runpytest(*base, *self.args(*args, endpoint=endpoint))

    def run_subprocess(self, *args: str, endpoint: bool = True) -> pytest.RunResult:
        return self.pytester.runpytest_subprocess("-p", "no:cacheprovider", *self.args(*args, endpoint=endpoint))

    def record(self, name: str = "run.json") -> dict[str, Any]:
        """The JSON run record written by ``--helm-eval-report <name>``."""
        return json.loads((self.path / name).read_text(encoding="utf-8"))

    def chat_requests(self) -> list[LoggedRequest]:
        """The generation requests the double received (not ``GET /v1/models``)."""
        assert self.double is not None
        return [r for r in self.double.requests if r.path == "/v1/chat/completions"]


@pytest.fixture
def project(pytester: pytest.Pytester, vllm_double: VLLMDouble) -> Project:
    """A pytester project whose runs point at a fresh vLLM double (configure it with ``@pytest.mark.vllm_double``)."""
    return Project(pytester, vllm_double)


@pytest.fixture
def bare_project(pytester: pytest.Pytester) -> Project:
    """A pytester project with no endpoint."""
    return Project(pytester, None)
