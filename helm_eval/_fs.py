"""Small file-system helpers shared by the ledger and the cache."""

from __future__ import annotations

import os
from pathlib import Path

from helm_eval._errors import StorageError


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) with a ``.gitignore`` of ``*`` so its files are never committed by accident.

    The ``.gitignore`` is written atomically: concurrent runs creating the directory never see half a file.
    """
    if path.is_dir():
        return
    path.mkdir(parents=True, exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        tmp = path / f".gitignore.{os.getpid()}.tmp"
        tmp.write_text("# created by helm-eval\n*\n", encoding="utf-8")
        os.replace(tmp, ignore)


def ensure_writable(path: Path, what: str, fix: str) -> None:
    """Raise ``StorageError`` now if ``path`` (a file written at the end of the run) cannot be written."""
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot write {what} to {path}: {exc.strerror or exc}; {fix}") from None
    if path.is_dir():
        raise StorageError(f"cannot write {what} to {path}: it is a directory; {fix}")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise StorageError(f"cannot write {what} to {path}: permission denied; {fix}")
