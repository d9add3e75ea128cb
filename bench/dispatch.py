"""Dispatch-ahead benchmark: how close does ``pytest --helm-eval`` get to the ideal wall time?

N cases go to the vLLM-API double (own process) at latency L with server capacity C. The ideal for the
server part is N/C × L. We run the same suite at latency 0 and at latency L in the same run and report

    ratio = (wall(L) - wall(0)) / (N / C × L)        goal <= 1.10

so pytest start-up, collection and per-item overhead cancel out. The latency-0 run gives the harness's own
cases/s, compared with two baselines: plain pytest running N trivial tests (pytest's own per-item cost) and
a bare aiohttp client sending the same requests (the HTTP floor).

    python bench/dispatch.py [--cases 2000] [--latency 0.05] [--capacity 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import aiohttp
from _common import double_process, run_pytest, save, write_suite


async def _bare_client(endpoint: str, n: int, concurrency: int) -> float:
    slots = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(i: int) -> None:
            body = json.dumps(
                {"model": "double-model", "messages": [{"role": "user", "content": f"question {i}"}], "max_tokens": 16}
            )
            async with slots, session.post(f"{endpoint}/chat/completions", data=body,
                                           headers={"Content-Type": "application/json"}) as resp:  # fmt: skip
                json.loads(await resp.read())

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--capacity", type=int, default=32)
    args = parser.parse_args()
    n, latency, capacity = args.cases, args.latency, args.capacity
    concurrency = str(capacity * 2)
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        write_suite(project, n)
        with double_process("--capacity", str(capacity)) as endpoint:
            bare = asyncio.run(_bare_client(endpoint, n, capacity * 2))
            wall0, proc0 = run_pytest(project, endpoint, ["--helm-eval-concurrency", concurrency])
        with double_process("--capacity", str(capacity), "--latency", str(latency)) as endpoint:
            wall_l, proc_l = run_pytest(project, endpoint, ["--helm-eval-concurrency", concurrency])
        plain = project / "plain"
        plain.mkdir()
        (plain / "test_plain.py").write_text(
            f"import pytest\n\n@pytest.mark.parametrize('i', range({n}))\ndef test_x(i):\n    assert 'question'\n"
        )
        wall_plain, _ = run_pytest(plain, endpoint="http://127.0.0.1:9/v1")
    for proc in (proc0, proc_l):
        if f"{n} passed" not in proc.stdout:
            raise SystemExit(f"expected {n} passed:\n{proc.stdout[-2000:]}")
    ideal = n / capacity * latency
    save(
        "dispatch",
        {
            "cases": n,
            "latency_s": latency,
            "capacity": capacity,
            "wall_latency0_s": round(wall0, 3),
            "wall_latencyL_s": round(wall_l, 3),
            "ideal_s": round(ideal, 3),
            "ratio_wall_over_ideal": round((wall_l - wall0) / ideal, 3),
            "goal_ratio": 1.10,
            "harness_cases_per_s_latency0": round(n / wall0, 1),
            "plain_pytest_tests_per_s": round(n / wall_plain, 1),
            "harness_vs_plain_pytest": round(wall_plain / wall0, 3),
            "bare_aiohttp_requests_per_s": round(n / bare, 1),
            "harness_vs_bare_client": round((n / wall0) / (n / bare), 3),
        },
    )


if __name__ == "__main__":
    main()
