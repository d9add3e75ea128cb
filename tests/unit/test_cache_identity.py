"""A cached answer cannot outlive its model: weights identity in the key, a TTL, pruning, and replay-only runs."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest

from helm_eval import Call
from helm_eval.dispatch import Endpoint
from helm_eval.serve import weights_digest

SUITE = """
    prompts: ["Say {{word}}"]
    defaultTest: {options: {temperature: 0, max_tokens: 8}}
    tests:
      - {id: a, vars: {word: alpha}, assert: [{type: contains, value: alpha}]}
      - {id: b, vars: {word: beta}, assert: [{type: contains, value: beta}]}
"""


def write_safetensors(path: Path, tensors: dict[str, bytes]) -> None:
    """A minimal safetensors file: 8-byte header length, JSON header, then the tensors' bytes."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, data in tensors.items():
        header[name] = {"dtype": "U8", "shape": [len(data)], "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + b"".join(tensors.values()))


def model_dir(path: Path, fill: int = 1) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}')
    (path / "tokenizer.json").write_text('{"model": {"vocab": {}}}')
    write_safetensors(path / "model.safetensors", {"embed": bytes([fill]) * 40_000, "norm": b"\x01" * 64})
    return path


def call(**changes: Any) -> Call:
    fields: dict[str, Any] = {
        "endpoint": "e",
        "base_url": "http://127.0.0.1:9/v1",
        "model": "m",
        "messages": ({"role": "user", "content": "hi"},),
        "params": {"temperature": 0, "max_tokens": 8},
    }
    return Call(**{**fields, **changes})


def endpoint(**changes: Any) -> Endpoint:
    return Endpoint(**{"name": "e", "base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key": None,
                       "max_concurrency": 1, "timeout": 5.0, **changes})  # fmt: skip


# -- the weights digest ---------------------------------------------------------------------------------------


def test_the_digest_follows_the_weights_not_their_place_or_age(tmp_path: Path) -> None:
    original = weights_digest(model_dir(tmp_path / "a"))
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "a", copy)  # new mtimes, another path
    (copy / ".helm-eval-complete").write_text("{}")
    (copy / "README.md").write_text("notes")
    assert weights_digest(copy) == original
    assert weights_digest(model_dir(tmp_path / "tuned", fill=2)) != original  # same names, shapes and sizes


@pytest.mark.parametrize(
    "change",
    [
        lambda d: (d / "config.json").write_text('{"architectures": ["Other"]}'),
        lambda d: (d / "generation_config.json").write_text('{"temperature": 0.6}'),
        lambda d: (d / "tokenizer.json").write_text('{"model": {"vocab": {"a": 1}}}'),
        lambda d: write_safetensors(d / "model.safetensors", {"embed": b"\x01" * 40_000, "norm": b"\x02" * 64}),
    ],
    ids=["config", "generation-config", "tokenizer", "one-small-tensor"],
)
def test_the_digest_changes_with_what_vllm_loads(tmp_path: Path, change: Any) -> None:
    directory = model_dir(tmp_path / "m")
    before = weights_digest(directory)
    change(directory)
    assert weights_digest(directory) != before


def test_a_change_in_the_middle_of_a_tensor_is_seen(tmp_path: Path) -> None:
    directory = model_dir(tmp_path / "m")
    before = weights_digest(directory)
    weights = bytearray((directory / "model.safetensors").read_bytes())
    header = 8 + struct.unpack("<Q", weights[:8])[0]
    weights[header + 20_000] ^= 0xFF  # the middle window of the 40 kB tensor
    (directory / "model.safetensors").write_bytes(weights)
    assert weights_digest(directory) != before
