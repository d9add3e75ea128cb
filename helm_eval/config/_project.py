"""Project configuration: ``helm-eval.yaml`` at the rootdir or ``[tool.helm-eval]`` in pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from helm_eval.config._budget import BudgetSpec, Price
from helm_eval.config._embedding import EmbeddingSpec
from helm_eval.config._errors import ConfigError, SuiteError
from helm_eval.config._gate import GateSpec
from helm_eval.config._judge import JudgeSpec
from helm_eval.config._matrix import MatrixEntry, ModelSpec
from helm_eval.config._suite import Options, _Strict
from helm_eval.config._validate import validate
from helm_eval.config._yaml import line_of, load_yaml

CONFIG_FILENAMES = ("helm-eval.yaml", "helm-eval.yml")
ENV_ENDPOINT = "HELM_EVAL_ENDPOINT"
ENV_MODEL = "HELM_EVAL_MODEL"
ENV_API_KEY = "HELM_EVAL_API_KEY"
DEFAULT_ENDPOINT_NAME = "default"
_NO_KEYS_IN_FILES = "api keys are read from the environment only; name the variable with api_key_env"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: int | float | str) -> float:
    """Seconds in ``value``: a number of seconds, or a number with a unit (``90s``, ``30m``, ``12h``, ``7d``, ``2w``).

    Raises ``ValueError`` naming the value.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.fullmatch(str(value).strip().lower())
        if match is None:
            raise ValueError(f"{value!r} is not a duration: use seconds or a number with s, m, h, d or w (e.g. 7d)")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"{value!r} is not a positive duration")
    return seconds


class EndpointSpec(_Strict):
    """An OpenAI-compatible server (vLLM or any other) that cases can be sent to."""

    url: str
    """Base URL including the API prefix, e.g. ``http://127.0.0.1:8000/v1``."""
    model: str | None = None
    """Model name to request; when unset and the server serves exactly one model, that one is used."""
    api_key_env: str = ENV_API_KEY
    """Name of the environment variable holding the API key. Keys are never read from files."""
    max_concurrency: int | None = Field(default=None, ge=1)
    """Most requests in flight to this endpoint (defaults to the global ``concurrency``)."""
    timeout: float | None = Field(default=None, gt=0)
    """Per-request timeout in seconds (defaults to the global ``timeout``)."""
    price: Price | None = None
    """Per-token price of this endpoint's model (hosted endpoints)."""
    gpu_hourly_usd: float | None = Field(default=None, ge=0)
    """Self-hosted vLLM: what the GPU(s) cost per hour; a run's wall time on the endpoint is shared over its
    calls by token share."""
    revision: str | None = Field(default=None, min_length=1)
    """The weights' version behind this endpoint (a date, a commit, a tag: ``"2026-11-20"``). When set it is the
    model's identity in the response cache instead of the path the server reports or a digest of the weights:
    change it whenever the weights change, and answers cached for the old weights stop being served."""
    adaptive: bool = True
    """Adapt the requests in flight to what the server takes, up to ``max_concurrency``: halve on 429, 503 and
    timeouts, grow back by one per round of answers, and keep vLLM's queue (``/metrics``) short. ``false`` keeps
    ``max_concurrency`` in flight whatever the server says."""
    fallback: list[str] = Field(default_factory=list)
    """Endpoints to send a call to, in order, when this one cannot answer it: connection refused or dropped,
    timeouts or 5xx after every retry, or its circuit breaker open. A fallback serving another model answers
    with its own model (recorded, priced and cached as that model). See docs/failover.md."""

    @field_validator("revision", mode="before")
    @classmethod
    def _revision_as_written(cls, value: Any) -> Any:
        # YAML reads an unquoted 2026-11-20 as a date and 3 as a number; both are fine revisions
        return str(value) if isinstance(value, date | int | float) and not isinstance(value, bool) else value

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"endpoint url must start with http:// or https://, got {url!r}")
        return url.rstrip("/")


