"""A promptfooconfig.yaml collected as it is: promptfoo's own keys translated, the rest read as a suite.

``providers`` become the model matrix: a provider named in helm-eval.yaml's ``provider_map`` runs where the map
says; ``openai:chat:<model>`` / ``openai:<model>`` with ``config.apiBaseUrl`` runs ``<model>`` on the configured
endpoint with that URL; any other provider runs on the default endpoint, and the run says so.
``evaluateOptions.repeat`` becomes ``defaultTest.repeat``. A key helm-eval cannot honour is an error at its line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from helm_eval.collect._matrix import MatrixOptions, ModelTarget, label_of
from helm_eval.config import LineDict, LineList, SuiteError, line_of

_OPENAI = re.compile(r"^openai:(?:chat:)?(?!(?:completion|embeddings?|assistant|responses|realtime|image):)(.+)$")
_IGNORED_OPTIONS = {"maxConcurrency", "showProgressBar", "cache", "generateSuggestions"}
"""evaluateOptions that change how promptfoo runs, not what a case asks or how it is judged."""
_IGNORED_KEYS = {"outputPath", "sharing", "writeLatestResults"}
"""Top-level keys about promptfoo's own output files and web sharing."""
_SAMPLING = {"temperature", "max_tokens", "top_p", "seed", "stop", "presence_penalty", "frequency_penalty"}
_CREDENTIALS = {"apiKey", "apiKeyEnvar"}
"""Read from the endpoint's api_key_env instead: a key written in a config file is never sent."""
_UNSUPPORTED = {
    "env": "set environment variables outside the suite",
    "scenarios": "write the combinations as tests, or use var arrays",
    "derivedMetrics": "derived metrics are not computed; use metric on assertions",
    "extensions": "extension hooks run code, which a suite may not",
    "nunjucksFilters": "custom filters run code, which a suite may not",
    "redteam": "generate the red-team tests with promptfoo and commit them as a tests file",
    "commandLineOptions": "pass options to pytest instead",
    "assertionTemplates": "write the assertions out, or put them in a defaultTest",
}


def is_promptfoo_config(path: Path, data: Any) -> bool:
    """Whether a YAML file is a promptfoo config: its name says so, or it lists ``providers``."""
    return "promptfooconfig" in path.name or (isinstance(data, dict) and "providers" in data)


def translate(data: LineDict, name: str, matrix: MatrixOptions) -> tuple[LineDict, list[ModelTarget] | None]:
    """The suite a promptfoo config means, and its providers as matrix columns (``None`` when it lists none)."""
    suite = LineDict()
    suite.line, suite.key_lines = data.line, {}
    for key, value in data.items():
        line = data.key_lines.get(key, data.line)
        if key in _UNSUPPORTED:
            raise SuiteError(name, line, f"{key}: not supported by helm-eval; {_UNSUPPORTED[key]}")
        if key in _IGNORED_KEYS or key in ("providers", "evaluateOptions"):
            continue
        if key == "tags" and isinstance(value, dict):  # promptfoo's tags are a mapping: keep them as metadata
            key, value = "metadata", {**value, **data.get("metadata", {})}
        suite[key] = value
        suite.key_lines[key] = line
    options = data.get("evaluateOptions")
    if options is not None:
        _repeat(suite, options, name, line_of(data, ("evaluateOptions",)))
    providers = data.get("providers")
    if providers is None:
        return suite, None
    entries = providers if isinstance(providers, list) else [providers]
    lines = providers.item_lines if isinstance(providers, LineList) else [line_of(data, ("providers",))] * len(entries)
    columns = [_target(entry, name, line or 1, matrix) for entry, line in zip(entries, lines, strict=True)]
    if not columns:
        raise SuiteError(name, line_of(data, ("providers",)), "providers: the list is empty")
    return suite, columns


def _repeat(suite: LineDict, options: Any, name: str, line: int | None) -> None:
    if not isinstance(options, dict):
        raise SuiteError(name, line, "evaluateOptions: expected a mapping")
    for key, value in options.items():
        at = options.key_lines.get(key, line) if isinstance(options, LineDict) else line
        if key == "repeat":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SuiteError(name, at, "evaluateOptions.repeat: expected a whole number of runs")
            default = suite.get("defaultTest")
            merged = LineDict(default or {})
            merged.line = at or 1
            merged.key_lines = {**(default.key_lines if isinstance(default, LineDict) else {}), "repeat": at or 1}
            merged.setdefault("repeat", {"n": value})
            suite["defaultTest"] = merged
            suite.key_lines.setdefault("defaultTest", at or 1)
        elif key not in _IGNORED_OPTIONS:
            raise SuiteError(name, at, f"evaluateOptions.{key}: not supported by helm-eval")


def _target(entry: Any, name: str, line: int, matrix: MatrixOptions) -> ModelTarget:
    config: dict[str, Any] = {}
    if isinstance(entry, str):
        provider_id, label = entry, None
    elif isinstance(entry, dict) and isinstance(entry.get("id"), str):
        unknown = sorted(set(entry) - {"id", "label", "config"})
        if unknown:
            raise SuiteError(
                name, line, f"providers: {unknown[0]!r} is not supported on a provider; use id, label, config"
            )
        provider_id, label, config = entry["id"], entry.get("label"), entry.get("config") or {}
    else:
        raise SuiteError(name, line, "providers: write each provider as an id string or {id, label, config}")
    if provider_id.startswith("file://") or provider_id.startswith(("python:", "exec:")):
        raise SuiteError(
            name, line, f"providers: {provider_id!r} runs code; helm-eval calls OpenAI-compatible endpoints"
        )
    if not isinstance(config, dict):
        raise SuiteError(name, line, f"providers: the config of {provider_id!r} must be a mapping")
    bad = sorted(set(config) - _SAMPLING - _CREDENTIALS - {"apiBaseUrl"})
    if bad:
        raise SuiteError(
            name,
            line,
            f"providers: config.{bad[0]} of {provider_id!r} is not supported; helm-eval honours apiBaseUrl "
            f"and {', '.join(sorted(_SAMPLING))}",
        )
    options = {k: v for k, v in config.items() if k in _SAMPLING}
    shown = label_of(label or provider_id)
    mapped = matrix.provider_map.get(label or "") or matrix.provider_map.get(provider_id)
    if mapped is not None:
        return ModelTarget(shown, mapped.model, mapped.endpoint, options)
    openai = _OPENAI.match(provider_id)
    base = config.get("apiBaseUrl")
    if openai and isinstance(base, str):
        endpoint = matrix.endpoint_urls.get(base.rstrip("/"))
        if endpoint is None:
            raise SuiteError(
                name,
                line,
                f"providers: apiBaseUrl {base!r} of {provider_id!r} is no configured endpoint; add it under "
                "endpoints in helm-eval.yaml, or map the provider in provider_map",
            )
        return ModelTarget(shown, openai.group(1), endpoint, options)
    matrix.notes.append(
        f"{name}: promptfoo provider {provider_id!r} is not mapped to an endpoint; its cases run on the default "
        "endpoint and model (map it in helm-eval.yaml under provider_map)"
    )
    return ModelTarget(shown, None, None, options)
