"""Budget benchmark: overshoot under concurrency, estimate error, ledger write cost.

1. Overshoot: N cases at concurrency 64 against the vLLM-API double (own process) with random prompt sizes and
   a token cap; the double's own token count minus the cap (goal: never above 0), over several caps.
2. Estimate error: prompt-token estimates vs what a real vLLM (SmolLM2-135M on the CPU) reports in ``usage``:
   /tokenize (goal 0%) and offline tiktoken (goal <= 5%). Skipped when vLLM is not installed.
3. Ledger write cost per call: ``Ledger.record_calls`` in batches (what the writer thread does) vs the same rows
   inserted one transaction each, and vs a bare sqlite3 executemany of the same row shape (the floor).

    python bench/budget.py [--cases 400] [--skip-vllm]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import tempfile
import time
from pathlib import Path

import aiohttp
from _common import double_process, run_pytest, save

from helm_eval._records import Call
from helm_eval.dispatch import Endpoint
from helm_eval.ledger import CallRow, Ledger
from helm_eval.plan._estimate import TokenEstimator


def _metrics_tokens(text: str) -> int:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(("vllm:prompt_tokens_total", "vllm:generation_tokens_total")):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def overshoot(cases: int, seed: int) -> list[dict[str, int]]:
    rng = random.Random(seed)
    results = []
    for cap in (500, 2_000, 8_000):
        with tempfile.TemporaryDirectory() as tmp:
            project = Path(tmp)
            (project / "suites").mkdir()
            lines = ["prompts: ['{{q}}']", "defaultTest: {options: {max_tokens: 24}}", "tests:"]
            for i in range(cases):
                words = " ".join("w" for _ in range(rng.randint(1, 60)))
                lines.append(f"  - {{id: c{i}, vars: {{q: '{words}'}}}}")
            (project / "suites" / "b.yaml").write_text("\n".join(lines) + "\n")
            with double_process("--capacity", "64", "--latency", "0.005") as endpoint:
                run_pytest(project, endpoint, ["--helm-eval-concurrency", "64", "--helm-eval-budget-tokens", str(cap),
                                               "--helm-eval-on-exhausted", "warn"])  # fmt: skip
                metrics = asyncio.run(_get(endpoint.removesuffix("/v1") + "/metrics"))
            served = _metrics_tokens(metrics)
            results.append({"cap": cap, "served_tokens": served, "overshoot": max(0, served - cap)})
    return results


async def _get(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return await resp.text()


PROMPTS = [
    "What is 2+2?",
    "Name three primary colours.",
    "Summarise the plot of Hamlet in one sentence.",
    "Translate 'good morning' into French, Spanish and German.",
    "Write a haiku about continuous integration.",
    "Explain what a token budget is to a new engineer, briefly.",
    "List the planets of the solar system in order from the sun.",
    "What does HTTP status code 429 mean and how should a client react to it?",
]


def estimate_error() -> dict[str, float]:
    from helm_eval.serve import VLLMServer, prepare_model

    with VLLMServer(prepare_model("smollm2"), served_model_name="smollm2") as server:
        return asyncio.run(_compare(server.base_url))


async def _compare(base_url: str) -> dict[str, float]:
    endpoint = Endpoint("local", base_url, "smollm2", None, 8, 120)
    estimator = TokenEstimator()
    exact_errors, tiktoken_errors, content_errors = [], [], []
    async with aiohttp.ClientSession() as session:
        empty = Call("local", base_url, "smollm2", ({"role": "user", "content": ""},), {"max_tokens": 1})
        template_overhead = (await estimator.estimate(session, endpoint, empty)).tokens
        for prompt in PROMPTS:
            messages = ({"role": "user", "content": prompt},)
            call = Call("local", base_url, "smollm2", messages, {"max_tokens": 1})
            exact = await estimator.estimate(session, endpoint, call)
            offline = estimator.offline(messages)
            body = {"model": "smollm2", "messages": list(messages), "max_tokens": 1}
            async with session.post(f"{base_url}/chat/completions", json=body) as resp:
                actual = (await resp.json())["usage"]["prompt_tokens"]
            exact_errors.append(abs(exact.tokens - actual) / actual)
            tiktoken_errors.append(abs(offline.tokens - actual) / actual)
            # the tokenizers alone: the model's chat template (SmolLM2 adds a default system prompt) taken out
            content_actual = actual - template_overhead
            content_tiktoken = offline.tokens - estimator.offline(empty.messages).tokens
            content_errors.append(abs(content_tiktoken - content_actual) / content_actual)
    return {
        "tokenize_mean_abs_error_pct": round(100 * sum(exact_errors) / len(exact_errors), 2),
        "tiktoken_mean_abs_error_pct": round(100 * sum(tiktoken_errors) / len(tiktoken_errors), 2),
        "tiktoken_max_abs_error_pct": round(100 * max(tiktoken_errors), 2),
        "chat_template_overhead_tokens": template_overhead,
        "tiktoken_content_only_mean_abs_error_pct": round(100 * sum(content_errors) / len(content_errors), 2),
    }


def ledger_cost(n: int = 5_000) -> dict[str, float]:
    rows = [CallRow("bench", {"repo": "o/r", "pr": "1", "team": "t"}, "suites/x.yaml", f"c{i}", "m", "e", 30, 20,
                    cost_usd=0.001, latency_ms=12.0) for i in range(n)]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        batched = Ledger(str(Path(tmp) / "a.sqlite"))
        started = time.perf_counter()
        for i in range(0, n, 256):
            batched.record_calls(rows[i : i + 256])
        t_batched = time.perf_counter() - started
        single = Ledger(str(Path(tmp) / "b.sqlite"))
        started = time.perf_counter()
        for row in rows[:1000]:
            single.record_calls([row])
        t_single = (time.perf_counter() - started) * n / 1000
        conn = sqlite3.connect(Path(tmp) / "c.sqlite", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE t (a TEXT, b REAL, c TEXT, d TEXT, e TEXT, f TEXT, g TEXT, h INTEGER, i INTEGER, "
                     "j INTEGER, k REAL, l REAL, m TEXT)")  # fmt: skip
        values = [
            ("bench", time.time(), "o/r", "1", "t", "s", f"c{i}", 30, 20, 50, 0.001, 12.0, "ok") for i in range(n)
        ]
        started = time.perf_counter()
        for i in range(0, n, 256):
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO t VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", values[i : i + 256])
            conn.execute("COMMIT")
        t_bare = time.perf_counter() - started
    return {
        "ledger_batched_us_per_call": round(t_batched / n * 1e6, 1),
        "ledger_one_transaction_per_call_us": round(t_single / n * 1e6, 1),
        "bare_sqlite_executemany_us_per_row": round(t_bare / n * 1e6, 1),
        "ledger_batched_vs_bare": round(t_batched / t_bare, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=400)
    parser.add_argument("--skip-vllm", action="store_true")
    args = parser.parse_args()
    figures: dict[str, object] = {"overshoot": overshoot(args.cases, seed=7), "goal_overshoot": 0}
    figures["max_overshoot_tokens"] = max(r["overshoot"] for r in figures["overshoot"])  # type: ignore[attr-defined]
    figures["ledger"] = ledger_cost()
    if not args.skip_vllm:
        figures["estimate_error"] = estimate_error()
        figures["goal_estimate_error_pct"] = {"tokenize": 0, "tiktoken": 5}
    save("budget", figures)


if __name__ == "__main__":
    main()
