"""Containing deepeval's side effects; stdlib only, so the plugin can import it at pytest start for free.

deepeval, on import, reads ``.env`` files, sends telemetry and may create ``.deepeval/``; it also registers a
pytest11 plugin that imports all of deepeval at every pytest start (~2-3 s here) and prints a teardown banner.
helm-eval sets the three variables below before it imports deepeval, and in a ``--helm-eval`` run keeps
deepeval's pytest plugin out (blocked before it is imported when helm-eval's plugin loads first, unregistered
otherwise). ``-p no:deepeval`` in ``addopts`` is the zero-cost way that does not depend on plugin load order.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from typing import Any

DEEPEVAL_ENV = {
    "DEEPEVAL_TELEMETRY_OPT_OUT": "1",
    "DEEPEVAL_DISABLE_DOTENV": "1",
    "DEEPEVAL_FILE_SYSTEM": "READ_ONLY",
}
"""Set before deepeval is imported: no telemetry, no ``.env`` reading, no ``.deepeval/`` files."""

PLUGIN_NAME = "deepeval"
"""The name of deepeval's pytest11 entry point."""


def contain_env() -> None:
    """Set ``DEEPEVAL_ENV`` in this process (and the processes it starts), overriding earlier values."""
    os.environ.update(DEEPEVAL_ENV)


def block_pytest_plugin(pluginmanager: Any) -> None:
    """In a ``--helm-eval`` run, keep deepeval's pytest plugin from loading; call while plugins load.

    pytest loads entry-point plugins in distribution order: when helm-eval's comes first, blocking here means
    deepeval is never imported at start-up. Otherwise ``unregister_pytest_plugin`` removes its hooks later.
    """
    if pluginmanager.is_blocked(PLUGIN_NAME) or not _helm_eval_requested(pluginmanager):
        return
    contain_env()
    if pluginmanager.get_plugin(PLUGIN_NAME) is None:
        pluginmanager.set_blocked(PLUGIN_NAME)


def unregister_pytest_plugin(pluginmanager: Any) -> bool:
    """Remove deepeval's pytest plugin if it was loaded anyway; returns whether it was."""
    plugin = pluginmanager.get_plugin(PLUGIN_NAME)
    if plugin is None:
        return False
    pluginmanager.unregister(plugin)
    pluginmanager.set_blocked(PLUGIN_NAME)
    return True


def _helm_eval_requested(pluginmanager: Any) -> bool:
    """Whether ``--helm-eval`` is among the arguments pytest is about to parse (command line or addopts)."""
    config = pluginmanager.get_plugin("pytestconfig")
    if config is None:
        return False
    args = list(config.invocation_params.args)
    args += shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    with contextlib.suppress(ValueError, KeyError):  # the ini is not read yet: the command line decides
        args += list(config.getini("addopts"))
    return any(arg == "--helm-eval" for arg in args)
