"""Run a real vLLM server from Python: find vLLM, prepare a model without a hub, start and stop the server.

Nothing here imports vLLM or torch: vLLM runs in its own interpreter (see :func:`find_vllm_python`).
"""

from __future__ import annotations

from helm_eval.serve._digest import weights_digest
from helm_eval.serve._locate import ServerStartError, default_vllm_venv, find_vllm_python
from helm_eval.serve._models import (
    KNOWN_MODELS,
    ModelPrepError,
    default_models_dir,
    prepare_model,
    resolve_model,
    serve_args,
)
from helm_eval.serve._server import VLLMServer

__all__ = [
    "KNOWN_MODELS",
    "ModelPrepError",
    "ServerStartError",
    "VLLMServer",
    "default_models_dir",
    "default_vllm_venv",
    "find_vllm_python",
    "prepare_model",
    "resolve_model",
    "serve_args",
    "weights_digest",
]
