"""``helm-eval init``: start a project.

It writes helm-eval.yaml, an example suite (or points at an existing promptfoo file), the CI file and the
.gitignore lines. It never overwrites a file without ``--force`` and prints the next command to run.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from helm_eval.cli._scaffold import (
    DEFAULT_URL,
    EXAMPLE_SUITE,
    GITIGNORE_LINES,
    SERVE_MODEL,
    config_text,
    endpoint_spec,
    github_workflow,
    gitlab_ci,
    map_promptfoo_providers,
)
from helm_eval.config import ConfigError, load_yaml

EXAMPLE_SUITE_PATH = "suites/example.yaml"
CI_PATHS = {"github": ".github/workflows/helm-eval.yml", "gitlab": ".gitlab-ci.yml"}


@dataclass
class Plan:
    """The files ``init`` would write (relative path → text) and what it has to tell."""

    files: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def add_init_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``helm-eval init``."""
    parser = sub.add_parser(
        "init",
        help="start a project: helm-eval.yaml, an example suite, the CI file, .gitignore lines",
        description="Write helm-eval.yaml, suites/example.yaml (or use an existing promptfoo file with --from), "
        "the GitHub workflow or GitLab CI file (--ci) and the .gitignore lines for .helm-eval/ and reports/. "
        "An existing file is never overwritten without --force.",
    )
    parser.add_argument(
        "--endpoint", metavar="URL", default=None, help=f"the endpoint to evaluate (default {DEFAULT_URL})"
    )
    parser.add_argument("--model", metavar="NAME", default=None, help="model to request (default: the only one served)")
    parser.add_argument(
        "--serve",
        action="store_true",
        help=f"no endpoint: runs start vLLM with the bundled {SERVE_MODEL} (pytest --helm-eval-serve {SERVE_MODEL})",
    )
    parser.add_argument("--ci", choices=sorted(CI_PATHS), default=None, help="also write the CI file")
    parser.add_argument(
        "--from",
        dest="source",
        metavar="PROMPTFOO_CONFIG",
        default=None,
        help="an existing promptfooconfig.yaml: the config's suites point at it and its providers become endpoints",
    )
    parser.add_argument("--force", action="store_true", help="overwrite files that exist")
    parser.add_argument("--dir", default=".", help="the project directory (default: the current one)")
    parser.set_defaults(func=_run_init)


def plan_init(root: Path, args: argparse.Namespace) -> Plan:
    """The files for ``args`` in project ``root``; raises ``ConfigError`` for a promptfoo file it cannot use."""
    plan = Plan()
    suites_input: str | None = None
    if args.source:
        source = Path(args.source)
        source = source if source.is_absolute() else Path.cwd() / source
        try:
            relative = source.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            raise ConfigError(f"--from {args.source}: the promptfoo file must be inside the project ({root})") from None
        if not source.is_file():
            raise ConfigError(f"--from {args.source}: no such file")
        mapped = map_promptfoo_providers(load_yaml(source, relative))
        plan.notes += [f"{relative}: {note}" for note in mapped.notes]
        endpoints = mapped.endpoints
        if args.endpoint or not endpoints:
            endpoints = {"default": endpoint_spec(args.endpoint or DEFAULT_URL, args.model), **endpoints}
        header = f"# suites: the promptfoo file {relative}; endpoints: its providers"
        plan.files["helm-eval.yaml"] = config_text([relative], None if args.serve else endpoints, header=header)
        suites_input = relative
    else:
        endpoints = {"default": endpoint_spec(args.endpoint or DEFAULT_URL, args.model)}
        plan.files["helm-eval.yaml"] = config_text(
            ["suites/**/*.yaml", "suites/**/*.yml"], None if args.serve else endpoints
        )
        plan.files[EXAMPLE_SUITE_PATH] = EXAMPLE_SUITE
    if args.ci == "github":
        plan.files[CI_PATHS["github"]] = github_workflow(serve=args.serve, suites=suites_input)
    elif args.ci == "gitlab":
        plan.files[CI_PATHS["gitlab"]] = gitlab_ci(serve=args.serve, suites=suites_input)
    return plan


def _run_init(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    if not root.is_dir():
        raise ConfigError(f"--dir {args.dir}: no such directory")
    plan = plan_init(root, args)
    existing = [name for name in plan.files if (root / name).exists()]
    if existing and not args.force:
        for name in existing:
            print(f"helm-eval init: {name} exists; not overwritten (use --force to replace it)", file=sys.stderr)
        print("helm-eval init: nothing written", file=sys.stderr)
        return 1
    for name, text in plan.files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        verb = "replaced" if path.exists() else "wrote"
        path.write_text(text, encoding="utf-8")
        print(f"{verb} {name}")
    added = _ignore(root / ".gitignore")
    if added:
        print(f"added to .gitignore: {' '.join(added)}")
    for note in plan.notes:
        print(f"note: {note}")
    print(f"next: {_next_command(args)}")
    return 0


def _ignore(path: Path) -> list[str]:
    """Append the missing ``GITIGNORE_LINES`` to ``path`` (created when absent); the lines it added."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    present = {line.strip().rstrip("/") for line in text.splitlines()} | {
        line.strip().lstrip("/").rstrip("/") for line in text.splitlines()
    }
    missing = [line for line in GITIGNORE_LINES if line.rstrip("/") not in present]
    if missing:
        prefix = "" if not text or text.endswith("\n") else "\n"
        path.write_text(text + prefix + "# helm-eval: ledger, response cache, reports\n" + "\n".join(missing) + "\n",
                        encoding="utf-8")  # fmt: skip
    return missing


def _next_command(args: argparse.Namespace) -> str:
    if args.serve:
        return f"pytest --helm-eval --helm-eval-serve {SERVE_MODEL}"
    return "helm-eval doctor && pytest --helm-eval"
