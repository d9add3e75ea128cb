"""``{{var}}`` templating in a Jinja2 sandbox: suite text can fill in values but never run code."""

from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined, TemplateError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment


class TemplateProblem(Exception):
    """A template failed to compile or referenced an undefined variable."""


class Renderer:
    """Renders templates with a sandboxed Jinja2 environment; compiled templates are cached per text."""

    def __init__(self) -> None:
        self._env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        self._cache: dict[str, Any] = {}

    def render(self, text: str, variables: dict[str, Any]) -> str:
        """Fill ``{{var}}`` placeholders; text with no template syntax is returned as is."""
        if "{{" not in text and "{%" not in text:
            return text
        template = self._cache.get(text)
        try:
            if template is None:
                template = self._cache[text] = self._env.from_string(text)
            return str(template.render(variables))
        except UndefinedError as exc:
            raise TemplateProblem(f"undefined variable: {exc.message}") from None
        except TemplateError as exc:
            raise TemplateProblem(f"template error: {exc.message or exc}") from None
        except Exception as exc:  # the sandbox raises SecurityError etc.; all are the suite's fault
            raise TemplateProblem(f"template error: {type(exc).__name__}: {exc}") from None

    def render_value(self, value: Any, variables: dict[str, Any]) -> Any:
        """Render strings inside an assertion value (strings, lists of strings); other values pass through."""
        if isinstance(value, str):
            return self.render(value, variables)
        if isinstance(value, list):
            return [self.render_value(v, variables) for v in value]
        return value
