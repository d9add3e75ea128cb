"""pytest hooks and options of helm-eval; thin on purpose.

Without ``--helm-eval`` nothing but this module is imported and every hook returns at once.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from helm_eval._http import Transport
    from helm_eval.run import HelmModel, SuiteFile

SUITE_SUFFIXES = (".yaml", ".yml")
_EARLY_WORKER: pytest.StashKey[Transport] = pytest.StashKey()
"""The HTTP worker started as pytest starts, until the session's pipeline takes it."""


def _number(flag: str, kind: type[int] | type[float], minimum: float, unit: str, *, above: bool = False) -> Any:
    """An argparse ``type=`` for a bounded number whose errors name the flag (pytest shows them as usage errors)."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text.replace(",", "").replace("_", "").lstrip("$"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} expects {unit}, got {text!r}") from None
        if value < minimum or (above and value == minimum):
            bound = f"more than {minimum:g}" if above else ("0 or more" if minimum == 0 else f"at least {minimum:g}")
            raise argparse.ArgumentTypeError(f"{flag} must be {bound}, got {value:g}")
        return value

    return parse


def _shard(text: str) -> Any:
    from helm_eval.collect import Shard

    try:
        return Shard.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--helm-eval-shard {exc}") from None


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """The ``helm-eval`` option group; each option's config-file twin is named in its help."""
    from helm_eval._deepeval import block_pytest_plugin

    block_pytest_plugin(pluginmanager)  # runs as helm-eval's plugin loads, before later entry points import
    group = parser.getgroup("helm-eval", "helm-eval: LLM evaluation suites")
    group.addoption(
        "--helm-eval",
        action="store_true",
        default=False,
        help="run evaluation suites (YAML files matched by 'suites' in helm-eval.yaml) and helm_model tests",
    )
    group.addoption(
        "--helm-eval-config",
        metavar="PATH",
        default=None,
        help="config file (default: helm-eval.yaml at the rootdir, else [tool.helm-eval] in pyproject.toml)",
    )
    group.addoption(
        "--helm-eval-endpoint",
        metavar="URL",
        default=None,
        help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1 (env HELM_EVAL_ENDPOINT; config: endpoints)",
    )
    group.addoption(
        "--helm-eval-model",
        metavar="NAME",
        default=None,
        help="model to request (env HELM_EVAL_MODEL; default: the endpoint's only served model); several, "
        "comma-separated, run every case once per model (a model matrix, [model] in node ids)",
    )
    group.addoption(
        "--helm-eval-concurrency",
        metavar="N",
        default=None,
        type=_number("--helm-eval-concurrency", int, 1, "a whole number"),
        help="most requests in flight per endpoint (config: concurrency; default 64)",
    )
    group.addoption(
        "--helm-eval-timeout",
        metavar="S",
        default=None,
        type=_number("--helm-eval-timeout", float, 0, "seconds", above=True),
        help="per-request timeout in seconds (config: timeout; default 120)",
    )
    group.addoption(
        "--helm-eval-retries",
        metavar="N",
        default=None,
        type=_number("--helm-eval-retries", int, 0, "a whole number"),
        help="retries on connection errors, timeouts, 429 and 5xx (config: retries; default 3)",
    )
    group.addoption(
        "--helm-eval-report", metavar="PATH", default=None, help="write the JSON run record here (config: report)"
    )
    group.addoption(
        "--helm-eval-html",
        metavar="PATH",
        default=None,
        help="write a single-file HTML report here: filterable cases, outputs and verdicts, charts; opens from "
        "disk, fetches nothing (config: html)",
    )
    group.addoption(
        "--helm-eval-budget-tokens",
        metavar="N",
        default=None,
        type=_number("--helm-eval-budget-tokens", int, 0, "a whole number"),
        help="token cap (prompt + completion) for --helm-eval-budget-scope; trusted like the policy",
    )
    group.addoption(
        "--helm-eval-budget-usd",
        metavar="USD",
        default=None,
        type=_number("--helm-eval-budget-usd", float, 0, "dollars"),
        help="USD cap at per-token prices for --helm-eval-budget-scope",
    )
    group.addoption(
        "--helm-eval-budget-scope",
        default="pull_request",
        choices=["run", "pull_request"],
        help="what the command-line caps cover: this run, or every run of the pull request "
        "(the default; a run outside a PR is its own scope)",
    )
    group.addoption(
        "--helm-eval-on-exhausted",
        default=None,
        choices=["fail", "warn"],
        help="when the budget cuts cases: fail the check (default) or only warn (config: budget.on_exhausted)",
    )
    group.addoption(
        "--helm-eval-policy",
        metavar="PATH",
        default=None,
        help="trusted budget policy (env HELM_EVAL_POLICY), e.g. the base branch's file; the project "
        "config may only lower its caps",
    )
    group.addoption(
        "--helm-eval-baseline",
        metavar="PATH",
        default=None,
        help="run record of the base branch (a file, a directory of shard records, or a glob): every report shows "
        "each case's change against it (config: baseline; trusted only from here or the policy)",
    )
    group.addoption(
        "--helm-eval-fail-on",
        default=None,
        choices=["failure", "regression", "significant"],
        help="what turns the run red: any failure (default), only new failures against the baseline, or a "
        "significant drop; trusted like the policy (config gate.fail_on can only add reasons to be red)",
    )
    group.addoption(
        "--helm-eval-history-runs",
        metavar="N",
        default=10,
        type=_number("--helm-eval-history-runs", int, 0, "a whole number"),
        help="mark cases whose last N runs in the ledger (on the baseline's branch) both passed and failed as "
        "flaky in history; reports only, never passes a check (default 10; 0 turns it off)",
    )
    group.addoption(
        "--helm-eval-min-pass-rate",
        metavar="RATE",
        default=None,
        type=_number("--helm-eval-min-pass-rate", float, 0, "a rate between 0 and 1"),
        help="the run is red below this pass rate, e.g. 0.9 (config: gate.min_pass_rate; the higher binds)",
    )
    group.addoption(
        "--helm-eval-ledger",
        metavar="PATH|URL|off",
        default=None,
        help="ledger of every call: SQLite path (default .helm-eval/ledger.sqlite), postgresql:// URL, "
        "or off (config: ledger)",
    )
    group.addoption("--helm-eval-cache", default=None, choices=["on", "off", "refresh", "replay-only"],
                    help="response cache (default on; config: cache): a hit costs no tokens; refresh re-asks and "
                         "rewrites; replay-only sends nothing and a call the cache cannot answer is an error; "
                         "the file is .helm-eval/cache.sqlite (config: cache_path, cache_ttl)")  # fmt: skip
    group.addoption("--helm-eval-label", metavar="KEY=VALUE", action="append", default=None,
                    help="attribution label (repo, pr, branch, sha, workflow, job, team); CI values are read "
                         "automatically")  # fmt: skip
    group.addoption(
        "--helm-eval-shard",
        metavar="I/N",
        default=None,
        type=_shard,
        help="run shard I of N (1-based) of the selected cases and tests, split by a hash of each node id so a "
        "case keeps its shard as others come and go (env HELM_EVAL_SHARD; a CI matrix sets it)",
    )
    group.addoption(
        "--helm-eval-serve",
        metavar="MODEL",
        default=None,
        help="start vLLM serving MODEL (a known short name or a path) for the session and send every call to it",
    )


