"""A fast digest of a model directory: what makes an answer this model's, without reading gigabytes.

Every top-level file that can change what vLLM serves is covered: configs, tokenizer files, chat template and
weight indexes in full; ``*.safetensors`` by size, header (every tensor's name, dtype, shape and offsets) and the
first, middle and last 4 KiB of every tensor's data; other weight files (``.bin``, ``.gguf``, ...) by size and 64
evenly spaced 64 KiB windows. A fine-tune, a merged adapter or a re-quantization rewrites every tensor it
touches, so it changes the digest; an edit confined to bytes never read (a few values in the middle of one
tensor) does not -- state a ``revision`` for such a model. No mtimes: a copy of the same weights on another CI
runner has the same digest, so its cache stays warm.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Protocol

DIGEST_VERSION = 1
"""Bumped whenever what the digest reads changes (the digest is part of every cache key)."""

TENSOR_WINDOW = 4096
"""Bytes read at the start, middle and end of each safetensors tensor."""

FILE_WINDOWS = 64
FILE_WINDOW = 64 * 1024
"""Evenly spaced windows read from a weight file that is not safetensors (or a file too large to read whole)."""

WHOLE_FILE_LIMIT = 64 * 1024 * 1024
"""Non-weight files up to this size are hashed whole (tokenizer.json is a few MB)."""

WEIGHT_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".gguf", ".ckpt", ".h5", ".msgpack", ".onnx", ".npz"})
_SAFETENSORS_HEADER_LIMIT = 100 * 1024 * 1024  # the format's own cap


class _Sink(Protocol):
    def update(self, data: bytes, /) -> None: ...


def weights_digest(directory: Path) -> str:
    """``sha256:<hex>`` over the files of ``directory`` that vLLM loads; raises ``OSError`` if it cannot read.

    Dotfiles (helm-eval's own completion marker among them), READMEs and licence files are left out: they do
    not change an answer.
    """
    total = hashlib.sha256(f"helm-eval weights v{DIGEST_VERSION}\n".encode())
    files = sorted(p for p in directory.iterdir() if _counts(p))
    if not files:
        raise OSError(f"{directory}: no model files")
    for path in files:
        total.update(f"{path.name}\0".encode())
        total.update(_file_digest(path))
    return f"sha256:{total.hexdigest()}"


def _counts(path: Path) -> bool:
    name = path.name
    if name.startswith(".") or name.lower().startswith(("readme", "license", "licence", "notice")):
        return False
    return path.suffix.lower() != ".md" and path.is_file()


def _file_digest(path: Path) -> bytes:
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        part = hashlib.sha256(struct.pack("<Q", size))
        suffix = path.suffix.lower()
        if suffix == ".safetensors" and _safetensors(fh.fileno(), size, part):
            return part.digest()
        if suffix in WEIGHT_SUFFIXES or size > WHOLE_FILE_LIMIT:
            _windows(fh.fileno(), size, part)
        else:
            part.update(fh.read())
    return part.digest()


def _safetensors(fd: int, size: int, part: _Sink) -> bool:
    """Hash the header and samples of every tensor; ``False`` when the file is not valid safetensors."""
    prefix = os.pread(fd, 8, 0)
    if len(prefix) < 8:
        return False
    (length,) = struct.unpack("<Q", prefix)
    if length > min(_SAFETENSORS_HEADER_LIMIT, size - 8):
        return False
    header_bytes = os.pread(fd, length, 8)
    try:
        header = json.loads(header_bytes)
        spans = sorted(
            (int(info["data_offsets"][0]), int(info["data_offsets"][1]))
            for name, info in header.items()
            if name != "__metadata__"
        )
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return False
    part.update(header_bytes)
    base = 8 + length
    for begin, end in spans:
        for offset, count in _tensor_windows(end - begin):
            part.update(os.pread(fd, count, base + begin + offset))
    return True


def _tensor_windows(length: int) -> list[tuple[int, int]]:
    if length <= 3 * TENSOR_WINDOW:
        return [(0, max(length, 0))]
    middle = (length - TENSOR_WINDOW) // 2
    return [(0, TENSOR_WINDOW), (middle, TENSOR_WINDOW), (length - TENSOR_WINDOW, TENSOR_WINDOW)]


def _windows(fd: int, size: int, part: _Sink) -> None:
    if size <= FILE_WINDOWS * FILE_WINDOW:
        part.update(os.pread(fd, size, 0))
        return
    step = (size - FILE_WINDOW) // (FILE_WINDOWS - 1)
    for index in range(FILE_WINDOWS):
        part.update(os.pread(fd, FILE_WINDOW, index * step))
