"""What ``helm-eval init`` writes.

The config, the example suite, the CI file, and promptfoo providers mapped to endpoints: pure functions of their
arguments; ``_init.py`` does the writing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from helm_eval import __version__

DEFAULT_URL = "http://127.0.0.1:8000/v1"
SERVE_MODEL = "smollm2"
REPO_URL = "https://github.com/helm-eval/helm-eval.git"
OPENAI_URL = "https://api.openai.com/v1"
GITIGNORE_LINES = (".helm-eval/", "reports/")

EXAMPLE_SUITE = """\
# A first suite: one pytest item per test. Edit the prompt and the assertions for your assistant.
# Reference: helm-eval schema (JSON Schema for editors); the README's "Suite reference".
description: the assistant answers simple arithmetic
include: ["helm-eval:guardrails"]    # no personal data or secrets in any output (checked without a model)
prompts:
  - "Answer with just the number: {{question}}"
defaultTest:
  options: {temperature: 0, max_tokens: 16}
tests:
  - id: two-plus-two
    vars: {question: "What is 2+2?"}
    assert:
      - {type: contains, value: "4"}
      - {type: not-icontains, value: "sorry"}
"""

GITHUB_WORKFLOW = """\
# .github/workflows/helm-eval.yml — written by `helm-eval init`: the eval suites on every pull request.
# Repository settings: variable HELM_EVAL_ENDPOINT (an endpoint the runner can reach), secret HELM_EVAL_API_KEY.
name: helm-eval

on:
  pull_request:

permissions: {{}}

concurrency:
  group: helm-eval-${{{{ github.event.pull_request.number }}}}
  cancel-in-progress: true

jobs:
  evals:
    runs-on: ubuntu-latest
    timeout-minutes: 30
    permissions:
      contents: read        # check out the code
      pull-requests: write  # the one sticky PR comment
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683  # v4.2.2
        with:
          persist-credentials: false

      - uses: helm-eval/helm-eval@v1
        with:
{inputs}
"""

GITLAB_CI = """\
# .gitlab-ci.yml — written by `helm-eval init`: the eval suites in every merge request pipeline.
# Settings > CI/CD > Variables: HELM_EVAL_ENDPOINT (an endpoint the runner can reach), HELM_EVAL_API_KEY (masked).
stages: [test]

include:
  - project: helm-eval/helm-eval
    ref: v1
    file: gitlab/helm-eval.gitlab-ci.yml
    inputs:
      package: "helm-eval @ git+{repo}@v{version}"
{inputs}
"""


@dataclass
class Mapped:
    """Endpoints made from a promptfoo file's providers, and what could not be mapped (one line each)."""

    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def config_text(
    suites: list[str],
    endpoints: dict[str, dict[str, Any]] | None,
    *,
    header: str = "",
) -> str:
    """helm-eval.yaml: the suite globs, the endpoints (none when vLLM is started by ``--helm-eval-serve``)."""
    lines = ["# helm-eval configuration (reference: the README's Configuration; `helm-eval schema config`)."]
    if header:
        lines.append(header)
    lines.append(f"suites: {_flow(suites)}")
    if endpoints:
        lines.append("endpoints:")
        for name, spec in endpoints.items():
            lines.append(f"  {name}: {_flow(spec)}")
        lines.append(f"default_endpoint: {next(iter(endpoints))}")
    else:
        lines.append(f"# no endpoints: `pytest --helm-eval --helm-eval-serve {SERVE_MODEL}` starts vLLM and uses it")
    lines += [
        "options: {temperature: 0, max_tokens: 256}   # sampling defaults for every call",
        "report: reports/run.json                      # the JSON run record of each run",
        "",
    ]
    return "\n".join(lines)


def endpoint_spec(url: str, model: str | None) -> dict[str, Any]:
    """One endpoint entry; the model is discovered from ``/v1/models`` when not named."""
    spec: dict[str, Any] = {"url": url}
    if model:
        spec["model"] = model
    return spec


