"""``similar``: embeddings from an endpoint's /v1/embeddings, fetched through the pipeline (budget, cache, ledger)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fixtures.vllm_double import VLLMDouble
from helm_eval._records import Assertion, Outcome
from helm_eval.checks import run_check, validate_assertion
from helm_eval.collect import load_suite
from helm_eval.config import SuiteError, load_project_config
from helm_eval.pipeline import Pipeline, RunSettings

SUITE = """
prompts: ["{{q}}"]
defaultTest: {options: {max_tokens: 16, temperature: 0}}
tests:
  - id: close
    vars: {q: "the cat sat on the mat"}
    assert: [{type: similar, value: "echo the cat sat on the mat"}]
  - id: far
    vars: {q: "stock markets fell sharply"}
    assert: [{type: similar, value: ["the cat sat on the mat", "a dog barked"], threshold: 0.5}]
"""


def project(root: Path, double: VLLMDouble, extra: str = "") -> None:
    (root / "helm-eval.yaml").write_text(
        f"endpoints:\n  chat: {{url: '{double.base_url}'}}\n  embedder: {{url: '{double.base_url}'}}\n"
        f"default_endpoint: chat\nembedding: {{endpoint: embedder}}\n{extra}"
    )
    (root / "s.yaml").write_text(textwrap.dedent(SUITE).lstrip())


def test_similar_embeds_through_the_pipeline_and_records_the_calls(
    tmp_path: Path, vllm_double: VLLMDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    project(tmp_path, vllm_double)
    monkeypatch.chdir(tmp_path)
    for _ in range(2):  # the second run answers chat and embeddings from the cache
        with Pipeline(RunSettings.load(tmp_path)) as pipeline:
            close, far = pipeline.evaluate(load_suite(tmp_path / "s.yaml", "s.yaml"))
        rows = pipeline.ledger.calls(run_id=pipeline.run_id)
        assert close.status == "passed", close.verdicts
        assert close.verdicts[0].score is not None
        assert close.verdicts[0].score > 0.9
        assert close.verdicts[0].threshold == 0.75
        assert far.status == "failed"
        assert far.verdicts[0].score is not None
        assert far.verdicts[0].score < 0.5
        assert sorted(r["kind"] for r in rows) == ["call", "call", "embedding", "embedding"]
    embedded = [r.body for r in vllm_double.requests if r.path == "/v1/embeddings"]
    assert len(embedded) == 2
    assert embedded[0]["input"][0].startswith("echo: ")
    assert sum(r["tokens"] for r in rows) == 0  # the second run: every call a cache hit


def test_embedding_tokens_count_as_the_cases_check_tokens(
    tmp_path: Path, vllm_double: VLLMDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    project(tmp_path, vllm_double, "cache: 'off'\n")
    monkeypatch.chdir(tmp_path)
    with Pipeline(RunSettings.load(tmp_path)) as pipeline:
        close, _ = pipeline.evaluate(load_suite(tmp_path / "s.yaml", "s.yaml"))
    rows = pipeline.ledger.calls(run_id=pipeline.run_id)
    embedding = [r for r in rows if r["kind"] == "embedding" and r["case_id"] == "close"]
    assert close.judge_tokens == embedding[0]["tokens"] > 0


def test_similar_without_an_embedding_endpoint_is_an_error_not_a_pass() -> None:
    verdict = run_check(Assertion("similar", "x"), "x", Outcome("x"))
    assert verdict.status == "error"
    assert "embedding:" in verdict.reason
    assert "expected text" in str(validate_assertion("similar", 3, None))


def test_the_embedding_endpoint_must_be_configured(tmp_path: Path) -> None:
    config = tmp_path / "helm-eval.yaml"
    config.write_text("endpoints:\n  chat: {url: 'http://x/v1'}\nembedding: {endpoint: nope}\n")
    with pytest.raises(SuiteError, match=r"embedding\.endpoint 'nope' is not among the endpoints"):
        load_project_config(config, tmp_path)


def test_a_bundled_model_zip_unpacks_only_inside_its_directory(tmp_path: Path) -> None:
    import zipfile

    from helm_eval.serve import ModelPrepError, serve_args
    from helm_eval.serve._models import _unzip_model

    good, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("config.json", "{}")
        zf.writestr("1_Pooling/config.json", "{}")
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../escaped.json", "{}")
    _unzip_model(good, tmp_path / "model")
    assert (tmp_path / "model" / "1_Pooling" / "config.json").is_file()
    with pytest.raises(ModelPrepError, match="outside the model directory"):
        _unzip_model(bad, tmp_path / "other")
    assert not (tmp_path / "escaped.json").exists()
    assert serve_args("all-minilm") == ("--runner", "pooling", "--max-model-len", "256")
    assert "--tool-call-parser" in serve_args("smollm2")
    assert serve_args("/some/local/model") == ()


def test_a_judge_cascade_never_escalates_a_check_that_asks_no_judge(
    tmp_path: Path, vllm_double: VLLMDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    # scores within the band would escalate an llm-rubric; ``similar`` only embeds, so a larger judge decides nothing
    judges = f"  small: {{url: '{vllm_double.base_url}'}}\n  large: {{url: '{vllm_double.base_url}'}}\n"
    project(tmp_path, vllm_double, "judge: {models: [small, large], escalate_within: 0.5}\ncache: 'off'\n")
    config = tmp_path / "helm-eval.yaml"
    config.write_text(config.read_text().replace("default_endpoint:", judges + "default_endpoint:", 1))
    monkeypatch.chdir(tmp_path)
    with Pipeline(RunSettings.load(tmp_path)) as pipeline:
        close, far = pipeline.evaluate(load_suite(tmp_path / "s.yaml", "s.yaml"))
    assert (close.status, far.status) == ("passed", "failed")
    assert close.judge_escalated == far.judge_escalated == 0
    assert "escalated" not in close.verdicts[0].reason + far.verdicts[0].reason
    assert len([r for r in vllm_double.requests if r.path == "/v1/embeddings"]) == 2  # one embedding per case
