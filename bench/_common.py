"""Shared bench helpers: start the vLLM-API double in its own process, write a suite, run pytest, save figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


@contextmanager
def double_process(*args: str) -> Iterator[str]:
    """Run ``python -m fixtures.vllm_double`` with ``args``; yield its base URL; stop it after."""
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
        yield line.split(" ", 1)[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def write_suite(project: Path, n: int, max_tokens: int = 16) -> None:
    """A project with one suite of ``n`` cases, each a distinct prompt with one assertion."""
    (project / "suites").mkdir(parents=True, exist_ok=True)
    (project / "helm-eval.yaml").write_text("suites: ['suites/*.yaml']\n", encoding="utf-8")
    lines = ["prompts: ['{{q}}']", f"defaultTest: {{options: {{max_tokens: {max_tokens}}}}}", "tests:"]
    for i in range(n):
        lines.append(f"  - {{id: c{i}, vars: {{q: 'question {i}'}}, assert: [{{type: contains, value: 'question'}}]}}")
    (project / "suites" / "bench.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_pytest(
    project: Path, endpoint: str, extra: Sequence[str] = ()
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run ``pytest --helm-eval`` in ``project``; return (wall seconds, the process)."""
    cmd = [
        sys.executable, "-m", "pytest", "--helm-eval", "--helm-eval-endpoint", endpoint,
        "-p", "no:cacheprovider", "-p", "no:deepeval", "-p", "no:hypothesispytest", "-q", "--no-header",
        "--helm-eval-cache", "off", *extra,  # every run must really call the server
    ]  # fmt: skip
    env = dict(os.environ)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=project, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"pytest failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall, proc


def save(name: str, figures: dict[str, Any]) -> None:
    """Print the figures and write them to bench/results/NAME.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(figures, indent=2))
