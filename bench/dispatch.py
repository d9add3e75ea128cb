"""Dispatch benchmark: the whole ``pytest --helm-eval`` run a user waits for, against baselines from the same run.

Every figure is a process's wall time from launch to exit (interpreter start, plugin load, collection, the
calls, reports), divided by a baseline measured in the same invocation of this script: machines are noisy, so
only the ratios mean anything. Nothing is enforced; the goals are printed beside the figures.

1. Server-bound. N cases, one assertion each, against the vLLM-API double (its own process) answering after
   L seconds with C requests at once (the rest queue). The ideal is N / C x L (31.25 s for the defaults).
   ``pytest --helm-eval --helm-eval-concurrency 64`` wall / ideal (goal <= 1.05), and the same for a bare
   aiohttp client sending the same requests as its own process (the floor for any client). The floor for any
   pytest plugin is printed too: plain pytest's start-up and exit in a directory with no tests, plus the bare
   client's calls from its first request to its last answer, over the ideal.
2. Zero latency. The same suite against the double answering at once: ``pytest --helm-eval`` wall with an
   empty response cache (fresh: a first CI run; every case calls the server and the cache is written) and
   again in the same project (cached: every answer read from ``.helm-eval/cache.sqlite``, no call made), each
   divided by the wall of plain pytest running N trivial parametrized tests in the same venv with the same
   ``-p no:...`` flags plus ``-p no:helm_eval`` (helm-eval's import at pytest start is part of its cost, not
   of the baseline's). Goals: fresh <= 1.5, cached <= 1.2. The bare client's wall is printed too. Plain pytest
   runs before and after each helm-eval run, and each helm-eval run is divided by the mean of the two around it:
   on a shared machine the speed drifts within seconds, and one plain run far from the run it is compared with
   moved the ratio by 0.1-0.3.

Python's bytecode cache is on for every process, as on a user's machine: ``PYTHONDONTWRITEBYTECODE`` is
dropped and one small untimed run of each command warms the cache first. (Where it is set and no cache was
ever written, pytest rewrites the asserts of its entry-point plugins, helm-eval among them, and Python compiles
helm-eval from source on every start: 1-3 s more per run in our profiles.)

Each ratio is taken within one repeat and the median over repeats is reported. The double's
``vllm:request_success_total`` checks that fresh runs make N calls and cached runs none.

    python bench/dispatch.py [--cases 2000] [--repeats 3] [--server-repeats 1] [--latency 0.5] [--capacity 32]
    python bench/dispatch.py --quick      # 200 cases, latency 0.1: a smoke run, well under a minute
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import sqlite3
import statistics
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from _common import PYTEST_QUIET, ROOT, Double, Timed, double_server, save, timed, write_suite

GOAL_SERVER_BOUND = 1.05
GOAL_FRESH = 1.5
GOAL_CACHED = 1.2
BARE_CLIENT = ROOT / "bench" / "_bare_client.py"
_TICK = os.sysconf("SC_CLK_TCK")


def _machine() -> dict[str, Any]:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
    }


def _busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (everything but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / _TICK


def _pid_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _served(double: Double) -> int:
    """Generation requests the double has finished so far."""
    with urllib.request.urlopen(double.url.removesuffix("/v1") + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return int(sum(float(v) for v in re.findall(r"^vllm:request_success_total\{[^}]*\} (\S+)$", text, re.M)))


def _wall_split(result: Timed, ledger: Path) -> dict[str, float]:
    """Where a helm-eval run's wall went, from its ledger: before the first call, the calls, after the last.

    Empty when the ledger cannot be read or holds no server call: the split is a diagnostic, not a figure.
    """
    try:
        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as db:
            rows = db.execute(
                "SELECT ts, latency_ms FROM helm_eval_calls WHERE kind = 'call' AND cache_hit = 0"
            ).fetchall()
    except sqlite3.Error:
        return {}
    if not rows:
        return {}
    first_send = min(ts - latency / 1000 for ts, latency in rows)
    last_end = max(ts for ts, _ in rows)
    return {
        "before_first_call_s": first_send - result.launched,
        "calls_span_s": last_end - first_send,
        "after_last_call_s": result.launched + result.wall - last_end,
    }


def _kept(into: list[Timed], run: Callable[[], Timed]) -> Timed:
    """Run ``run`` and keep its result in ``into`` as well (for output ``_measure`` does not return)."""
    result = run()
    into.append(result)
    return result


def _measure(
    double: Double, run: Callable[[], Timed], calls: int | None, ledger: Path | None = None
) -> dict[str, float]:
    """Run one process; its wall, CPU, the double's CPU and the cores busy with anything else meanwhile."""
    busy, server_cpu, served = _busy_seconds(), _pid_cpu(double.pid), _served(double)
    result = run()
    busy, server_cpu = _busy_seconds() - busy, _pid_cpu(double.pid) - server_cpu
    served = _served(double) - served
    if calls is not None and served != calls:
        raise SystemExit(f"expected {calls} calls to reach the double, it served {served}")
    return {
        "wall_s": result.wall,
        "cpu_s": result.cpu,
        "double_cpu_s": server_cpu,
        "other_busy_cores": max(0.0, busy - result.cpu - server_cpu) / result.wall,
        **(_wall_split(result, ledger) if ledger is not None else {}),
    }


