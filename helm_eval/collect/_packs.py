"""A suite's ``include:`` → the packs it names, each loaded and validated with its own file and line."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helm_eval.config import PACK_PREFIX, PackSpec, SuiteError, line_of, load_yaml, validate

PACK_SUFFIXES = (".pack.yaml", ".pack.yml")
"""A file matched by the suites glob with one of these endings is a pack: validated, but it collects no cases."""

_PACK_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


@dataclass(frozen=True, slots=True)
class Pack:
    """One included pack: the name its errors are reported under, its spec, and its line-aware data."""

    name: str
    spec: PackSpec
    data: Any


def shipped_packs_dir() -> Path:
    """Where the packs shipped with helm-eval live (``helm_eval/packs``, installed with the wheel)."""
    return Path(__file__).resolve().parents[1] / "packs"


def shipped_pack_names() -> list[str]:
    """Names usable as ``helm-eval:<name>``, sorted."""
    return sorted(p.stem for p in shipped_packs_dir().glob("*.yaml"))


def is_pack_file(path: Path) -> bool:
    """Whether ``path`` is named like a pack (``*.pack.yaml``) rather than a suite."""
    return path.name.endswith(PACK_SUFFIXES)


def load_pack(path: Path, name: str) -> Pack:
    """Parse and validate one pack file; problems raise ``SuiteError`` naming the pack file and line."""
    data = load_yaml(path, name)
    if not isinstance(data, dict):
        raise SuiteError(name, getattr(data, "line", 1), "a pack must be a mapping with description and defaultTest")
    return Pack(name, validate(PackSpec, data, name), data)


def load_packs(
    suite_path: Path, suite_name: str, refs: list[str], suite_data: Any, project: Path | None = None
) -> list[Pack]:
    """The packs named by a suite's ``include`` list, in order.

    A reference is a path relative to the suite file or ``helm-eval:<name>``. A path must stay inside
    ``project`` (the rootdir; the suite's own directory when not given) once ``..`` and symlinks are resolved:
    a suite comes from a pull request, and what it includes ends up in errors and reports. One that is outside
    or cannot be found is a ``SuiteError`` at its line in the suite, a malformed pack one at its own file and line.
    """
    root = (project or suite_path.parent).resolve()
    packs: list[Pack] = []
    seen: dict[Path, int] = {}
    for index, ref in enumerate(refs):
        line = line_of(suite_data, ("include", index))
        path, display = _locate(suite_path, suite_name, ref, index, line, root)
        key = path.resolve()
        if key in seen:
            raise SuiteError(suite_name, line, f"include[{index}]: {ref!r} is already included (include[{seen[key]}])")
        seen[key] = index
        packs.append(load_pack(path, display))
    return packs


def _locate(suite_path: Path, suite_name: str, ref: str, index: int, line: int | None, root: Path) -> tuple[Path, str]:
    if ref.startswith(PACK_PREFIX):
        name = ref[len(PACK_PREFIX) :]
        path = shipped_packs_dir() / f"{name}.yaml"
        if not _PACK_NAME.fullmatch(name) or not path.is_file():
            shipped = ", ".join(PACK_PREFIX + n for n in shipped_pack_names()) or "none"
            message = f"include[{index}]: no pack {ref!r} ships with helm-eval; shipped: {shipped}"
            raise SuiteError(suite_name, line, message)
        return path, f"helm_eval/packs/{name}.yaml"
    if not ref.strip():
        raise SuiteError(suite_name, line, f"include[{index}]: empty pack reference")
    try:
        path = (suite_path.parent / ref).resolve()
        inside = path.relative_to(root)
    except (OSError, RuntimeError, ValueError):  # outside, a symlink loop, a NUL byte
        # checked before existence, so a suite cannot probe the runner's files either
        raise SuiteError(
            suite_name,
            line,
            f"include[{index}]: {ref!r} is outside the project; a pack must be a file under the rootdir "
            f"(copy it into the repository) or a shipped pack ({PACK_PREFIX}<name>)",
        ) from None
    display = (
        inside.as_posix()
        if Path(ref).is_absolute()
        else posixpath.normpath(posixpath.join(posixpath.dirname(suite_name), ref))
    )
    if not path.is_file():
        raise SuiteError(
            suite_name,
            line,
            f"include[{index}]: pack file {display!r} not found (a path relative to the suite, or {PACK_PREFIX}<name>)",
        )
    return path, display