def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """With ``--helm-eval``, start the HTTP worker now, as pytest starts.

    It loads its HTTP client on the other core while pytest loads conftests and helm-eval its modules, and
    answers the first request without a wait.

    Not for ``--collect-only`` (nothing is sent) nor with ``-n`` (pytest-xdist's controller sends nothing; a
    worker whose options say ``-n`` too starts its own when its session is built).
    """
    known = early_config.known_args_namespace
    if not getattr(known, "helm_eval", False) or getattr(known, "collectonly", False):
        return
    if getattr(known, "numprocesses", None):
        return
    from helm_eval._http import WorkerTransport

    worker = WorkerTransport()
    worker.spawn()
    early_config.stash[_EARLY_WORKER] = worker


def pytest_configure(config: pytest.Config) -> None:
    """Register the run object when ``--helm-eval`` is on; make suite files reachable from testpaths."""
    if not config.getoption("helm_eval"):
        return
    worker = config.stash.get(_EARLY_WORKER, None)
    if worker is not None:
        del config.stash[_EARLY_WORKER]
    from helm_eval._gc import gc_paused

    # importing the run's modules and building its objects allocates much that lives as long as the process: the
    # collector would walk pytest's heap again and again for nothing (0.75-0.95x the time of the imports)
    with gc_paused(freeze=True):
        from helm_eval._deepeval import unregister_pytest_plugin
        from helm_eval.config import HelmEvalError

        unregister_pytest_plugin(config.pluginmanager)  # loaded before helm-eval's plugin could block it
        from helm_eval.run import SESSION_KEY, HelmEvalSession, settings_from_pytest

        try:
            session = HelmEvalSession(config, settings_from_pytest(config), transport=worker)
        except BaseException as exc:
            if worker is not None:
                _close(worker)
            if isinstance(exc, HelmEvalError):
                raise pytest.UsageError(f"helm-eval: {exc}") from None
            raise
    config.stash[SESSION_KEY] = session
    config.pluginmanager.register(session, "helm-eval-session")
    _add_suite_roots(config, session.settings.suite_paths)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Close the early HTTP worker if no session took it (pytest stopped before configuring helm-eval)."""
    worker = config.stash.get(_EARLY_WORKER, None)
    if worker is not None:
        del config.stash[_EARLY_WORKER]
        _close(worker)


def _close(worker: Transport) -> None:
    import asyncio

    asyncio.run(worker.close())


def _add_suite_roots(config: pytest.Config, suites: set[Path]) -> None:
    """When pytest collects from ``testpaths``, also collect the configured suites lying outside them."""
    if config.args_source != pytest.Config.ArgsSource.TESTPATHS:
        return
    roots = [Path(config.invocation_params.dir, arg).resolve() for arg in config.args]
    for suite in sorted(suites):
        if not any(suite == root or root in suite.parents for root in roots):
            config.args.append(str(suite))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> SuiteFile | None:
    """Suite files become ``SuiteFile`` collectors: those the config's globs match, or named on the command line."""
    if file_path.suffix not in SUITE_SUFFIXES:
        return None
    from helm_eval.run import SESSION_KEY, SuiteFile

    session = parent.config.stash.get(SESSION_KEY, None)
    if session is None:
        return None
    resolved = file_path.resolve()
    named = _named_on_command_line(parent.config, resolved)
    if named == "file":
        return SuiteFile.from_parent(parent, path=file_path)
    if resolved in session.settings.suite_paths:
        from helm_eval.collect import is_tests_list

        # a YAML list is a tests file that a suite reads with file://, not a suite of its own
        return None if is_tests_list(file_path) else SuiteFile.from_parent(parent, path=file_path)
    if named == "directory":
        from helm_eval.collect import not_a_suite

        reason = not_a_suite(file_path, session.settings.display_path(file_path))
        if reason is None:
            return SuiteFile.from_parent(parent, path=file_path)
        session.pipeline.notices.append(reason)
    return None


def _named_on_command_line(config: pytest.Config, path: Path) -> str | None:
    """``file`` when ``path`` was named on the command line, ``directory`` when a directory holding it was."""
    # config.args holds only the positional arguments: option values such as ``--helm-eval-config ci/x.yaml``
    # are not suites
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return None
    cwd = Path(config.invocation_params.dir)
    named = [(cwd / arg.split("::")[0]).resolve() for arg in config.args]
    if path in named:
        return "file"
    if any(arg in path.parents for arg in named):
        return "directory"
    return None


@pytest.fixture
def helm_model(request: pytest.FixtureRequest) -> HelmModel:
    """Call the configured model from a test: ``helm_model("What is 2+2?").text``.

    Calls go through helm-eval's dispatch (same endpoints, retries and accounting as suites) and land in the
    run record and JUnit properties. Skipped unless pytest runs with ``--helm-eval``.
    """
    from helm_eval.run import make_helm_model

    return make_helm_model(request)
