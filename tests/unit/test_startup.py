"""pytest without ``--helm-eval`` pays (almost) nothing for the plugin: nothing heavy is imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = ("pydantic", "yaml", "aiohttp", "jinja2", "jsonschema", "rapidfuzz", "tiktoken")

REPORTER = """
import sys

def pytest_unconfigure(config):
    heavy = sorted({m.split(".")[0] for m in sys.modules} & set(%r))
    ours = sorted(m for m in sys.modules if m == "helm_eval" or m.startswith("helm_eval."))
    with open("modules.txt", "w") as out:
        out.write(" ".join(heavy) + "\\n" + " ".join(ours) + "\\n")
"""


def _run(tmp_path: Path, *args: str) -> tuple[list[str], list[str], str]:
    (tmp_path / "test_a.py").write_text("def test_a():\n    pass\n")
    (tmp_path / "conftest.py").write_text(REPORTER % (HEAVY,))
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:deepeval", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    heavy, ours = (tmp_path / "modules.txt").read_text().splitlines()
    return heavy.split(), ours.split(), done.stderr


def test_without_the_flag_the_plugin_imports_nothing_heavy(tmp_path: Path) -> None:
    heavy, ours, importtime = _run(tmp_path)
    assert heavy == []
    assert set(ours) <= {"helm_eval", "helm_eval.plugin", "helm_eval._deepeval"}, ours
    # the same from the interpreter's own import log: no line for any heavy top-level module
    imported = {line.rsplit("|", 1)[-1].strip() for line in importtime.splitlines() if line.startswith("import time")}
    assert not imported & set(HEAVY)


def test_with_the_flag_the_pipeline_is_loaded(tmp_path: Path) -> None:
    (tmp_path / "helm-eval.yaml").write_text("suites: []\n")
    heavy, ours, _ = _run(tmp_path, "--helm-eval", "--helm-eval-endpoint", "http://127.0.0.1:9/v1")
    assert {"pydantic", "yaml"} <= set(heavy)  # the check above can fail: these are what --helm-eval needs
    assert "helm_eval.pipeline" in ours
