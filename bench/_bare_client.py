"""The HTTP floor: a bare aiohttp client sending the suite's N chat requests, run as its own process.

    python bench/_bare_client.py BASE_URL N CONCURRENCY

Sends ``question 0`` .. ``question N-1`` (the prompts of ``_common.write_suite``), at most CONCURRENCY at once,
and checks every answer is HTTP 200 with a JSON body. Its whole process wall time (interpreter start, aiohttp
import, the requests) is what a benchmark compares with ``pytest --helm-eval``. It prints ``span S``: seconds
from its first request to its last answer.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp


async def send_all(endpoint: str, n: int, concurrency: int) -> float:
    """Send the N requests; raise on the first answer that is not HTTP 200. Returns the span of the calls."""
    slots = asyncio.Semaphore(concurrency)
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(i: int) -> None:
            body = json.dumps(
                {"model": "double-model", "messages": [{"role": "user", "content": f"question {i}"}], "max_tokens": 16}
            )
            async with slots, session.post(f"{endpoint}/chat/completions", data=body, headers=headers) as resp:
                data = json.loads(await resp.read())
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}: {data}")

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - started


if __name__ == "__main__":
    print(f"span {asyncio.run(send_all(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))):.3f}")
