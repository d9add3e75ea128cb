"""A suite's prompts: inline strings, chat lists, ``{id, messages}`` maps, or ``file://`` prompt files.

A ``.txt`` (or ``.md``) file holds prompts separated by a line ``---``; a ``.json`` file holds one chat message
list, which is rendered as a template and then parsed, as promptfoo does (so ``{{ var | dump }}`` puts a JSON
string in place).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from helm_eval.collect._files import is_file_ref, read_text, resolve_refs
from helm_eval.collect._template import Renderer, TemplateProblem
from helm_eval.config import Message, PromptSpec, SuiteError, line_of

_DELIMITER = re.compile(r"^---[ \t]*$", re.MULTILINE)
_TEXT_SUFFIXES = (".txt", ".md", ".j2", ".jinja", ".prompt")


class Prompt:
    """One prompt template: (role, text) messages, or a JSON chat template rendered whole."""

    __slots__ = ("json_template", "label", "line", "messages")

    def __init__(
        self, label: str, line: int | None, messages: list[tuple[str, str]], json_template: str | None = None
    ) -> None:
        self.label = label
        self.line = line
        self.messages = messages
        self.json_template = json_template

    def render(self, renderer: Renderer, variables: dict[str, Any]) -> tuple[dict[str, str], ...]:
        """The messages with ``variables`` filled in; raises ``TemplateProblem``."""
        if self.json_template is None:
            return tuple({"role": role, "content": renderer.render(text, variables)} for role, text in self.messages)
        text = renderer.render(self.json_template, variables)
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            raise TemplateProblem(f"prompt {self.label!r} is not valid JSON once rendered: {reason}") from None
        return _chat(self.label, data)


def load_prompts(
    path: Path, name: str, specs: str | Sequence[str | PromptSpec | list[Message]], data: Any, root: Path | None
) -> list[Prompt]:
    """Every prompt of the suite in order, ``file://`` references replaced by the prompts their files hold."""
    items = [specs] if isinstance(specs, str) else list(specs)
    prompts: list[Prompt] = []
    for index, spec in enumerate(items):
        line = line_of(data, ("prompts", index) if not isinstance(specs, str) else ("prompts",))
        label = f"prompt-{index + 1}"
        ref = spec if isinstance(spec, str) else spec.id if isinstance(spec, PromptSpec) else None
        if is_file_ref(ref) and (not isinstance(spec, PromptSpec) or (spec.prompt is None and not spec.messages)):
            assert ref is not None
            custom = spec.label if isinstance(spec, PromptSpec) else None
            prompts.extend(_from_files(ref, custom, path, name, root, line))
            continue
        if isinstance(spec, str):
            messages = [("user", spec)]
        elif isinstance(spec, list):
            messages = [(m.role, m.content) for m in spec]
        else:
            label = spec.id or spec.label or label
            if (spec.prompt is None) == (spec.messages is None):
                raise SuiteError(name, line, f"prompts[{index}]: give exactly one of prompt or messages")
            messages = (
                [("user", spec.prompt)]
                if spec.prompt is not None
                else [(m.role, m.content) for m in spec.messages or []]
            )
        if not messages:
            raise SuiteError(name, line, f"prompts[{index}]: no messages")
        prompts.append(Prompt(label, line, messages))
    labels = [p.label for p in prompts]
    for label in labels:
        if labels.count(label) > 1:
            raise SuiteError(name, data.line if hasattr(data, "line") else 1, f"two prompts are labelled {label!r}")
    return prompts


def _from_files(
    ref: str, label: str | None, path: Path, name: str, root: Path | None, line: int | None
) -> list[Prompt]:
    prompts: list[Prompt] = []
    for file in resolve_refs(ref, path, name, root, line):
        text = read_text(file, name, line)
        short = PurePosixPath(file.name).name
        suffix = file.path.suffix.lower()
        if suffix == ".json":
            prompts.append(Prompt(label or short, 1, [], json_template=text))
            continue
        if suffix not in _TEXT_SUFFIXES:
            raise SuiteError(
                name,
                line,
                f"{file.name}: cannot read prompts from a {suffix or 'extensionless'} file; use .txt "
                "(prompts separated by a line ---), .md, .j2 or .json (a chat message list)",
            )
        parts = [part.strip() for part in _DELIMITER.split(text)] if suffix == ".txt" else [text.strip()]
        parts = [part for part in parts if part]
        if not parts:
            raise SuiteError(name, line, f"{file.name}: the file holds no prompt")
        for number, part in enumerate(parts, start=1):
            shown = label or short
            prompts.append(Prompt(shown if len(parts) == 1 else f"{shown}:{number}", line, [("user", part)]))
    return prompts


def _chat(label: str, data: Any) -> tuple[dict[str, str], ...]:
    if isinstance(data, str):
        return ({"role": "user", "content": data},)
    if not isinstance(data, list) or not data:
        raise TemplateProblem(f"prompt {label!r}: a JSON prompt is a list of {{role, content}} messages")
    messages = []
    for item in data:
        role = item.get("role") if isinstance(item, dict) else None
        content = item.get("content") if isinstance(item, dict) else None
        if role not in ("system", "user", "assistant") or not isinstance(content, str):
            raise TemplateProblem(
                f"prompt {label!r}: each message needs a role (system, user or assistant) and a string content"
            )
        messages.append({"role": role, "content": content})
    return tuple(messages)
