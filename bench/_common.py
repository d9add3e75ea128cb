"""Shared bench helpers: start the vLLM-API double in its own process, write a suite, run pytest, save figures."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTEST_QUIET = ("-p", "no:cacheprovider", "-p", "no:deepeval", "-p", "no:hypothesispytest", "-q", "--no-header")
"""Flags every benchmarked pytest run gets, helm-eval or plain, so both sides load the same plugins."""


@dataclass(frozen=True)
class Double:
    """A running double: its base URL (ending in /v1) and its process id."""

    url: str
    pid: int


@contextmanager
def double_server(*args: str) -> Iterator[Double]:
    """Run ``python -m fixtures.vllm_double`` with ``args``; yield it; stop it after."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "fixtures.vllm_double", "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("READY "):
            raise RuntimeError(f"double did not start: {line!r}")
        yield Double(line.split(" ", 1)[1], proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def double_process(*args: str) -> Iterator[str]:
    """Run ``python -m fixtures.vllm_double`` with ``args``; yield its base URL; stop it after."""
    with double_server(*args) as double:
        yield double.url


def write_suite(project: Path, n: int, max_tokens: int = 16) -> None:
    """A project with one suite of ``n`` cases, each a distinct prompt with one assertion."""
    (project / "suites").mkdir(parents=True, exist_ok=True)
    (project / "helm-eval.yaml").write_text("suites: ['suites/*.yaml']\n", encoding="utf-8")
    lines = ["prompts: ['{{q}}']", f"defaultTest: {{options: {{max_tokens: {max_tokens}}}}}", "tests:"]
    for i in range(n):
        lines.append(f"  - {{id: c{i}, vars: {{q: 'question {i}'}}, assert: [{{type: contains, value: 'question'}}]}}")
    (project / "suites" / "bench.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class Timed:
    """One finished process: wall seconds from launch to exit, CPU seconds it used, its output."""

    wall: float
    cpu: float
    proc: subprocess.CompletedProcess[str]
    launched: float
    """Epoch seconds at launch, to place the process's own timestamps (a ledger's) in its wall time."""


def timed(cmd: Sequence[str], cwd: Path, ok: Sequence[int] = (0,)) -> Timed:
    """Run ``cmd`` to completion; its CPU is the change in this process's reaped-children usage (run one at a time)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    launched, started = time.time(), time.perf_counter()
    proc = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, env=dict(os.environ), check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in ok:
        raise RuntimeError(
            f"{' '.join(cmd[:4])} ... failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Timed(wall, cpu, proc, launched)


def run_pytest(
    project: Path, endpoint: str, extra: Sequence[str] = (), cache: str = "off"
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run ``pytest --helm-eval`` in ``project``; return (wall seconds, the process).

    ``cache`` is passed as ``--helm-eval-cache``; the default ``off`` makes every run really call the server.
    """
    run = timed(
        [sys.executable, "-m", "pytest", "--helm-eval", "--helm-eval-endpoint", endpoint, *PYTEST_QUIET,
         "--helm-eval-cache", cache, *extra],
        project,
        ok=(0, 1),
    )  # fmt: skip
    return run.wall, run.proc


def save(name: str, figures: dict[str, Any], echo: bool = True) -> Path:
    """Write the figures to bench/results/NAME.json (and print them, unless ``echo`` is false); return the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    if echo:
        print(json.dumps(figures, indent=2))
    return path


@contextmanager
def real_vllm(model_dir: Path, served_name: str, workdir: Path) -> Iterator[Any]:
    """A real vLLM serving ``model_dir`` for the benchmark (log under ``workdir``); stopped on exit."""
    from helm_eval.serve import VLLMServer

    server = VLLMServer(model_dir, served_model_name=served_name, log_path=workdir / "vllm-server.log")
    started = time.perf_counter()
    server.start()
    try:
        server.wait_ready()
        print(f"vllm ready at {server.base_url} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        yield server
    finally:
        server.stop()
