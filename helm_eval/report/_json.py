"""Writing and reading the JSON run record."""

from __future__ import annotations

import json
import os
from pathlib import Path

from helm_eval._records import RunRecord


def write_run_record(record: RunRecord, path: Path) -> None:
    """Write ``record`` to ``path`` atomically (a crash never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_run_record(path: Path) -> RunRecord:
    """Read a run record written by ``write_run_record``."""
    return RunRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