def _helm_eval(project: Path, endpoint: str, n: int, concurrency: int, ledger: Path) -> Timed:
    cmd = [
        sys.executable, "-m", "pytest", "--helm-eval", "--helm-eval-endpoint", endpoint,
        "--helm-eval-concurrency", str(concurrency), "--helm-eval-cache", "on", "--helm-eval-ledger", str(ledger),
        *PYTEST_QUIET,
    ]  # fmt: skip
    result = timed(cmd, project)
    if f"{n} passed" not in result.proc.stdout:
        raise SystemExit(f"helm-eval: expected {n} passed:\n{result.proc.stdout[-2000:]}")
    return result


def _plain(project: Path, n: int) -> Timed:
    result = timed([sys.executable, "-m", "pytest", *PYTEST_QUIET, "-p", "no:helm_eval"], project)
    if f"{n} passed" not in result.proc.stdout:
        raise SystemExit(f"plain pytest: expected {n} passed:\n{result.proc.stdout[-2000:]}")
    return result


def _bare(endpoint: str, n: int, concurrency: int) -> Timed:
    return timed([sys.executable, str(BARE_CLIENT), endpoint, str(n), str(concurrency)], ROOT)


def _bare_span(result: Timed) -> float:
    """Seconds from the bare client's first request to its last answer (it prints them)."""
    return float(result.proc.stdout.split("span ", 1)[1].split()[0])


def _empty_pytest(workdir: Path) -> Timed:
    """Plain pytest in a directory with no tests: the start-up and exit every pytest run pays."""
    project = workdir / "empty"
    project.mkdir(exist_ok=True)
    return timed([sys.executable, "-m", "pytest", *PYTEST_QUIET, "-p", "no:helm_eval"], project, ok=(5,))


def _project(workdir: Path, name: str, n: int) -> Path:
    project = workdir / name
    write_suite(project, n)
    return project


def _plain_project(workdir: Path, name: str, n: int) -> Path:
    project = workdir / name
    project.mkdir()
    (project / "test_plain.py").write_text(
        f"import pytest\n\n\n@pytest.mark.parametrize('i', range({n}))\ndef test_x(i):\n    assert 'question'\n",
        encoding="utf-8",
    )
    return project


def _median(runs: list[dict[str, float]], key: str) -> float:
    return round(float(statistics.median(r[key] for r in runs)), 3)


