"""``WorkerTransport``: requests sent by a helper process, so HTTP does not compete with pytest for the GIL.

pytest runs items on the main thread while the dispatch loop's thread sends calls; with HTTP in-process,
aiohttp's work per call (~0.5 ms of interpreter time: headers, parsing, buffers) is taken from the items.
The worker (``python -m helm_eval._http``) does that work on another core; this side writes a frame per request
and reads a frame per answer.

The worker starts when the transport is made (``spawn``), so it loads while pytest collects. If it exits,
every request it held fails as ``ConnectionLost`` (the server may have answered) with the worker's last words,
and the next request starts a new one, up to ``MAX_RESTARTS`` times in a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from helm_eval._http._frames import (
    CANCEL,
    LOST,
    NOT_CONNECTED,
    REPLY,
    REQUEST,
    TIMEOUT,
    FrameReader,
    encode,
    encode_meta,
    frame,
)
from helm_eval._http._transport import ConnectionLost, NotConnected, Reply

MAX_RESTARTS = 3
"""Times a run starts a new worker after one exited, before requests fail without trying."""
GRACE_S = 10.0
"""Seconds past a request's own timeout this side waits for the worker's answer before giving up on it."""

EXIT_GRACE_S = 5.0
"""Seconds a closed worker has to exit before it is killed."""

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class WorkerTransport:
    """Sends requests through an HTTP worker process; ``request`` and ``close`` run on one event loop."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._out: asyncio.WriteTransport | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._pending: dict[int, asyncio.Future[Reply]] = {}
        self._ids = itertools.count(1)
        self._starts = 0
        self._closed = False
        self._metas: dict[tuple[str, str, tuple[tuple[str, str], ...], float], bytes] = {}

    def spawn(self) -> None:
        """Start the worker process now (from any thread) unless one runs; its pipes join the loop on first use."""
        if self._proc is not None:
            return
        self._starts += 1
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (open while the worker lives; closed in close())
        env = dict(os.environ)
        # the worker imports helm_eval from where this process did, installed or not
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "helm_eval._http"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            close_fds=True,
        )

    async def _connect(self) -> None:
        if self._out is not None:
            return
        if self._connecting is not None:
            return await asyncio.shield(self._connecting)
        if self._proc is None:
            if self._closed:
                raise NotConnected("the run closed its HTTP worker")
            if self._starts > MAX_RESTARTS:
                raise NotConnected(f"the HTTP worker process exited {self._starts} times; not starting it again")
            self.spawn()
        proc = self._proc
        assert proc is not None
        assert proc.stdin is not None
        assert proc.stdout is not None
        loop = asyncio.get_running_loop()
        self._connecting = loop.create_future()
        try:
            reader = FrameReader()
            await loop.connect_read_pipe(lambda: _Answers(self, reader, proc), proc.stdout)
            self._out, _ = await loop.connect_write_pipe(asyncio.Protocol, proc.stdin)
            self._connecting.set_result(None)
        except BaseException as exc:
            self._connecting.set_exception(exc)
            self._connecting.exception()  # raised to this caller; others waiting see it too
            raise
        finally:
            self._connecting = None

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> Reply:
        """Send one request through the worker; see ``Transport.request``."""
        await self._connect()
        out = self._out
        assert out is not None
        loop = asyncio.get_running_loop()
        request_id = next(self._ids)
        future: asyncio.Future[Reply] = loop.create_future()
        self._pending[request_id] = future
        key = (method, url, tuple(headers.items()), timeout)
        meta = self._metas.get(key)
        if meta is None:  # every call to an endpoint has the same: encode it once
            meta = self._metas[key] = encode_meta([method, url, dict(headers), timeout])
        out.write(frame(request_id, REQUEST, meta, body or b""))
        # the worker enforces the timeout; this only covers a worker that stopped answering without exiting
        guard = loop.call_later(timeout + GRACE_S, self._give_up, request_id, timeout)
        try:
            return await future
        except asyncio.CancelledError:
            if self._pending.pop(request_id, None) is not None and not out.is_closing():
                out.write(encode(request_id, CANCEL))
            raise
        finally:
            guard.cancel()

    def _give_up(self, request_id: int, timeout: float) -> None:
        future = self._pending.pop(request_id, None)
        if future is not None and not future.done():
            future.set_exception(TimeoutError(f"no answer within {timeout:g} s"))
            if self._out is not None and not self._out.is_closing():
                self._out.write(encode(request_id, CANCEL))

    def answered(self, request_id: int, kind: int, meta: object, body: bytes) -> None:
        """Settle the request an answer frame is for (ignored when it was cancelled meanwhile)."""
        future = self._pending.pop(request_id, None)
        if future is None or future.done():
            return
        if kind == REPLY:
            assert isinstance(meta, list)
            status, retry_after = meta
            future.set_result(Reply(int(status), body, retry_after))
        elif kind == TIMEOUT:
            future.set_exception(TimeoutError())
        elif kind == NOT_CONNECTED:
            future.set_exception(NotConnected(str(meta)))
        else:  # LOST, or a kind this side does not know
            future.set_exception(ConnectionLost(str(meta) if kind == LOST else f"unknown answer kind {kind}"))

    def exited(self, proc: subprocess.Popen[bytes]) -> None:
        """The worker's stdout closed: fail what it held and forget it, so the next request starts a new one."""
        if proc is not self._proc:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2)  # its stdout closed: it is exiting
        reason = f"the HTTP worker process exited (status {proc.returncode})" + self._last_words()
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(ConnectionLost(reason))
        if self._out is not None:
            self._out.close()
        self._out = None
        self._proc = None

    def _last_words(self) -> str:
        if self._stderr is None:
            return ""
        with contextlib.suppress(OSError):
            self._stderr.seek(0)
            lines = [line for line in self._stderr.read().decode("utf-8", "replace").splitlines() if line.strip()]
            if lines:
                return f": {lines[-1].strip()[:300]}"
        return ""

    async def close(self) -> None:
        """Close the worker's stdin (it finishes and exits on its own), fail anything still pending.

        The run does not wait for the worker to exit (~0.1 s of interpreter shutdown at the end of every run): a
        daemon thread reaps it, and kills it if it is still there after ``EXIT_GRACE_S``.
        """
        proc, out = self._proc, self._out
        self._proc, self._out, self._closed = None, None, True
        if out is not None:
            out.close()
        elif proc is not None and proc.stdin is not None:
            proc.stdin.close()
        if proc is not None:
            threading.Thread(target=_reap, args=(proc,), name="helm-eval-http-reaper", daemon=True).start()
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(ConnectionLost("the run closed its HTTP worker"))
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def _reap(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(timeout=EXIT_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class _Answers(asyncio.Protocol):
    def __init__(self, owner: WorkerTransport, reader: FrameReader, proc: subprocess.Popen[bytes]) -> None:
        self._owner = owner
        self._reader = reader
        self._proc = proc

    def data_received(self, data: bytes) -> None:
        for answer in self._reader.feed(data):
            self._owner.answered(answer.id, answer.kind, answer.meta, answer.body)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner.exited(self._proc)
