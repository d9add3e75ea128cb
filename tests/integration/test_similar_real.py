"""``similar`` against real embeddings: all-MiniLM-L6-v2 served by vLLM on the CPU next to SmolLM2."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helm_eval.ledger import Ledger
from helm_eval.serve import ModelPrepError, ServerStartError, VLLMServer, prepare_model, serve_args
from tests.conftest import vllm_unavailable

EXAMPLE = Path(__file__).resolve().parents[2] / "suites" / "examples-embedding" / "similar.yaml"


@pytest.fixture(scope="module")
def embedder(vllm_python: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    """all-MiniLM-L6-v2 as prepared by ``helm-eval models prepare all-minilm``, served as a pooling model."""
    started = time.monotonic()
    try:
        model = prepare_model("all-minilm", python=vllm_python)
        server = VLLMServer(
            model,
            served_model_name="all-minilm",
            python=vllm_python,
            extra_args=serve_args("all-minilm"),
            log_path=tmp_path_factory.mktemp("embedder") / "vllm.log",
        )
        server.start()
        server.wait_ready()
    except (ServerStartError, ModelPrepError) as exc:
        vllm_unavailable(f"the embedding server did not start: {exc}")
        raise
    print(f"embedding server ready in {time.monotonic() - started:.1f} s")
    try:
        yield server
    finally:
        server.stop()


def test_similar_scores_real_answers_with_real_embeddings(
    pytester: pytest.Pytester, vllm: VLLMServer, embedder: VLLMServer
) -> None:
    shutil.copy(EXAMPLE, pytester.path / "similar.yaml")
    (pytester.path / "helm-eval.yaml").write_text(
        f"endpoints:\n  chat: {{url: '{vllm.base_url}'}}\n  embedder: {{url: '{embedder.base_url}'}}\n"
        "default_endpoint: chat\nembedding: {endpoint: embedder}\nsuites: ['*.yaml']\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--helm-eval", "--helm-eval-report", "run.json",
                                           timeout=600)  # fmt: skip
    record = json.loads((pytester.path / "run.json").read_text())
    (case,) = record["cases"]
    print(case["output"], case["verdicts"])
    assert case["status"] == "passed", (case["verdicts"], result.stdout.str()[-2000:])
    close, far = case["verdicts"]
    assert close["score"] >= 0.6
    assert far["score"] < 0.5
    assert case["judge_tokens"] > 0  # the embedding calls' tokens, as the server reported them
    rows = Ledger(str(pytester.path / ".helm-eval" / "ledger.sqlite")).calls()
    assert sorted(r["kind"] for r in rows) == ["call", "embedding", "embedding"]
    assert sum(r["tokens"] for r in rows if r["kind"] == "embedding") == case["judge_tokens"]
    result.assert_outcomes(passed=1)
