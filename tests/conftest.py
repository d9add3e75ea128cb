"""Shared test support: the repo root on ``sys.path`` (for ``fixtures``), the ``vllm_double`` fixture, a test
environment without CI or helm-eval variables, the real vLLM's interpreter and model (``vllm_python``,
``model_dir``), and a small ``Project`` helper that lays out a pytester directory the way a user's repository
looks."""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import sys
import textwrap
from collections.abc import Iterator, Mapping
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

# Variables that change what helm-eval or pytest does, and that a developer's shell or a CI job sets. Every test
# starts without them, so the suite gives the same results on a laptop, in a GitHub pull-request job and in a
# GitLab merge-request job; a test that needs one sets it itself (monkeypatch.setenv, or env= for a process it
# starts). In-process pytester runs and runpytest_subprocess both see the cleaned os.environ.
#   HELM_EVAL_*   endpoint, model and API key (plan/_endpoints.py), budget policy HELM_EVAL_POLICY (run and
#                 `helm-eval plan`), HELM_EVAL_GITLAB_TOKEN (report/_cli.py), vLLM and model location
#                 HELM_EVAL_VLLM_PYTHON, HELM_EVAL_VLLM_VENV, HELM_EVAL_CACHE (serve/), serve's
#                 HELM_EVAL_PARENT_PID and HELM_EVAL_KILL_GRACE, and the CI scripts' HELM_EVAL_REPORTS, ...
#   GITHUB_*      labels (ledger/_labels.py: GITHUB_ACTIONS, _REPOSITORY, _EVENT_PATH, _REF, _HEAD_REF, _REF_NAME,
#                 _SHA, _WORKFLOW, _JOB); report/_github.py and github-action-utils: GITHUB_OUTPUT,
#                 GITHUB_STEP_SUMMARY, GITHUB_API_URL; GITHUB_TOKEN (report/_cli.py); GITHUB_EVENT_NAME, GITHUB_BASE_REF
#   GITLAB_*, CI_*  labels (GITLAB_CI, CI_PROJECT_PATH, CI_MERGE_REQUEST_IID, CI_MERGE_REQUEST_SOURCE_BRANCH_NAME,
#                 CI_COMMIT_REF_NAME, CI_COMMIT_SHA, CI_PIPELINE_NAME, CI_PIPELINE_SOURCE, CI_JOB_NAME);
#                 report/_gitlab.py: CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID
#   CI, BUILD_NUMBER  pytest itself: on CI it stops truncating assertion and summary lines that inner runs match
OUTSIDE_ENV = ("HELM_EVAL_*", "GITHUB_*", "GITLAB_*", "CI_*", "CI", "BUILD_NUMBER")

# Settings of this test suite, not of helm-eval (which never reads them): with =1 a missing vLLM, PostgreSQL or CI
# tool fails its tier instead of skipping it. They stay, so CI cannot pass on silently skipped tests.
SUITE_SETTINGS = ("HELM_EVAL_REQUIRE_VLLM", "HELM_EVAL_REQUIRE_POSTGRES", "HELM_EVAL_REQUIRE_CI_TOOLS")

# Where this machine keeps the real vLLM and its model, as the session started (before any test cleaned the
# environment): only the ``vllm_python`` and ``model_dir`` fixtures use them.
_VLLM_LOCATION = {
    name: os.environ.get(name) for name in ("HOME", "HELM_EVAL_VLLM_PYTHON", "HELM_EVAL_VLLM_VENV", "HELM_EVAL_CACHE")
}
REQUIRE_VLLM = "HELM_EVAL_REQUIRE_VLLM"


def outside_variables(environ: Mapping[str, str]) -> list[str]:
    """The names in ``environ`` that ``OUTSIDE_ENV`` matches, less the suite's own settings."""
    return [
        name
        for name in environ
        if name not in SUITE_SETTINGS and any(fnmatch.fnmatchcase(name, pattern) for pattern in OUTSIDE_ENV)
    ]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees a developer's endpoint or key, nor the CI job it runs in."""
    for name in outside_variables(os.environ):
        monkeypatch.delenv(name)


def vllm_unavailable(reason: str) -> None:
    """Skip for want of vLLM, or fail under ``HELM_EVAL_REQUIRE_VLLM=1``."""
    if os.environ.get(REQUIRE_VLLM) == "1":
        pytest.fail(f"{REQUIRE_VLLM}=1 but vLLM is unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def _vllm_location() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in _VLLM_LOCATION.items():
            if value is None:
                patch.delenv(name, raising=False)
            else:
                patch.setenv(name, value)
        yield


@pytest.fixture(scope="session")
def vllm_python() -> str:
    """The interpreter that runs the real vLLM (``find_vllm_python``); skips without one, or fails under
    ``HELM_EVAL_REQUIRE_VLLM=1``."""
    from helm_eval.serve import ServerStartError, find_vllm_python

    try:
        with _vllm_location():
            return find_vllm_python()
    except ServerStartError as exc:
        vllm_unavailable(str(exc))
        raise


@pytest.fixture(scope="session")
def model_dir(vllm_python: str) -> Path:
    """SmolLM2-135M-Instruct prepared for vLLM (built on first use, as ``helm-eval models prepare smollm2``)."""
    from helm_eval.serve import prepare_model

    with _vllm_location():
        return prepare_model("smollm2", python=vllm_python)


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


def word_suite(*words: str) -> str:
    """A suite with one case per word: the prompt asks for the word, and the answer must contain it.

    Against the double (which echoes the prompt) every case passes until ``double.set(rules=...)`` makes it
    answer some words wrongly.
    """
    cases = "".join(
        f"\n  - id: {word}\n    vars: {{word: {word}}}\n    assert:\n      - type: contains\n        value: {word}\n"
        for word in words
    )
    return 'prompts: ["Say {{word}}"]\ntests:\n' + cases


@pytest.fixture
def project(pytester: pytest.Pytester, vllm_double: VLLMDouble) -> Project:
    """A pytester project whose runs point at a fresh vLLM double (configure it with ``@pytest.mark.vllm_double``)."""
    return Project(pytester, vllm_double)


@pytest.fixture
def bare_project(pytester: pytest.Pytester) -> Project:
    """A pytester project with no endpoint."""
    return Project(pytester, None)
