"""A real promptfoo config (from promptfoo's repository) collected as it is and run against real vLLM.

helm-eval.yaml maps the provider (by its label) to the server the test starts and the model it serves; the config
is used unchanged except for a smaller max_tokens (one call, cheap on a CPU).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helm_eval.serve import VLLMServer

DATA = Path(__file__).parent.parent / "data" / "promptfoo"


def test_a_promptfoo_config_runs_on_the_endpoint_its_provider_is_mapped_to(
    pytester: pytest.Pytester, vllm: VLLMServer
) -> None:
    target = pytester.path / "suites" / "vllm-docs"
    shutil.copytree(DATA / "vllm-docs", target)
    config = target / "promptfooconfig.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("max_tokens: 512", "max_tokens: 16"), encoding="utf-8")
    (pytester.path / "helm-eval.yaml").write_text(
        f'endpoints:\n  local: {{url: "{vllm.base_url}", model: smollm2}}\n'
        "provider_map:\n  vLLM qwen3-8b: {endpoint: local, model: smollm2}\n",
        encoding="utf-8",
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--helm-eval", "--helm-eval-report", "run.json", "-v", timeout=600
    )
    assert result.ret in (0, 1), result.stdout.str()
    (case,) = json.loads((pytester.path / "run.json").read_text())["cases"]
    assert case["nodeid"] == "suites/vllm-docs/promptfooconfig.yaml::test-1"
    assert (case["model"], case["endpoint"]) == ("smollm2", "local")
    assert 0 < case["completion_tokens"] <= 16
