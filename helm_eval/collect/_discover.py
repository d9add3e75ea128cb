"""Whether a YAML file found in a directory named on the command line is a suite, and if not, why not."""

from __future__ import annotations

from pathlib import Path

from helm_eval.collect._packs import is_pack_file
from helm_eval.config import HelmEvalError, load_yaml

SUITE_KEYS = ("prompts", "tests", "providers")


def not_a_suite(path: Path, name: str) -> str | None:
    """``None`` when ``path`` looks like a suite or pack (collecting it reports any mistake in it), else the reason.

    A file that does not parse counts as a suite, so its error is reported where it is.
    """
    if is_pack_file(path):
        return None
    try:
        data = load_yaml(path, name)
    except HelmEvalError:
        return None
    if isinstance(data, dict):
        if any(key in data for key in SUITE_KEYS):
            return None
        keys = ", ".join(str(k) for k in list(data)[:5]) or "none"
        return f"{name} is not a suite: it has no prompts, tests or providers (its keys: {keys})"
    kind = "a list (a tests file?)" if isinstance(data, list) else "empty" if data is None else "a single value"
    return f"{name} is not a suite: it holds {kind}, not a mapping with prompts and tests"


def is_tests_list(path: Path) -> bool:
    """Whether a YAML file starts with a list item (a tests file a suite reads with ``file://``, not a suite).

    Reads only up to the first line of content, so every file the suite globs match can be asked cheaply.
    """
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle):
                text = line.strip()
                if number > 1_000:
                    return False
                if not text or text.startswith(("#", "%")) or text == "---":
                    continue
                return text == "-" or text.startswith("- ")
    except OSError:
        return False
    return False
