"""``helm-eval schema`` covers the keys of suites kept as data, the model matrix and promptfoo configs."""

from __future__ import annotations

import json
from pathlib import Path

from helm_eval.cli import main


def schema(tmp_path: Path, kind: str) -> dict:
    out = tmp_path / f"{kind}.json"
    assert main(["schema", kind, "--output", str(out)]) == 0
    return json.loads(out.read_text(encoding="utf-8"))


def test_the_suite_schema_has_every_new_key(tmp_path: Path) -> None:
    suite = schema(tmp_path, "suite")
    properties = suite["properties"]
    for key in ("models", "providers", "evaluateOptions", "tests", "prompts"):
        assert properties[key]["description"], key
    assert "file://" in properties["tests"]["description"]
    defs = suite["$defs"]
    assert set(defs["RepeatSpec"]["properties"]) == {"n", "max", "pass_rate", "confidence", "decide"}
    assert "weighted" in defs["TestSpec"]["properties"]["threshold"]["description"]
    assert {"apiBaseUrl", "temperature", "max_tokens"} <= set(defs["ProviderConfig"]["properties"])
    assert {"model", "endpoint", "label"} == set(defs["ModelSpec"]["properties"])
    assert "metric" in defs["AssertionSpec"]["properties"]


def test_the_config_schema_has_models_and_provider_map(tmp_path: Path) -> None:
    properties = schema(tmp_path, "config")["properties"]
    assert properties["models"]["description"]
    assert "promptfoo" in properties["provider_map"]["description"]