def _split_medians(runs: list[dict[str, float]]) -> dict[str, float]:
    keys = ("before_first_call_s", "calls_span_s", "after_last_call_s")
    return {k: _median(runs, k) for k in keys} if all(k in r for r in runs for k in keys) else {}


def _rounded(runs: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: round(v, 3) for k, v in r.items()} for r in runs]


def _warm_up(workdir: Path, concurrency: int) -> None:
    """One small untimed run of each command, so every measured process finds the bytecode cache written."""
    n = 20
    with double_server() as double:
        project = _project(workdir, "warm-up", n)
        _helm_eval(project, double.url, n, concurrency, project / "ledger.sqlite")
        _plain(_plain_project(workdir, "warm-up-plain", n), n)
        _bare(double.url, n, concurrency)


def server_bound(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    n, ideal = args.cases, args.cases / args.capacity * args.latency
    helm: list[dict[str, float]] = []
    bare: list[dict[str, float]] = []
    empty: list[float] = []
    with double_server("--capacity", str(args.capacity), "--latency", str(args.latency)) as double:
        for r in range(args.server_repeats):
            project = _project(workdir, f"server-bound-{r}", n)
            bare_run: list[Timed] = []
            bare.append(_measure(double, partial(_kept, bare_run, partial(_bare, double.url, n, args.concurrency)), n))
            bare[-1]["span_s"] = _bare_span(bare_run[0])
            empty.append(_empty_pytest(workdir).wall)
            ledger = project / "ledger.sqlite"
            run = partial(_helm_eval, project, double.url, n, args.concurrency, ledger)
            helm.append(_measure(double, run, n, ledger))
            for side in (bare[-1], helm[-1]):
                side["ratio_to_ideal"] = side["wall_s"] / ideal
            bare[-1]["plugin_floor_ratio"] = (empty[-1] + bare[-1]["span_s"]) / ideal
            print(f"server-bound {r + 1}: helm-eval {helm[-1]['wall_s']:.2f} s, bare {bare[-1]['wall_s']:.2f} s",
                  file=sys.stderr, flush=True)  # fmt: skip
    return {
        "latency_s": args.latency,
        "capacity": args.capacity,
        "ideal_s": round(ideal, 3),
        "helm_eval_wall_s": _median(helm, "wall_s"),
        "helm_eval_ratio_to_ideal": _median(helm, "ratio_to_ideal"),
        "helm_eval_cpu_s": _median(helm, "cpu_s"),
        "goal_helm_eval_ratio": GOAL_SERVER_BOUND,
        "bare_client_wall_s": _median(bare, "wall_s"),
        "bare_client_ratio_to_ideal": _median(bare, "ratio_to_ideal"),
        "bare_client_cpu_s": _median(bare, "cpu_s"),
        "bare_client_span_s": _median(bare, "span_s"),
        "empty_pytest_wall_s": round(float(statistics.median(empty)), 3),
        "pytest_plugin_floor_ratio": _median(bare, "plugin_floor_ratio"),
        "helm_eval_wall_split_s": _split_medians(helm),
        "runs": {"helm_eval": _rounded(helm), "bare_client": _rounded(bare)},
    }


def zero_latency(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    n = args.cases
    runs: dict[str, list[dict[str, float]]] = {"plain": [], "fresh": [], "cached": [], "bare": []}
    with double_server("--capacity", str(args.capacity)) as double:
        for r in range(args.repeats):
            plain = _plain_project(workdir, f"plain-{r}", n)
            project = _project(workdir, f"zero-latency-{r}", n)  # new project: an empty response cache
            # plain pytest runs before and after each helm-eval run: a machine's speed drifts within seconds, and
            # each helm-eval run is divided by the mean of the two plain runs around it
            brackets = [_measure(double, partial(_plain, plain, n), 0)]
            for side, calls in (("fresh", n), ("cached", 0)):
                ledger = project / f"ledger-{side}.sqlite"  # one per run: its calls only
                run = partial(_helm_eval, project, double.url, n, args.concurrency, ledger)
                runs[side].append(_measure(double, run, calls, ledger))
                brackets.append(_measure(double, partial(_plain, plain, n), 0))
            runs["bare"].append(_measure(double, partial(_bare, double.url, n, args.concurrency), n))
            runs["plain"].extend(brackets)
            for side, (before, after) in (("fresh", brackets[0:2]), ("cached", brackets[1:3]), ("bare", brackets[1:3])):
                for key in ("wall_s", "cpu_s"):
                    base = (before[key] + after[key]) / 2
                    runs[side][-1][("ratio_to_plain" if key == "wall_s" else "cpu_ratio_to_plain")] = (
                        runs[side][-1][key] / base
                    )
            walls = ", ".join(f"{side} {runs[side][-1]['wall_s']:.2f} s" for side in ("fresh", "cached", "bare"))
            plains = "/".join(f"{b['wall_s']:.2f}" for b in brackets)
            print(f"zero latency {r + 1}: plain {plains} s, {walls}", file=sys.stderr, flush=True)
    figures: dict[str, Any] = {
        "plain_pytest_wall_s": _median(runs["plain"], "wall_s"),
        "plain_pytest_cpu_s": _median(runs["plain"], "cpu_s"),
        "goal_fresh_ratio": GOAL_FRESH,
        "goal_cached_ratio": GOAL_CACHED,
    }
    for side, name in (("fresh", "fresh"), ("cached", "cached"), ("bare", "bare_client")):
        figures[f"{name}_wall_s"] = _median(runs[side], "wall_s")
        figures[f"{name}_ratio_to_plain"] = _median(runs[side], "ratio_to_plain")
        figures[f"{name}_cpu_s"] = _median(runs[side], "cpu_s")
        figures[f"{name}_cpu_ratio_to_plain"] = _median(runs[side], "cpu_ratio_to_plain")
    figures["fresh_wall_split_s"] = _split_medians(runs["fresh"])
    figures["cpu_ms_per_case"] = {side: round(_median(rs, "cpu_s") * 1000 / n, 3) for side, rs in runs.items()}
    figures["runs"] = {side: _rounded(rs) for side, rs in runs.items()}
    return figures


def _row(name: str, wall: float, ratio: float, goal: str = "", cpu: float | None = None, cpu_ratio: float = 0) -> str:
    cpu_text = "" if cpu is None else f"{cpu:8.2f}"
    cpu_ratio_text = f"{cpu_ratio:9.3f}" if cpu_ratio else ""
    return f"  {name:40} {wall:8.2f} {ratio:7.3f}  {goal:8} {cpu_text:>8} {cpu_ratio_text:>9}".rstrip()


def _split_line(split: dict[str, float], which: str = "") -> str:
    if not split:
        return f"    ({which}helm-eval wall split: ledger not readable)"
    return (
        f"    {which}helm-eval wall split (from its ledger): {split['before_first_call_s']:.2f} s before the first "
        f"call, {split['calls_span_s']:.2f} s of calls, {split['after_last_call_s']:.2f} s after the last"
    )


def _table(figures: dict[str, Any]) -> str:
    sb, zl, m = figures["server_bound"], figures["zero_latency"], figures["machine"]
    n = figures["cases"]
    lines = [
        f"dispatch benchmark, {n:,} cases, concurrency {figures['concurrency']}; {m['date']}, {m['cores']} cores "
        f"({m['cpu']}), load {m['load_avg_1m_at_start']} at start",
        f"  {'':40} {'wall s':>8} {'ratio':>7}  {'goal':8} {'CPU s':>8} {'CPU ratio':>9}",
        f"server-bound, latency {sb['latency_s']} s, capacity {sb['capacity']} "
        f"(median of {figures['server_repeats']}); baseline: ideal N/C x L",
        _row("ideal", sb["ideal_s"], 1),
    ]
    for name, key, goal in (("pytest --helm-eval", "helm_eval", GOAL_SERVER_BOUND),
                            ("bare aiohttp client (floor)", "bare_client", None)):  # fmt: skip
        wall, ratio, cpu = sb[f"{key}_wall_s"], sb[f"{key}_ratio_to_ideal"], sb[f"{key}_cpu_s"]
        lines.append(_row(name, wall, ratio, f"<= {goal}" if goal else "", cpu))
    floor = sb["pytest_plugin_floor_ratio"]
    lines.append(_row("floor for any pytest plugin", floor * sb["ideal_s"], floor))
    lines.append(
        f"    (pytest with no tests, start-up and exit: {sb['empty_pytest_wall_s']:.2f} s; "
        f"the bare client's calls, first request to last answer: {sb['bare_client_span_s']:.2f} s)"
    )
    lines.append(_split_line(sb["helm_eval_wall_split_s"]))
    lines.append(f"zero latency (median of {figures['repeats']}); baseline: plain pytest, {n:,} trivial tests")
    lines.append(_row("plain pytest", zl["plain_pytest_wall_s"], 1, "", zl["plain_pytest_cpu_s"], 1))
    for name, key, goal in (("pytest --helm-eval, fresh (empty cache)", "fresh", GOAL_FRESH),
                            ("pytest --helm-eval, cached (second run)", "cached", GOAL_CACHED),
                            ("bare aiohttp client", "bare_client", None)):  # fmt: skip
        wall, ratio = zl[f"{key}_wall_s"], zl[f"{key}_ratio_to_plain"]
        cpu, cpu_ratio = zl[f"{key}_cpu_s"], zl[f"{key}_cpu_ratio_to_plain"]
        lines.append(_row(name, wall, ratio, f"<= {goal}" if goal else "", cpu, cpu_ratio))
    lines.append(_split_line(zl["fresh_wall_split_s"], "fresh "))
    lines.append(f"cores busy with other work during the runs (median): {figures['other_busy_cores_median']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 200 cases, latency 0.1 s, one repeat")
    parser.add_argument("--cases", type=int, help="cases per run (default 2000; 200 with --quick)")
    parser.add_argument("--latency", type=float, help="server-bound latency in s (default 0.5; 0.1 with --quick)")
    parser.add_argument("--capacity", type=int, default=32, help="requests the double serves at once")
    parser.add_argument("--concurrency", type=int, default=64, help="--helm-eval-concurrency and the bare client's")
    parser.add_argument("--repeats", type=int, help="zero-latency repeats (default 3; 1 with --quick)")
    parser.add_argument("--server-repeats", type=int, default=1, help="server-bound repeats (default 1)")
    args = parser.parse_args()
    args.cases = args.cases or (200 if args.quick else 2000)
    args.latency = args.latency if args.latency is not None else (0.1 if args.quick else 0.5)
    args.repeats = args.repeats or (1 if args.quick else 3)
    machine = _machine()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # the children inherit it
    with tempfile.TemporaryDirectory(prefix="dispatch-bench-") as tmp:
        workdir = Path(tmp)
        _warm_up(workdir, args.concurrency)
        figures: dict[str, Any] = {
            "cases": args.cases,
            "concurrency": args.concurrency,
            "repeats": args.repeats,
            "server_repeats": args.server_repeats,
            "machine": machine,
            "server_bound": server_bound(args, workdir),
            "zero_latency": zero_latency(args, workdir),
        }
    figures["machine"]["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    every_run = [r for phase in ("server_bound", "zero_latency") for rs in figures[phase]["runs"].values() for r in rs]
    figures["other_busy_cores_median"] = round(statistics.median(r["other_busy_cores"] for r in every_run), 2)
    path = save("dispatch-quick" if args.quick else "dispatch", figures, echo=False)
    print(_table(figures))
    print(f"figures: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
