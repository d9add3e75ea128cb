"""GitHub Actions: annotations on failing suite lines, job summary, step outputs and a sticky PR comment.

Reads the run record only. Untrusted text (model output, suite text, ids) reaches the log only inside annotation
messages and titles, escaped (``%``, CR, LF; in properties also ``:`` and ``,``) and with control characters made
inert, so it cannot start a workflow command of its own. Files that exist only on GitHub (``GITHUB_OUTPUT``,
``GITHUB_STEP_SUMMARY``) are touched only when the runner set them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from helm_eval._records import CaseResult, RunRecord
from helm_eval._text import inert
from helm_eval.report._figures import Figures, case_name, figures, first_reason, red_cases, warning_cases
from helm_eval.report._http import ApiError, upsert
from helm_eval.report._markdown import COMMENT_LIMIT, SUMMARY_LIMIT, render

#: GitHub shows at most 10 error and 10 warning annotations per step; the rest are dropped silently
MAX_ANNOTATIONS = 10
MESSAGE_LIMIT = 1500
_KEY = re.compile(r"[^A-Za-z0-9_.-]")


def marker(key: str = "report") -> str:
    """The hidden HTML comment that identifies helm-eval's PR comment (one per ``key``)."""
    return f"<!-- helm-eval:{_KEY.sub('-', key)[:60]} -->"


@dataclass(slots=True)
class Published:
    """What ``publish`` did, for the caller's own log line and the tests."""

    annotations: dict[str, int] = field(default_factory=lambda: {"error": 0, "warning": 0})
    not_annotated: int = 0
    summary_written: bool = False
    outputs_written: bool = False
    comment: str = "off"
    """``off``, ``created``, ``updated``, or ``skipped: <reason>`` / ``failed: <reason>`` (never fatal)."""


def _no_command_separators(text: str) -> str:
    """Break every ``::`` with a zero-width space.

    The runner ends a command's properties at the first ``::``, but other parsers (act) at the last one, so a
    ``::`` inside a message could move text into the properties; the text reads the same.
    """
    while "::" in text:
        text = text.replace("::", ":\u200b:")
    return text


def _message(case: CaseResult) -> str:
    text = f"{case_name(case)}: {first_reason(case)}"
    if case.output and case.status in ("failed", "error"):
        text += f"\noutput: {case.output}"
    text = inert(text)
    text = text if len(text) <= MESSAGE_LIMIT else f"{text[:MESSAGE_LIMIT]}… [{len(text) - MESSAGE_LIMIT} more chars]"
    return _no_command_separators(text)


def _title(case: CaseResult, kind: str) -> str:
    return _no_command_separators(inert(f"helm-eval {kind}: {case_name(case)}")[:120])


def annotate(record: RunRecord, out: IO[str]) -> tuple[dict[str, int], int]:
    """Print up to 10 error and 10 warning annotations, most important first; returns (counts, left out)."""
    import github_action_utils as gha

    # against a baseline, new failures come first: they are what the pull request did
    red = sorted(red_cases(record), key=lambda c: c.change not in ("regressed", "added"))
    warn = warning_cases(record)
    counts = {"error": 0, "warning": 0}
    with contextlib.redirect_stdout(out):
        for case in red[:MAX_ANNOTATIONS]:
            kind = {"regressed": "regressed", "still_failing": f"{case.status} (already in the base)"}.get(
                case.change or "", case.status
            )
            gha.error(_message(case), title=_title(case, kind), file=case.file, line=case.line)
            counts["error"] += 1
        budget = record.budget
        room = MAX_ANNOTATIONS
        if budget is not None and budget.exhausted:
            verdict = "fails the check" if budget.fails_check else "warning only"
            gha.warning(f"budget exhausted: {budget.cut} case(s) cut ({verdict})", title="helm-eval budget")
            counts["warning"] += 1
            room -= 1
        for case in warn[:room]:
            kind = "cut" if case.status == "skipped" else "flaky"
            gha.warning(_message(case), title=_title(case, kind), file=case.file, line=case.line)
            counts["warning"] += 1
    left = max(0, len(red) - MAX_ANNOTATIONS) + max(0, len(warn) - room)
    return counts, left


