"""The README's copy-paste blocks cannot drift: each ``<!-- file: PATH -->`` block is that file (which the tests
run), the install blocks name the current release tag and the extras pyproject.toml declares."""

from __future__ import annotations

import re
import tomllib

import pytest

import helm_eval
from tests.release.readme import README, REPO, REPO_URL, blocks

THREE_WAYS_IN = [
    "docs/examples/quickstart.sh",
    "docs/examples/github-workflow.yml",
    "docs/examples/gitlab-ci-include.yml",
]


def test_the_three_ways_in_are_on_the_first_screen() -> None:
    text = README.read_text(encoding="utf-8")
    assert list(blocks("file")) == THREE_WAYS_IN
    first_section = text.split("\n## ")[1]
    assert first_section.startswith("Three ways in")
    assert all(f"<!-- file: {path} -->" in first_section for path in THREE_WAYS_IN)


@pytest.mark.parametrize("path", THREE_WAYS_IN)
def test_a_file_block_is_the_file(path: str) -> None:
    expected = (REPO / path).read_text(encoding="utf-8")
    assert blocks("file")[path] == expected, (
        f"README.md's block under <!-- file: {path} --> differs from {path}: copy it"
    )


def test_install_blocks_are_all_there_and_agree_with_the_quickstart() -> None:
    install = blocks("tested")
    assert list(install) == ["venv", "checkout", "vcs", "wheel", "extras"]
    quickstart = (REPO / THREE_WAYS_IN[0]).read_text(encoding="utf-8").splitlines()
    commands = [line for line in quickstart if line and not line.startswith("#")]
    assert commands[0] == install["venv"].strip()
    assert commands[1] == install["vcs"].strip()


def test_pinned_tags_are_this_version() -> None:
    text = README.read_text(encoding="utf-8")
    tags = set(re.findall(re.escape(REPO_URL) + r"@(v[\w.]+)", text))
    tags |= set(re.findall(re.escape(REPO_URL) + r"@(v[\w.]+)", blocks("file")[THREE_WAYS_IN[0]]))
    assert tags == {f"v{helm_eval.__version__}"}, "bump the README's pinned tag with helm_eval.__version__"


def test_the_extras_named_exist() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    install = README.read_text(encoding="utf-8").split("## Install", 1)[1].split("\n## ", 1)[0]
    named = {name for group in re.findall(r"\[([a-z,]+)\]", install) for name in group.split(",")}
    assert named == {"judges", "postgres"}
    assert named <= set(extras)
