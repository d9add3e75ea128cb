"""Start, wait for and stop a vLLM OpenAI-compatible server in a child process group."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from helm_eval.serve._launcher import KILL_GRACE_ENV, PARENT_PID_ENV
from helm_eval.serve._locate import (
    ServerStartError,
    check_port_free,
    find_free_port,
    find_vllm_python,
    is_vllm_cpu,
)

CPU_ENV: Mapping[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_NO_USAGE_STATS": "1",
}
"""Environment set for vllm-cpu unless the caller's environment already sets the variable."""

CPU_ARGS: Sequence[tuple[str, str | None]] = (
    ("--max-model-len", "1024"),
    ("--dtype", "bfloat16"),
    ("--enforce-eager", None),
)
"""vLLM flags added for vllm-cpu unless ``extra_args`` already has the flag (or its ``--no-`` form)."""

LOG_TAIL_LINES = 40


def _has_flag(args: Sequence[str], flag: str) -> bool:
    negated = "--no-" + flag[2:]
    return any(a in (flag, negated) or a.startswith((flag + "=", negated + "=")) for a in args)


def _flag_value(args: Sequence[str], flag: str) -> str | None:
    for i, arg in enumerate(args):
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
    return None


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """Return the last ``lines`` lines of the text file at ``path`` ('' if it cannot be read)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 256 * 1024))
            data = fh.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


class VLLMServer:
    """A vLLM OpenAI-compatible server in its own process group; a context manager.

    ``with VLLMServer(path) as server:`` starts vLLM, waits until the model is listed on ``/v1/models``
    and stops the whole process group on exit. The server also stops at interpreter exit and, through the
    launcher's watchdog, when this process dies without cleaning up (SIGKILL included).

    ``cpu=None`` detects ``vllm-cpu`` and then adds CPU defaults (``CPU_ENV``, ``CPU_ARGS``) that
    ``extra_args`` and the environment can override.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        served_model_name: str | None = None,
        extra_args: Sequence[str] = (),
        python: str | None = None,
        ready_timeout: float = 300.0,
        log_path: Path | None = None,
        cpu: bool | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.model = str(model)
        self.host = host
        self.port = port
        self.extra_args = tuple(extra_args)
        self.served_model_name = served_model_name or _flag_value(self.extra_args, "--served-model-name") or self.model
        self.python = python
        self.ready_timeout = ready_timeout
        self.log_path = log_path
        self.cpu = cpu
        self.env = dict(env or {})
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, e.g. ``http://127.0.0.1:8011/v1``."""
        if self.port is None:
            raise ServerStartError("vllm server has no port yet: call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        """The launcher's pid (also the process-group id), or None before start and after stop."""
        return self._proc.pid if self._proc is not None else None

    def command(self) -> list[str]:
        """Return the command line :meth:`start` runs; resolves python, port and CPU mode if unset."""
        if self.python is None:
            self.python = find_vllm_python()
        if self.port is None:
            self.port = find_free_port(self.host)
        if self.cpu is None:
            self.cpu = is_vllm_cpu(self.python)
        launcher = Path(__file__).with_name("_launcher.py")
        args = [
            self.python,
            str(launcher),
            "serve",
            self.model,
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        if not _has_flag(self.extra_args, "--served-model-name"):
            args += ["--served-model-name", self.served_model_name]
        if self.cpu:
            for flag, value in CPU_ARGS:
                if not _has_flag(self.extra_args, flag):
                    args += [flag] if value is None else [flag, value]
        return [*args, *self.extra_args]

    def start(self) -> None:
        """Start vLLM in a new process group, logging to :attr:`log_path`; does not wait for readiness."""
        if self._proc is not None:
            raise ServerStartError(f"vllm server already started (pid {self._proc.pid})")
        cmd = self.command()
        assert self.port is not None
        check_port_free(self.host, self.port)
        env = dict(os.environ)
        if self.cpu:
            for key, value in CPU_ENV.items():
                env.setdefault(key, value)
        env.update(self.env)
        env[PARENT_PID_ENV] = str(os.getpid())
        env.setdefault(KILL_GRACE_ENV, "5")
        env.setdefault("PYTHONUNBUFFERED", "1")
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix=f"helm-eval-vllm-{self.port}-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            log.write(f"$ {' '.join(cmd)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        atexit.register(self.stop)

    def _get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        url = self.base_url.removesuffix("/v1") + path
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                return int(resp.status), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, b""
        except (OSError, ValueError):
            return 0, b""

    def _model_listed(self) -> bool:
        status, body = self._get("/v1/models")
        if status != 200:
            return False
        try:
            data = json.loads(body).get("data", [])
        except (ValueError, AttributeError):
            return False
        return any(isinstance(m, dict) and m.get("id") == self.served_model_name for m in data)

    def _failure(self, reason: str) -> ServerStartError:
        log = tail(self.log_path) if self.log_path else ""
        shown = f"\n--- last {LOG_TAIL_LINES} lines of {self.log_path} ---\n{log}" if log else ""
        return ServerStartError(f"vllm server for {self.model!r} {reason}{shown}")

    def wait_ready(self, timeout: float | None = None, interval: float = 0.5) -> None:
        """Block until ``/health`` answers 200 and ``/v1/models`` lists the model.

        Raises :class:`ServerStartError` with the log's tail when the process exits first or ``timeout``
        (default :attr:`ready_timeout`) passes; on timeout the server is stopped.
        """
        if self._proc is None:
            raise ServerStartError("vllm server not started: call start() first")
        limit = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        healthy = False
        while True:
            code = self._proc.poll()
            if code is not None:
                self.stop()
                raise self._failure(f"exited with code {code} before becoming ready")
            healthy = healthy or self._get("/health")[0] == 200
            if healthy and self._model_listed():
                return
            if time.monotonic() >= deadline:
                self.stop()
                what = "listed the model" if healthy else "answered /health"
                raise self._failure(f"never {what} within {limit:g} s")
            time.sleep(interval)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL what is left after ``grace`` seconds, and wait; idempotent."""
        proc, self._proc = self._proc, None
        atexit.unregister(self.stop)
        if proc is None:
            return
        pgid = proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        proc.wait()
        wait_group_gone(pgid, timeout=5.0)

    def __enter__(self) -> VLLMServer:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def wait_group_gone(pgid: int, timeout: float) -> bool:
    """Poll until no process is left in group ``pgid`` (init reaps orphans); return whether it is gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        time.sleep(0.05)
    return False