def pr_number(env: Mapping[str, str]) -> int | None:
    """The pull request number from the event payload (``$GITHUB_EVENT_PATH``: ``.pull_request.number``)."""
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return None
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    number = (event.get("pull_request") or {}).get("number") if isinstance(event, dict) else None
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def post_comment(body: str, env: Mapping[str, str], token: str, key: str = "report") -> str:
    """Create or edit in place the PR comment carrying ``marker(key)``; returns ``created``/``updated``.

    Raises ``ApiError`` (403 on a fork's read-only token) or ``LookupError`` when there is no PR.
    """
    number = pr_number(env)
    repo = env.get("GITHUB_REPOSITORY", "")
    if number is None or not repo:
        raise LookupError("not a pull_request event (no .pull_request.number in GITHUB_EVENT_PATH)")
    api = env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    issue = f"{api}/repos/{repo}/issues/{number}/comments"
    outcome, _ = upsert(
        issue,
        issue,
        f"{api}/repos/{repo}/issues/comments/{{id}}",
        headers,
        marker(key),
        body,
        edit_method="PATCH",
        prefer=lambda item: (item.get("user") or {}).get("type") == "Bot",
    )
    return outcome


def _write_outputs(numbers: Figures, report: str, env: Mapping[str, str]) -> bool:
    """Write the step outputs to the file ``env`` names (not whatever ``os.environ`` says).

    Heredoc form with a random delimiter, so a value can never close its own block and set another output.
    """
    path = env.get("GITHUB_OUTPUT")
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as file:
        for name, value in {**numbers.outputs(), "report": report}.items():
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            file.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    return True


def publish(
    record: RunRecord,
    *,
    report_path: str,
    comment: bool,
    token: str | None,
    key: str = "report",
    env: Mapping[str, str] | None = None,
    out: IO[str] | None = None,
    links: Sequence[str] = (),
    annotations: bool = True,
) -> Published:
    """Annotations (unless ``annotations`` is false), outputs, job summary and (``comment``) the sticky PR comment.

    ``links`` are trusted markdown lines (e.g. where the HTML report is) shown under the headline of both.
    ``annotations=False`` is for the shards of a matrix whose report job annotates the merged record: GitHub shows
    every job's annotations on the pull request's diff, so each failure would appear once per job.

    A comment that cannot be posted (fork PR, read-only token, no PR, API down) is noted in the job summary and a
    warning; it never raises.
    """
    env = os.environ if env is None else env
    out = sys.stdout if out is None else out
    result = Published()
    on_github = env.get("GITHUB_ACTIONS") == "true"
    if on_github and token:
        mask(token, out)
    if annotations:
        result.annotations, result.not_annotated = annotate(record, out)
    numbers = figures(record)
    result.outputs_written = on_github and _write_outputs(numbers, report_path, env)
    notes = list(links)
    if result.not_annotated:
        notes.append(f"{result.not_annotated} more failing or warning case(s) than GitHub annotates per step "
                     f"(10 errors, 10 warnings): all failures are listed below.")  # fmt: skip
    if comment:
        result.comment = _comment(record, env, token, key, links)
        if not result.comment.startswith(("created", "updated")):
            notes.append(f"PR comment not posted ({result.comment}); this summary is the report.")
            _warn(out, f"helm-eval: PR comment not posted ({result.comment}); see the job summary")
    summary_path = env.get("GITHUB_STEP_SUMMARY")
    if on_github and summary_path:
        text = render(record, limit=SUMMARY_LIMIT, notes=notes)
        with open(summary_path, "a", encoding="utf-8") as file:
            file.write(text + "\n")
        result.summary_written = True
    return result


def _comment(record: RunRecord, env: Mapping[str, str], token: str | None, key: str, links: Sequence[str]) -> str:
    if not token:
        return "skipped: no token"
    body = render(record, limit=COMMENT_LIMIT, marker=marker(key), notes=links)
    try:
        return post_comment(body, env, token, key)
    except LookupError:
        return "skipped: not a pull request"
    except ApiError as error:
        why = "read-only token, e.g. a fork's pull request" if error.status in (401, 403, 404) else str(error)
        return f"failed: {why}" if not error.status else f"failed: HTTP {error.status}, {why}"


def _warn(out: IO[str], text: str) -> None:
    import github_action_utils as gha

    with contextlib.redirect_stdout(out):
        gha.warning(text, title="helm-eval")


def escape_data(text: str) -> str:
    """Workflow command message escaping: ``%``, CR and LF (so the text stays on the command's one line)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def mask(secret: str, out: IO[str]) -> None:
    """Print ``::add-mask::`` for every line of ``secret``.

    Written by hand: github-action-utils puts a space before the second ``::``, which act does not parse.
    """
    for line in secret.splitlines():
        if line.strip():
            out.write(f"::add-mask::{escape_data(line)}\n")
    out.flush()


def as_json(result: Published) -> dict[str, Any]:
    """``Published`` as a JSON-compatible dict (for ``helm-eval report --json``)."""
    return {
        "annotations": result.annotations,
        "not_annotated": result.not_annotated,
        "summary_written": result.summary_written,
        "outputs_written": result.outputs_written,
        "comment": result.comment,
    }
