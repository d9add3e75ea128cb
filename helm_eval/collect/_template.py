"""``{{var}}`` templating in a Jinja2 sandbox: suite text can fill in values but never run code.

Nor can it ask for more than ``MAX_RENDER_CHARS`` characters or ``MAX_TEMPLATE_STEPS`` steps (see ``_sandbox``).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from jinja2 import StrictUndefined, TemplateError, UndefinedError

from helm_eval._records import Assertion
from helm_eval.collect._sandbox import (
    MAX_RENDER_CHARS,
    MAX_RENDER_SECONDS,
    MAX_TEMPLATE_STEPS,
    BoundedSandbox,
    TemplateLimit,
)

MAX_TEMPLATE_TAGS = 1_000
"""``{{ }}`` and ``{% %}`` tags one template may hold (compiling takes about a millisecond each)."""
MAX_SUITE_TEMPLATE_STEPS = 5 * MAX_TEMPLATE_STEPS
"""Steps all the renderings of one ``Renderer`` (one suite) may take together."""
MAX_SUITE_RENDER_SECONDS = 5 * MAX_RENDER_SECONDS
"""Time compiling and rendering may take for one ``Renderer`` (one suite), all templates together."""


class TemplateProblem(Exception):
    """A template failed to compile, referenced an undefined variable, or went past a limit."""


class Renderer:
    """Renders templates with a bounded sandboxed Jinja2 environment; compiled templates are cached per text.

    One renderer serves one suite: besides each rendering's limits, its renderings share a budget of
    ``MAX_SUITE_TEMPLATE_STEPS`` steps and ``MAX_SUITE_RENDER_SECONDS``.
    """

    def __init__(self) -> None:
        self._env = BoundedSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        self._cache: dict[str, Any] = {}
        self._steps_left = MAX_SUITE_TEMPLATE_STEPS
        self._seconds_left = MAX_SUITE_RENDER_SECONDS

    def render(self, text: str, variables: dict[str, Any]) -> str:
        """Fill ``{{var}}`` placeholders; text with no template syntax is returned as is."""
        if "{{" not in text and "{%" not in text:
            return text
        template = self._cache.get(text)
        try:
            if template is None:
                template = self._cache[text] = self._compile(text)
            return self._bounded(template, variables)
        except TemplateLimit as exc:
            raise TemplateProblem(f"template refused: {exc}") from None
        except UndefinedError as exc:
            raise TemplateProblem(f"undefined variable: {exc.message}") from None
        except TemplateError as exc:
            raise TemplateProblem(f"template error: {exc.message or exc}") from None
        except MemoryError:
            raise TemplateProblem("template refused: it ran out of memory") from None
        except Exception as exc:  # the sandbox raises SecurityError etc.; all are the suite's fault
            raise TemplateProblem(f"template error: {type(exc).__name__}: {exc}") from None

    def render_value(self, value: Any, variables: dict[str, Any]) -> Any:
        """Render the strings inside an assertion value, however nested in lists and mappings (not mapping keys)."""
        if isinstance(value, str):
            return self.render(value, variables)
        if isinstance(value, list):
            return [self.render_value(v, variables) for v in value]
        if isinstance(value, dict):
            return {k: self.render_value(v, variables) for k, v in value.items()}
        if isinstance(value, tuple):  # an assert-set's nested assertions
            return tuple(self.render_value(v, variables) for v in value)
        if isinstance(value, Assertion):
            return dataclasses.replace(value, value=self.render_value(value.value, variables))
        return value

    def _compile(self, text: str) -> Any:
        tags = text.count("{{") + text.count("{%")
        if tags > MAX_TEMPLATE_TAGS:
            raise TemplateLimit(f"the template has {tags:,} tags; a template may have at most {MAX_TEMPLATE_TAGS:,}")
        if self._seconds_left <= 0:
            raise TemplateLimit(f"the suite's templates take more than {MAX_SUITE_RENDER_SECONDS:g} s in all")
        started = time.monotonic()
        try:
            return self._env.from_string(text)
        finally:
            self._seconds_left -= time.monotonic() - started

    def _bounded(self, template: Any, variables: dict[str, Any]) -> str:
        suite_steps, suite_seconds = MAX_SUITE_TEMPLATE_STEPS, MAX_SUITE_RENDER_SECONDS
        self._env.begin(
            min(MAX_TEMPLATE_STEPS, self._steps_left),
            min(MAX_RENDER_SECONDS, self._seconds_left),
            f"the template would take more than {MAX_TEMPLATE_STEPS:,} steps (loop iterations, calls, ...)"
            if self._steps_left > MAX_TEMPLATE_STEPS
            else f"the suite's templates take more than {suite_steps:,} steps in all (loop iterations, calls, ...)",
            f"the template would take more than {MAX_RENDER_SECONDS:g} s"
            if self._seconds_left > MAX_RENDER_SECONDS
            else f"the suite's templates take more than {suite_seconds:g} s in all",
        )
        started = time.monotonic()
        try:
            parts: list[str] = []
            total = 0
            for chunk in template.generate(variables):
                total += len(chunk)
                if total > MAX_RENDER_CHARS:
                    raise TemplateLimit(f"the template renders more than {MAX_RENDER_CHARS:,} characters")
                parts.append(chunk)
            return "".join(parts)
        finally:
            self._steps_left -= self._env.steps
            self._seconds_left -= time.monotonic() - started
