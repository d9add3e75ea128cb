"""The HTTP worker process (``python -m helm_eval._http``): sends the requests its parent writes to its stdin.

It answers on the stdout it was started with; anything else that writes to stdout (a library's print) goes
to stderr instead, so it can never corrupt a frame. It stops when its stdin closes: its parent finished or died.
It ignores Ctrl-C, which the terminal sends to the whole process group: the parent cancels what it decides to.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import sys
from typing import Any

from helm_eval._http._frames import (
    CANCEL,
    LOST,
    NOT_CONNECTED,
    REPLY,
    REQUEST,
    TIMEOUT,
    Frame,
    FrameReader,
    encode,
)
from helm_eval._http._session import SessionTransport
from helm_eval._http._transport import ConnectionLost, NotConnected, without_key


class _Requests(asyncio.Protocol):
    """Reads frames from stdin and runs each request as a task; answers through ``out``."""

    def __init__(self, transport: SessionTransport, out: asyncio.WriteTransport, done: asyncio.Future[None]) -> None:
        self._transport = transport
        self._out = out
        self._done = done
        self._reader = FrameReader()
        self._tasks: dict[int, asyncio.Task[None]] = {}

    def data_received(self, data: bytes) -> None:
        for frame in self._reader.feed(data):
            if frame.kind == REQUEST:
                task = asyncio.get_running_loop().create_task(self._send(frame))
                self._tasks[frame.id] = task
                task.add_done_callback(functools.partial(self._forget, frame.id))
            elif frame.kind == CANCEL and (running := self._tasks.get(frame.id)) is not None:
                running.cancel()

    def _forget(self, request_id: int, _: object) -> None:
        self._tasks.pop(request_id, None)

    def eof_received(self) -> bool:
        self._finish()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish()

    def _finish(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        if not self._done.done():
            self._done.set_result(None)

    async def _send(self, frame: Frame) -> None:
        method, url, headers, timeout = frame.meta
        answer: bytes
        try:
            reply = await self._transport.request(method, url, headers, frame.body or None, timeout)
            answer = encode(frame.id, REPLY, [reply.status, reply.retry_after], reply.body)
        except TimeoutError:
            answer = encode(frame.id, TIMEOUT, "")
        except NotConnected as exc:
            answer = encode(frame.id, NOT_CONNECTED, without_key(str(exc), headers))
        except ConnectionLost as exc:
            answer = encode(frame.id, LOST, without_key(str(exc), headers))
        except asyncio.CancelledError:
            return  # the parent gave up on it and expects no answer
        except Exception as exc:  # a bug here must answer the request, not leave the parent waiting
            answer = encode(frame.id, LOST, without_key(f"{type(exc).__name__}: {exc}", headers))
        if not self._out.is_closing():
            self._out.write(answer)


async def _serve(frames_out: Any) -> None:
    loop = asyncio.get_running_loop()
    out, _ = await loop.connect_write_pipe(asyncio.Protocol, frames_out)
    transport = SessionTransport.open()
    done: asyncio.Future[None] = loop.create_future()
    requests = _Requests(transport, out, done)
    await loop.connect_read_pipe(lambda: requests, sys.stdin.buffer)
    try:
        await done
    finally:
        await transport.close()
        out.close()


def main() -> None:
    """Serve frames until stdin closes."""
    # Ctrl-C reaches the whole process group: the parent decides what it cancels, then closes our stdin
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    frames_out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # stray prints must not land between frames
    sys.stdout = sys.stderr
    asyncio.run(_serve(frames_out))


if __name__ == "__main__":
    main()