class ProjectConfig(_Strict):
    """Settings for a project; every field has a command-line twin or a documented default."""

    suites: list[str] = Field(default_factory=lambda: ["suites/**/*.yaml", "suites/**/*.yml"])
    """Glob patterns, relative to the rootdir, of the YAML files that are suites."""
    endpoints: dict[str, EndpointSpec] = Field(default_factory=dict)
    """Named endpoints; routing and failover choose among them."""
    default_endpoint: str | None = None
    """Endpoint used when a case names none (default: the first declared)."""
    concurrency: int = Field(default=64, ge=1, le=4096)
    """Most requests in flight overall; vLLM batches what it is sent, so keep its queue full."""
    timeout: float = Field(default=120.0, gt=0)
    """Per-request timeout in seconds (time spent queued in helm-eval does not count)."""
    retries: int = Field(default=3, ge=0, le=20)
    """Retries per call on connection errors, timeouts, 429 and 5xx, with backoff and jitter."""
    report: str | None = None
    """Path of the JSON run record to write."""
    html: str | None = None
    """Path of the single-file HTML report to write (relative to the rootdir, like ``report``)."""
    options: Options = Field(default_factory=lambda: Options(temperature=0.0, max_tokens=256))
    """Sampling defaults for every call, below ``defaultTest.options`` and each test's ``options``."""
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    """Token/USD caps; a trusted policy (``--helm-eval-policy``) binds, this may only lower it."""
    prices: dict[str, Price] = Field(default_factory=dict)
    """Model name → per-token price, for hosted endpoints."""
    cache: Literal["on", "off", "refresh", "replay-only"] = "on"
    """Response cache: ``on`` (read and write), ``refresh`` (write only: re-ask every call), ``off``, or
    ``replay-only`` (answer every call from the cache and send nothing: a call it has no answer for is an error)."""
    cache_path: str | None = None
    """Cache file (default ``.helm-eval/cache.sqlite`` under the rootdir); persist it in CI to rerun for free."""
    cache_ttl: int | str | None = None
    """How long a cached answer is served: seconds, or a number with a unit (``12h``, ``7d``, ``2w``). Older
    answers are misses (asked again and replaced). Default: no limit -- the key already changes with the
    weights where they can be known; set it for hosted models whose weights can change under the same name.
    ``helm-eval cache prune`` deletes expired answers."""
    ledger: str | None = None
    """Where every call is recorded: a SQLite path (default ``.helm-eval/ledger.sqlite``), a ``postgresql://``
    URL for a shared ledger, or ``off``."""
    gate: GateSpec = Field(default_factory=GateSpec)
    """When the check is red (``fail_on``, ``min_pass_rate``, ``quarantine``); a trusted policy or the command
    line sets the rule, and this may only add reasons to be red. See docs/compare.md."""
    baseline: str | None = None
    """Run record of the base branch to compare with (``--helm-eval-baseline`` wins). Shown in every report; as it
    comes from the project's own files it never lets ``fail-on: regression`` pass a failing run."""
    on_unavailable: Literal["error", "skip"] = "error"
    """A case none of whose endpoints (its own and their fallbacks) can answer: ``error`` (each such case is an
    error, and the summary names the endpoints that went down once) or ``skip`` (skipped with the reason: for
    optional suites)."""
    judge: JudgeSpec = Field(default_factory=JudgeSpec)
    """The endpoint and sampling of model-graded checks (``g-eval``, ``llm-rubric``, ...); see docs/judges.md."""
    models: list[MatrixEntry] = Field(default_factory=list)
    """Model matrix for every suite that has none of its own: each case runs once per entry."""
    provider_map: dict[str, ModelSpec] = Field(default_factory=dict)
    """promptfoo provider ids (``openai:chat:gpt-4o-mini``, ``ollama:llama3``) → the endpoint and model to run
    them on, for promptfoo configs collected as they are. An unmapped provider runs on the default endpoint."""
    embedding: EmbeddingSpec | None = None
    """The endpoint of the ``similar`` check's embeddings (``/v1/embeddings``); see docs/suites.md."""

    @field_validator("cache_ttl")
    @classmethod
    def _a_duration(cls, value: int | str | None) -> int | str | None:
        if value is not None:
            parse_duration(value)
        return value

    @property
    def cache_ttl_seconds(self) -> float | None:
        """``cache_ttl`` in seconds (``None``: answers never expire)."""
        return None if self.cache_ttl is None else parse_duration(self.cache_ttl)

    @model_validator(mode="before")
    @classmethod
    def _no_keys_in_files(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for spec in (data.get("endpoints") or {}).values():
                if isinstance(spec, dict) and ("api_key" in spec or "api-key" in spec):
                    raise ValueError(_NO_KEYS_IN_FILES)
        return data

    @model_validator(mode="after")
    def _default_is_declared(self) -> ProjectConfig:
        if self.default_endpoint is not None and self.default_endpoint not in self.endpoints:
            raise ValueError(f"default_endpoint {self.default_endpoint!r} is not among the endpoints")
        field = "judge.models" if self.judge.models else "judge.endpoint"
        for judge in self.judge.judges:
            if judge.endpoint is not None and self.endpoints and judge.endpoint not in self.endpoints:
                known = ", ".join(sorted(self.endpoints))
                raise ValueError(f"{field} {judge.endpoint!r} is not among the endpoints ({known})")
        if self.embedding is not None and self.endpoints and self.embedding.endpoint not in self.endpoints:
            known = ", ".join(sorted(self.endpoints))
            raise ValueError(f"embedding.endpoint {self.embedding.endpoint!r} is not among the endpoints ({known})")
        for name, spec in self.endpoints.items():
            for other in spec.fallback:
                if other == name:
                    raise ValueError(f"endpoints.{name}.fallback: an endpoint cannot fall back to itself")
                if other not in self.endpoints:
                    known = ", ".join(sorted(self.endpoints))
                    raise ValueError(f"endpoints.{name}.fallback: {other!r} is not among the endpoints ({known})")
            if len(set(spec.fallback)) != len(spec.fallback):
                raise ValueError(f"endpoints.{name}.fallback: an endpoint is named twice")
        return self


def find_config_file(rootdir: Path) -> Path | None:
    """The config file helm-eval reads by default: ``helm-eval.yaml`` or pyproject.toml with a section."""
    for name in CONFIG_FILENAMES:
        candidate = rootdir / name
        if candidate.is_file():
            return candidate
    pyproject = rootdir / "pyproject.toml"
    if pyproject.is_file() and _pyproject_section(pyproject) is not None:
        return pyproject
    return None


def load_project_config(path: Path | None, display_root: Path | None = None) -> ProjectConfig:
    """Load and validate a config file; ``None`` gives the defaults. Errors name file and line."""
    if path is None:
        return ProjectConfig()
    name = _display(path, display_root)
    if path.name == "pyproject.toml" or path.suffix == ".toml":
        section = _pyproject_section(path)
        if section is None:
            raise ConfigError(f"{name}: no [tool.helm-eval] section")
        _reject_keys(section, f"{name} [tool.helm-eval]")
        return validate(ProjectConfig, section, f"{name} [tool.helm-eval]")
    if not path.is_file():
        raise ConfigError(f"config file not found: {name}")
    data = load_yaml(path, name)
    if data is None:
        return ProjectConfig()
    if not isinstance(data, dict):
        raise SuiteError(name, getattr(data, "line", 1), "config must be a mapping")
    _reject_keys(data, name)
    return validate(ProjectConfig, data, name)


def _reject_keys(data: dict[str, Any], name: str) -> None:
    """Point at the line of an ``api_key`` in a config file (the model validator alone names no field)."""
    endpoints = data.get("endpoints")
    if not isinstance(endpoints, dict):
        return
    for endpoint, spec in endpoints.items():
        for key in ("api_key", "api-key"):
            if isinstance(spec, dict) and key in spec:
                line = line_of(data, ("endpoints", endpoint, key))
                raise SuiteError(name, line, f"endpoints.{endpoint}.{key}: {_NO_KEYS_IN_FILES}")


def _pyproject_section(path: Path) -> dict[str, Any] | None:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    section = data.get("tool", {}).get("helm-eval")
    return section if isinstance(section, dict) else None


def _display(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return str(path)
