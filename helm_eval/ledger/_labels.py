"""Attribution labels: repo, pull request, branch, commit, workflow, job — from GitHub, GitLab or git."""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

LABEL_NAMES = ("repo", "pr", "branch", "sha", "workflow", "job", "team")


def ci_labels(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Labels read from the CI environment (GitHub Actions or GitLab CI); empty outside CI."""
    env = os.environ if environ is None else environ
    labels: dict[str, str] = {}
    if env.get("GITHUB_ACTIONS") == "true":
        labels["repo"] = env.get("GITHUB_REPOSITORY", "")
        pr = _github_pr(env)
        if pr:
            labels["pr"] = pr
        labels["branch"] = env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF_NAME", "")
        labels["sha"] = env.get("GITHUB_SHA", "")
        labels["workflow"] = env.get("GITHUB_WORKFLOW", "")
        labels["job"] = env.get("GITHUB_JOB", "")
    elif env.get("GITLAB_CI") == "true":
        labels["repo"] = env.get("CI_PROJECT_PATH", "")
        if env.get("CI_MERGE_REQUEST_IID"):
            labels["pr"] = env["CI_MERGE_REQUEST_IID"]
        labels["branch"] = env.get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME") or env.get("CI_COMMIT_REF_NAME", "")
        labels["sha"] = env.get("CI_COMMIT_SHA", "")
        labels["workflow"] = env.get("CI_PIPELINE_NAME") or env.get("CI_PIPELINE_SOURCE", "")
        labels["job"] = env.get("CI_JOB_NAME", "")
    return {k: v for k, v in labels.items() if v}


def _github_pr(env: Mapping[str, str]) -> str | None:
    path = env.get("GITHUB_EVENT_PATH")
    if path:
        try:
            event = json.loads(Path(path).read_text(encoding="utf-8"))
            number = (event.get("pull_request") or {}).get("number")
            if number is not None:
                return str(int(number))
        except (OSError, ValueError, TypeError, AttributeError):
            pass
    match = re.fullmatch(r"refs/pull/(\d+)/(?:merge|head)", env.get("GITHUB_REF", ""))
    return match.group(1) if match else None


def parse_label_options(values: list[str] | None) -> dict[str, str]:
    """``--helm-eval-label key=value`` options as a dict; raises ``ValueError`` on a malformed one."""
    labels: dict[str, str] = {}
    for value in values or []:
        key, sep, text = value.partition("=")
        if not sep or key not in LABEL_NAMES:
            raise ValueError(f"--helm-eval-label expects KEY=VALUE with KEY one of {', '.join(LABEL_NAMES)}: {value!r}")
        labels[key] = text
    return labels


class CodeOwners:
    """Owners of files from a CODEOWNERS file (the last matching pattern wins, as on GitHub and GitLab)."""

    LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS")

    def __init__(self, rules: list[tuple[str, list[str]]]) -> None:
        self.rules = rules

    @classmethod
    def find(cls, root: Path) -> CodeOwners:
        """Load the first CODEOWNERS file found under ``root``; none gives no owners."""
        for name in cls.LOCATIONS:
            path = root / name
            if path.is_file():
                return cls.parse(path.read_text(encoding="utf-8", errors="replace"))
        return cls([])

    @classmethod
    def parse(cls, text: str) -> CodeOwners:
        """Parse CODEOWNERS text (GitLab ``[Section]`` headers are ignored)."""
        rules = []
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].strip()
            if not line or line.startswith("["):
                continue
            pattern, *owners = line.split()
            rules.append((pattern, owners))
        return cls(rules)

    def owner(self, path: str) -> str | None:
        """The first owner of ``path`` (relative, forward slashes), or ``None``."""
        found: list[str] | None = None
        for pattern, owners in self.rules:
            if _matches(pattern, path):
                found = owners
        return found[0] if found else None


def _matches(pattern: str, path: str) -> bool:
    anchored = pattern.startswith("/")
    pattern = pattern.lstrip("/")
    if pattern.endswith("/"):
        pattern += "**"
    if "/" not in pattern.rstrip("*") and not anchored:
        return any(fnmatch.fnmatchcase(part, pattern) for part in path.split("/")) or fnmatch.fnmatchcase(path, pattern)
    regex = re.escape(pattern).replace(r"\*\*", ".*").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
    return re.fullmatch(regex, path) is not None or re.match(regex + "/", path) is not None
