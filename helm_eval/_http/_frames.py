"""The HTTP worker's wire format: length-prefixed frames over its stdin and stdout pipes.

A frame is a 13-byte head (request id, kind, length of a small JSON part, length of the body) followed by the
JSON part and the body. Bodies pass as raw bytes: a prompt or an answer is never escaped a second time.

The parent sends ``REQUEST`` (JSON: method, url, headers, timeout; body: the request body) and ``CANCEL``.
The worker answers each request once: ``REPLY`` (JSON: status, Retry-After; body: the response body), or a
failure kind (JSON: the message).
"""

from __future__ import annotations

import json
import struct
from typing import Any, NamedTuple

HEAD = struct.Struct("<IBII")

REQUEST = 1
CANCEL = 2

REPLY = 10
TIMEOUT = 11
NOT_CONNECTED = 12
LOST = 13


class Frame(NamedTuple):
    """One decoded frame."""

    id: int
    kind: int
    meta: Any
    body: bytes


def encode(request_id: int, kind: int, meta: Any = None, body: bytes = b"") -> bytes:
    """One frame's bytes."""
    return frame(request_id, kind, b"" if meta is None else encode_meta(meta), body)


def encode_meta(meta: Any) -> bytes:
    """A frame's JSON part."""
    return json.dumps(meta, separators=(",", ":")).encode()


def frame(request_id: int, kind: int, meta: bytes, body: bytes) -> bytes:
    """One frame's bytes from its JSON part already encoded."""
    return HEAD.pack(request_id, kind, len(meta), len(body)) + meta + body


class FrameReader:
    """Collects bytes as they arrive and returns each complete frame once."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        """Add ``data``; the frames it completes, in order."""
        frames: list[Frame] = []
        buffer = self._buffer
        buffer += data
        start = 0
        size = HEAD.size
        while len(buffer) - start >= size:
            request_id, kind, meta_len, body_len = HEAD.unpack_from(buffer, start)
            end = start + size + meta_len + body_len
            if len(buffer) < end:
                break
            meta_end = start + size + meta_len
            meta = json.loads(bytes(buffer[start + size : meta_end])) if meta_len else None
            frames.append(Frame(request_id, kind, meta, bytes(buffer[meta_end:end])))
            start = end
        if start:
            del buffer[:start]
        return frames
