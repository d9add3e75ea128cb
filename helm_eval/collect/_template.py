"""``{{var}}`` templating in a Jinja2 sandbox: suite text can fill in values but never run code.

Nor can it ask for more than ``MAX_RENDER_CHARS`` characters or ``MAX_TEMPLATE_STEPS`` steps (see ``_sandbox``).
A template whose only syntax is ``{{ name }}`` with string values is filled in directly, and Jinja is imported
only when a template needs it (most suites never do).
"""

from __future__ import annotations

import dataclasses
import keyword
import re
import time
from typing import Any

from helm_eval._records import Assertion
from helm_eval.collect._limits import MAX_RENDER_CHARS, MAX_RENDER_SECONDS, MAX_TEMPLATE_STEPS

MAX_TEMPLATE_TAGS = 1_000
"""``{{ }}`` and ``{% %}`` tags one template may hold (compiling takes about a millisecond each)."""
MAX_SUITE_TEMPLATE_STEPS = 5 * MAX_TEMPLATE_STEPS
"""Steps all the renderings of one ``Renderer`` (one suite) may take together."""
MAX_SUITE_RENDER_SECONDS = 5 * MAX_RENDER_SECONDS
"""Time compiling and rendering may take for one ``Renderer`` (one suite), all templates together."""


_TOO_LONG = f"the template renders more than {MAX_RENDER_CHARS:,} characters"
_PLACEHOLDER = re.compile(r"\{\{ *([A-Za-z_][A-Za-z0-9_]*) *\}\}")
_NOT_PLAIN_NAMES = frozenset(keyword.kwlist).union(
    keyword.softkwlist, ("true", "false", "none", "self", "loop", "super", "caller", "varargs", "kwargs")
)
"""Names Jinja reads as a constant, an operator or a special variable rather than as a lookup in the variables."""


def _plain_parts(text: str) -> list[str] | None:
    """``text`` split into literal text and names (alternately) when its only syntax is ``{{ name }}``, else None.

    Such a template renders each name's value in place of its placeholder; ``Renderer`` fills it in directly when
    every value is a ``str``. Anything else (filters, attributes, ``{%``, ``{#``, whitespace control, a tab or a
    line break inside the braces, a carriage return Jinja would normalise) is left to Jinja.
    """
    if "{%" in text or "{#" in text or "\r" in text:
        return None
    parts: list[str] = []
    start = 0
    while (opening := text.find("{{", start)) >= 0:
        match = _PLACEHOLDER.match(text, opening)
        if match is None or match.group(1) in _NOT_PLAIN_NAMES:
            return None
        parts += (text[start:opening], match.group(1))
        start = match.end()
    parts.append(text[start:])
    return parts


class TemplateProblem(Exception):
    """A template failed to compile, referenced an undefined variable, or went past a limit."""


class Renderer:
    """Renders templates with a bounded sandboxed Jinja2 environment; compiled templates are cached per text.

    One renderer serves one suite: besides each rendering's limits, its renderings share a budget of
    ``MAX_SUITE_TEMPLATE_STEPS`` steps and ``MAX_SUITE_RENDER_SECONDS``.
    """

    def __init__(self) -> None:
        self._env: Any = None  # the Jinja sandbox, made when a template first needs it
        self._cache: dict[str, Any] = {}
        self._plain: dict[str, list[str] | None] = {}
        self._steps_left = MAX_SUITE_TEMPLATE_STEPS
        self._seconds_left = MAX_SUITE_RENDER_SECONDS

    def render(self, text: str, variables: dict[str, Any]) -> str:
        """Fill ``{{var}}`` placeholders; text with no template syntax is returned as is."""
        if "{{" not in text and "{%" not in text:
            return text
        parts = self._plain.get(text)
        if parts is None and text not in self._plain and self._seconds_left > 0 and not self._too_many_tags(text):
            parts = self._plain[text] = _plain_parts(text)
        if parts is not None and all(type(variables.get(name)) is str for name in parts[1::2]):
            return _fill(parts, variables)
        from jinja2 import TemplateError, UndefinedError

        from helm_eval.collect._sandbox import TemplateLimit

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

    @staticmethod
    def _too_many_tags(text: str) -> bool:
        return text.count("{{") + text.count("{%") > MAX_TEMPLATE_TAGS

    def _compile(self, text: str) -> Any:
        from helm_eval.collect._sandbox import BoundedSandbox, TemplateLimit

        if self._env is None:
            from jinja2 import StrictUndefined

            self._env = BoundedSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        if self._too_many_tags(text):
            tags = text.count("{{") + text.count("{%")
            raise TemplateLimit(f"the template has {tags:,} tags; a template may have at most {MAX_TEMPLATE_TAGS:,}")
        if self._seconds_left <= 0:
            raise TemplateLimit(f"the suite's templates take more than {MAX_SUITE_RENDER_SECONDS:g} s in all")
        started = time.monotonic()
        try:
            return self._env.from_string(text)
        finally:
            self._seconds_left -= time.monotonic() - started

    def _bounded(self, template: Any, variables: dict[str, Any]) -> str:
        from helm_eval.collect._sandbox import TemplateLimit

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
                    raise TemplateLimit(_TOO_LONG)
                parts.append(chunk)
            return "".join(parts)
        finally:
            self._steps_left -= self._env.steps
            self._seconds_left -= time.monotonic() - started


def _fill(parts: list[str], variables: dict[str, Any]) -> str:
    """``parts`` (from ``_plain_parts``) rendered, refused at the limits as Jinja in the sandbox would refuse it.

    Jinja yields each literal text and each value in turn: a value over ``MAX_RENDER_CHARS`` is refused as it is
    printed, and the output as soon as it grows past that many characters.
    """
    total = len(parts[0])
    if total > MAX_RENDER_CHARS:
        raise _refused(_TOO_LONG)
    out = [parts[0]]
    for index in range(1, len(parts), 2):
        value: str = variables[parts[index]]
        if len(value) > MAX_RENDER_CHARS:
            raise _refused(
                f"printing a value would build a value of {len(value):,} characters (a template may build at most "
                f"{MAX_RENDER_CHARS:,})"
            )
        literal = parts[index + 1]
        total += len(value)
        if total > MAX_RENDER_CHARS:
            raise _refused(_TOO_LONG)
        total += len(literal)
        if total > MAX_RENDER_CHARS:
            raise _refused(_TOO_LONG)
        out += (value, literal)
    return "".join(out)


def _refused(reason: str) -> TemplateProblem:
    return TemplateProblem(f"template refused: {reason}")
