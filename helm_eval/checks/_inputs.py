"""Input guardrails: scan what a case would send (rendered messages and vars) for secrets and personal data.

A finding blocks the case before any of its calls is planned, so keys and personal data never leave the runner
by accident. A suite lets a finding through with ``guardrails: {inputs: {allow: [...]}}`` naming a family
(``pii``, ``secrets``) or an entity type (``email``, ``aws-access-key-id``, ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from helm_eval._records import Case
from helm_eval.checks._findings import Finding, summary
from helm_eval.checks._pii import ENTITIES, find_pii
from helm_eval.checks._secrets import KINDS, find_secrets
from helm_eval.config import HelmEvalError

FAMILIES = ("pii", "secrets")
ALLOWANCES = (*FAMILIES, *ENTITIES, *KINDS)
"""Every name ``guardrails.inputs.allow`` accepts."""


class InputBlocked(HelmEvalError):
    """Input guardrails found secrets or personal data in what a case or a ``helm_model`` call would send."""

    def __init__(
        self, findings: Sequence[Finding], how_to_allow: str = "guardrails: {{inputs: {{allow: [{}]}}}}"
    ) -> None:
        self.findings = list(findings)
        kinds = ", ".join(dict.fromkeys(f.kind for f in findings))
        super().__init__(
            f"input guardrail blocked the call, nothing was sent: {summary(self.findings)}; "
            f"if this is intended, allow it with {how_to_allow.format(kinds)}"
        )


def unknown_allowances(names: Iterable[str]) -> list[str]:
    """The names in ``names`` that are neither a family nor an entity type."""
    return [name for name in names if name not in ALLOWANCES]


def scan_texts(
    texts: Iterable[tuple[str, str]], allow: Iterable[str] = (), ignore: Iterable[str] = ()
) -> list[Finding]:
    """Findings in ``(where, text)`` pairs, minus the allowed kinds and any value overlapping an ``ignore`` string.

    A value found in several places (a var rendered into a message) is reported once, where it first appears.
    """
    allowed = set(allow)
    pii_kinds = () if "pii" in allowed else tuple(k for k in ENTITIES if k not in allowed)
    secret_kinds = () if "secrets" in allowed else tuple(k for k in KINDS if k not in allowed)
    ignored = [s.casefold() for s in ignore if s]
    found: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    scanned: set[str] = set()  # a var rendered into a message as it is: its findings are already in
    for where, text in texts:
        if text in scanned:
            continue
        scanned.add(text)
        hits = (find_secrets(text, secret_kinds, where=where) if secret_kinds else []) + (
            find_pii(text, pii_kinds, where=where) if pii_kinds else []
        )
        for finding in hits:
            value = finding.value.casefold()
            if (finding.kind, value) in seen or any(s in value or value in s for s in ignored):
                continue
            seen.add((finding.kind, value))
            found.append(finding)
    return found


def scan_inputs(case: Case, allow: Iterable[str] | None = None) -> list[Finding]:
    """Secrets and personal data in the case's vars and rendered messages, minus what the case allows.

    ``allow`` defaults to the case's own ``input_allow``. Canary strings of the case's ``canary`` assertions
    are planted on purpose and are never findings.
    """
    allowed = case.input_allow if allow is None else tuple(allow)
    return scan_texts(_case_texts(case), allowed, _canaries(case))


def _case_texts(case: Case) -> Iterator[tuple[str, str]]:
    yield from _walk("vars", case.vars)
    for index, message in enumerate(case.messages):
        yield f"messages[{index}] ({message.get('role', '?')})", str(message.get("content", ""))
    for index, text in enumerate(case.followups):
        yield f"turns[{index}]", text


def _walk(where: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk(f"{where}.{key}", item)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk(f"{where}[{index}]", item)


def _canaries(case: Case) -> list[str]:
    planted: list[str] = []
    for assertion in case.assertions:
        if assertion.type != "canary":
            continue
        value = assertion.value
        if isinstance(value, str):
            planted.append(value)
        elif isinstance(value, dict) and isinstance(value.get("canary"), str):
            planted.append(value["canary"])
    return planted
