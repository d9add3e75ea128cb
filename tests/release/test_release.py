"""A release builds: one version, read from ``helm_eval.__version__``; ``python -m build`` makes an sdist and a wheel
that carry the guardrail packs, the JSON Schemas and py.typed; ``twine check --strict`` passes on both."""

from __future__ import annotations

import email
import re
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import helm_eval
from helm_eval.cli import SCHEMA_KINDS, schema_text
from tests.release.conftest import REPO, run

DATA_FILES = {
    "helm_eval/py.typed",
    *(f"helm_eval/packs/{p.name}" for p in (REPO / "helm_eval" / "packs").glob("*.yaml")),
    *(f"helm_eval/schemas/{kind}.schema.json" for kind in SCHEMA_KINDS),
}


def _archives(dist: Path) -> tuple[Path, Path]:
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    assert len(wheels) == 1, wheels
    assert len(sdists) == 1, sdists
    return wheels[0], sdists[0]


def test_the_version_has_one_source() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "version" not in project
    assert project["dynamic"] == ["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?", helm_eval.__version__)


def test_archives_are_named_for_the_version(dist: Path) -> None:
    wheel, sdist = _archives(dist)
    assert wheel.name == f"helm_eval-{helm_eval.__version__}-py3-none-any.whl"
    assert sdist.name == f"helm_eval-{helm_eval.__version__}.tar.gz"


def test_wheel_carries_data_files_and_metadata(dist: Path) -> None:
    wheel, _ = _archives(dist)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert names >= DATA_FILES, DATA_FILES - names
        info = f"helm_eval-{helm_eval.__version__}.dist-info"
        metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
        shipped = {kind: archive.read(f"helm_eval/schemas/{kind}.schema.json").decode() for kind in SCHEMA_KINDS}
    assert metadata["Version"] == helm_eval.__version__
    assert set(metadata.get_all("Provides-Extra") or []) >= {"judges", "postgres"}
    requires = metadata.get_all("Requires-Dist") or []
    assert any(r.startswith("deepeval") and 'extra == "judges"' in r for r in requires), requires
    assert any(r.startswith("psycopg") and 'extra == "postgres"' in r for r in requires), requires
    assert "helm_eval = helm_eval.plugin" in entry_points  # the pytest11 plugin
    assert "helm-eval = helm_eval.cli:main" in entry_points
    assert shipped == {kind: schema_text(kind) for kind in SCHEMA_KINDS}


def test_sdist_carries_data_files(dist: Path) -> None:
    _, sdist = _archives(dist)
    prefix = f"helm_eval-{helm_eval.__version__}/"
    with tarfile.open(sdist) as archive:
        names = {name.removeprefix(prefix) for name in archive.getnames()}
    assert names >= {*DATA_FILES, "pyproject.toml", "README.md"}, DATA_FILES - names


def test_twine_check_passes(dist: Path) -> None:
    out = run([sys.executable, "-m", "twine", "check", "--strict", *sorted(dist.iterdir())], cwd=dist)
    assert out.count("PASSED") == 2, out


def test_shipped_schemas_match_the_models() -> None:
    # regenerate with: for k in suite config; do helm-eval schema $k -o helm_eval/schemas/$k.schema.json; done
    for kind in SCHEMA_KINDS:
        shipped = (REPO / "helm_eval" / "schemas" / f"{kind}.schema.json").read_text(encoding="utf-8")
        assert shipped == schema_text(kind), f"helm_eval/schemas/{kind}.schema.json is stale"