def github_workflow(*, serve: bool, suites: str | None) -> str:
    """The GitHub Actions workflow calling the helm-eval action."""
    inputs: dict[str, str] = {}
    if suites:
        inputs["suites"] = suites
    if serve:
        inputs["serve-model"] = SERVE_MODEL
    else:
        inputs["endpoint"] = "${{ vars.HELM_EVAL_ENDPOINT }}"
        inputs["api-key"] = "${{ secrets.HELM_EVAL_API_KEY }}"
    inputs["fail-on"] = "failure"
    lines = [f"          {key}: {value}" for key, value in inputs.items()]
    lines.append(f'          # version: "{__version__}"   # pin a released helm-eval instead of the action\'s checkout')
    return GITHUB_WORKFLOW.format(inputs="\n".join(lines))


def gitlab_ci(*, serve: bool, suites: str | None) -> str:
    """The .gitlab-ci.yml including the helm-eval template."""
    lines = []
    if suites:
        lines.append(f"      suites: {suites}")
    if serve:
        lines.append(f"      serve-model: {SERVE_MODEL}")
    lines.append("      fail-on: failure")
    return GITLAB_CI.format(repo=REPO_URL, version=__version__, inputs="\n".join(lines))


def map_promptfoo_providers(data: Any) -> Mapped:
    """Map promptfoo ``providers`` to helm-eval endpoints.

    OpenAI-compatible providers (``openai:chat:<model>``, ``openai:<model>``, ``vllm:<model>``) keep their
    model, base URL (``config.apiBaseUrl``/``apiHost``) and key
    variable (``config.apiKeyEnvar``); any other provider is left out with a note.
    """
    mapped = Mapped()
    providers = data.get("providers") if isinstance(data, dict) else None
    if providers is None:
        providers = []
    if isinstance(providers, str | dict):
        providers = [providers]
    if not isinstance(providers, list):
        mapped.notes.append("providers: not a list; no endpoint mapped")
        return mapped
    for index, item in enumerate(providers):
        provider_id, config, label = _provider_parts(item)
        where = f"providers[{index}]"
        if provider_id is None:
            mapped.notes.append(f"{where}: not a provider id or mapping; left out")
            continue
        model = _openai_model(provider_id)
        if model is None:
            mapped.notes.append(f"{where}: {provider_id!r} is not an OpenAI-compatible chat provider; left out")
            continue
        url = config.get("apiBaseUrl") or config.get("apiHost") or OPENAI_URL
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            url = f"https://{url}/v1" if isinstance(url, str) and url else OPENAI_URL
        spec = endpoint_spec(url.rstrip("/"), model)
        key_env = config.get("apiKeyEnvar") or ("OPENAI_API_KEY" if url.rstrip("/") == OPENAI_URL else None)
        if isinstance(key_env, str) and key_env:
            spec["api_key_env"] = key_env
        if "apiKey" in config:
            mapped.notes.append(f"{where}: apiKey is not copied (keys are read from the environment only)")
        name = _unique(_slug(label or model), mapped.endpoints)
        mapped.endpoints[name] = spec
    return mapped


def _provider_parts(item: Any) -> tuple[str | None, dict[str, Any], str | None]:
    if isinstance(item, str):
        return item, {}, None
    if not isinstance(item, dict):
        return None, {}, None
    if isinstance(item.get("id"), str):
        provider_id, body = str(item["id"]), item
    elif len(item) == 1:  # {"openai:chat:model": {config: ..., label: ...}}
        ((key, value),) = item.items()
        provider_id, body = str(key), value if isinstance(value, dict) else {}
    else:
        return None, {}, None
    config = body.get("config")
    label = body.get("label")
    return provider_id, dict(config) if isinstance(config, dict) else {}, label if isinstance(label, str) else None


_OPENAI = re.compile(r"^(?:openai|vllm)(?::chat)?:(?P<model>[^:].*)$")


def _openai_model(provider_id: str) -> str | None:
    if provider_id.startswith(("openai:completion:", "openai:embedding:", "openai:embeddings:", "openai:image:")):
        return None
    match = _OPENAI.match(provider_id)
    return match.group("model") if match else None


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "endpoint"


def _unique(name: str, taken: dict[str, Any]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    return candidate


def _flow(value: Any) -> str:
    """A YAML flow value (JSON is valid YAML), on one line."""
    return json.dumps(value, ensure_ascii=False)
