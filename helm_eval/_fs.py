"""Small file-system helpers shared by the ledger and the cache."""

from __future__ import annotations

import os
from pathlib import Path


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
