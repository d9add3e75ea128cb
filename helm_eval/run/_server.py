"""The vLLM server of ``--helm-eval-serve``: started with the session, loading while pytest collects.

The session's default endpoint points at it; pytest-xdist workers are handed its address instead of starting
their own (``_xdist.py``). vLLM's launch code is imported only when a server is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from helm_eval.config import HelmEvalError
from helm_eval.pipeline import RunSettings
from helm_eval.plan import Overrides

if TYPE_CHECKING:
    from helm_eval.serve import VLLMServer


def point_at(settings: RunSettings, url: str, model: str | None) -> None:
    """Send every call of the default endpoint to ``url`` (and request ``model``)."""
    overrides = settings.overrides
    settings.overrides = Overrides(url, model, overrides.concurrency, overrides.timeout)


class ServedModel:
    """One vLLM process serving ``--helm-eval-serve MODEL`` for the session."""

    def __init__(self, server: VLLMServer) -> None:
        self._server: VLLMServer | None = server

    @classmethod
    def start(cls, model: str, settings: RunSettings) -> ServedModel:
        """Start vLLM now (it loads while pytest collects); the default endpoint points at it.

        Raises ``HelmEvalError`` naming the option when the model cannot be prepared or the process not started.
        """
        from helm_eval.serve import ModelPrepError, ServerStartError, VLLMServer, resolve_model, serve_args

        try:
            path, name = resolve_model(model)
            server = VLLMServer(path, served_model_name=name, extra_args=serve_args(model))
            server.start()
        except (ServerStartError, ModelPrepError, ValueError, OSError) as exc:
            raise HelmEvalError(f"--helm-eval-serve {model}: {exc}") from None
        point_at(settings, server.base_url, name)
        return cls(server)

    @property
    def base_url(self) -> str | None:
        """The OpenAI-compatible base URL, ``None`` once stopped."""
        return self._server.base_url if self._server is not None else None

    def wait_ready(self) -> None:
        """Block until the server answers; a server that never does is stopped and ``HelmEvalError`` raised."""
        if self._server is None:
            return
        from helm_eval.serve import ServerStartError

        try:
            self._server.wait_ready()
        except ServerStartError as exc:
            self.stop()
            raise HelmEvalError(f"vLLM did not start: {exc}") from None

    def stop(self) -> None:
        """Stop the process (again: a no-op)."""
        if self._server is not None:
            self._server.stop()
            self._server = None
