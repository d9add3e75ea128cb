"""A Jinja2 sandbox that bounds work as well as access: suite text comes from pull requests.

Jinja's own sandbox stops a template from reaching Python internals, but not from asking for a
300,000,000-character string (``{{ 'x' * 300000000 }}``) or a loop of 10**10 iterations. This one refuses, before
it happens, any operation that would build a value larger than ``MAX_RENDER_CHARS`` (repetition, padding, format
widths, ``replace``, ``join``, ...), checks the size of every other value a call, filter or concatenation builds
(so repeated doubling stops at the first value over the limit), counts loop iterations, calls and operations
against a step budget (weighted by what they cost: a call more than a loop iteration, work on a long string more
than on a short one), stops a rendering that runs past ``MAX_RENDER_SECONDS`` all the same, and stops the output at
``MAX_RENDER_CHARS``. Lists and dicts cannot be mutated (Jinja's immutable sandbox).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from functools import wraps
from typing import Any

from jinja2 import nodes, pass_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from helm_eval.collect._limits import MAX_INT_BITS, MAX_RENDER_CHARS, MAX_RENDER_SECONDS, MAX_TEMPLATE_STEPS

__all__ = [
    "MAX_INT_BITS",
    "MAX_RENDER_CHARS",
    "MAX_RENDER_SECONDS",
    "MAX_TEMPLATE_STEPS",
    "BoundedSandbox",
    "TemplateLimit",
]

_STEPS_FILTER = "helm_eval_steps"
_SIZE_FILTER = "helm_eval_size"
_FIELD = re.compile(r"\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}")
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


class TemplateLimit(SecurityError):
    """A template would exceed one of the limits above; the message says which and by how much."""


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox used to render suites. Call ``begin()`` before each rendering; not for concurrent use."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=self._finalize, **options)
        self.code_generator_class = _BoundedCodeGenerator
        self.globals.pop("lipsum", None)  # lipsum(n) writes n paragraphs: no place in a prompt
        self.filters["dump"] = _dump  # promptfoo's (nunjucks') JSON filters, which prompt templates rely on
        self.filters["load"] = _load
        self.filters = {name: _bounded_filter(self, name, fn) for name, fn in self.filters.items()}
        self.filters[_STEPS_FILTER] = _counted
        self.filters[_SIZE_FILTER] = _sized
        self._steps = 0
        self._step_limit = MAX_TEMPLATE_STEPS
        self._deadline = float("inf")
        self._too_many = self._too_long = ""

    @property
    def steps(self) -> int:
        """Steps taken since ``begin``."""
        return self._steps

    def begin(self, step_limit: int, seconds: float, too_many: str, too_long: str) -> None:
        """Start a rendering that may take ``step_limit`` steps and ``seconds``; the messages say which ran out."""
        self._steps = 0
        self._step_limit = step_limit
        self._deadline = time.monotonic() + seconds
        self._too_many = too_many
        self._too_long = too_long

    def charge(self, steps: int = 1) -> None:
        """Count ``steps`` against the step limit and check the clock."""
        self._steps += steps
        if self._steps > self._step_limit:
            raise TemplateLimit(self._too_many)
        if time.monotonic() > self._deadline:
            raise TemplateLimit(self._too_long)

    def size(self, value: Any, limit: int = MAX_RENDER_CHARS) -> int:
        """Characters plus items of ``value``, containers walked (each item a step); stops once past ``limit``."""
        if isinstance(value, str | bytes):
            return len(value)
        if not isinstance(value, list | tuple | dict | set | frozenset):
            return 1
        total = 0
        stack: list[Any] = [value]
        while stack and total <= limit:
            item = stack.pop()
            self.charge()
            if isinstance(item, str | bytes):
                total += len(item)
            elif isinstance(item, dict):
                total += 1
                stack.extend(item.keys())
                stack.extend(item.values())
            elif isinstance(item, list | tuple | set | frozenset):
                total += 1
                stack.extend(item)
            else:
                total += 1
        return total

    def refuse_over(self, estimate: int, what: str) -> None:
        """Raise ``TemplateLimit`` when ``what`` would build a value of ``estimate`` (> ``MAX_RENDER_CHARS``)."""
        if estimate > MAX_RENDER_CHARS:
            raise TemplateLimit(
                f"{what} would build a value of {estimate:,} characters (a template may build at most "
                f"{MAX_RENDER_CHARS:,})"
            )

    def checked(self, value: Any, what: str) -> Any:
        """``value``, once its size is known to be within ``MAX_RENDER_CHARS``."""
        self.refuse_over(self.size(value), what)
        return value

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Binary operators that can build huge values are sized before they run."""
        self.charge()
        what = f"{operator!r}"
        if isinstance(left, int) and isinstance(right, int):
            _refuse_big_int(operator, left, right)
        elif operator == "*":
            sequence, times = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(times, int) and isinstance(sequence, str | list | tuple):
                self.refuse_over(self.size(sequence) * max(times, 0), what)
        elif operator == "+":
            if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
                self.refuse_over(self.size(left) + self.size(right), what)
        elif operator == "%" and isinstance(left, str):
            self.refuse_over(self._percent_size(left, right), what)
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Attribute lookups are counted (the sandbox's checks make them costly)."""
        self.charge(8)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """Item lookups are counted like attributes (``x.y`` may be either)."""
        self.charge(8)
        return super().getitem(obj, argument)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Calls are counted, string methods that pad or repeat are sized first, and every result is sized."""
        target = getattr(obj, "__wrapped__", obj)  # str.format arrives wrapped by the sandbox
        owner = getattr(target, "__self__", None)
        name = str(getattr(target, "__name__", "call"))
        self.charge(16 + _work(owner) + sum(_work(a) for a in args))
        if isinstance(owner, str):
            self.refuse_over(self._str_method_size(owner, name, args, kwargs), f"{name}()")
        return self.checked(super().call(context, obj, *args, **kwargs), f"{name}()")

    def _finalize(self, value: Any) -> Any:
        return self.checked(value, "printing a value")

    def _percent_size(self, template: str, values: Any) -> int:
        fields = _PERCENT.findall(template)
        widths = [int(n) for field in fields for n in field if n.isdigit()]
        if any("*" in field for field in fields):
            widths.extend(_ints(values))
        return len(template) + len(fields) * (self.size(values) + max(widths, default=0))

    def _str_method_size(self, text: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
        """How big the result of ``text.<name>(*args, **kwargs)`` may be, for the methods that can amplify."""
        arg = _argument(args, kwargs)
        if name in ("ljust", "rjust", "center", "zfill"):
            return max(len(text), _int(arg(0, "width")))
        if name == "expandtabs":
            return len(text) + text.count("\t") * _int(arg(0, "tabsize", 8))
        if name == "replace":
            old, new, count = arg(0, "old", ""), arg(1, "new", ""), arg(2, "count", -1)
            hits = (text.count(old) if old else len(text) + 1) if isinstance(old, str) else 0
            hits = min(hits, count) if isinstance(count, int) and count >= 0 else hits
            return len(text) + hits * (len(new) if isinstance(new, str) else 0)
        if name == "join":
            items = arg(0, "iterable", ())
            return self.size(items) + len(text) * (len(items) if isinstance(items, Sized) else 1)
        if name in ("format", "format_map"):
            fields = _FIELD.findall(text)
            widths = [int(n) for field in fields for n in re.findall(r"\d+", field.partition(":")[2])]
            if any("{" in field[1:] for field in fields):  # a width from an argument: '{:{w}}'
                widths.extend(_ints([*args, *kwargs.values()]))
            return len(text) + len(fields) * (self.size([*args, *kwargs.values()]) + max(widths, default=0))
        if name == "translate":
            table = arg(0, "table", {})
            longest = max((len(v) for v in table.values() if isinstance(v, str)), default=1)
            return len(text) * max(longest, 1) if isinstance(table, Mapping) else len(text)
        return 0


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles every ``for`` loop to count its iterations and every ``~`` to size its result."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        _Bound(self.environment).visit(node)
        super().visit_Template(node, frame)


class _Bound(NodeTransformer):
    def __init__(self, environment: Any) -> None:
        self.environment = environment

    def _filter(self, node: nodes.Node, name: str, *args: Any) -> nodes.Filter:
        arguments: list[nodes.Expr] = [nodes.Const(a) for a in args]
        wrapped = nodes.Filter(node, name, arguments, [], None, None, lineno=node.lineno)
        wrapped.set_environment(self.environment)
        return wrapped

    def visit_For(self, node: nodes.For) -> nodes.For:
        self.generic_visit(node)
        # an iteration costs one step, plus one per 4 characters of literal text it outputs
        literal = sum(len(data.data) for part in node.body for data in part.find_all(nodes.TemplateData))
        node.iter = self._filter(node.iter, _STEPS_FILTER, 1 + literal // 4)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Filter:
        self.generic_visit(node)
        return self._filter(node, _SIZE_FILTER)


# context-passing, so Jinja's optimizer never runs them at compile time
@pass_context
def _counted(context: Context, iterable: Iterable[Any], weight: int = 1) -> Iterator[Any]:
    env: BoundedSandbox = context.environment  # type: ignore[assignment]
    for item in iterable:
        env.charge(weight)
        yield item


@pass_context
def _sized(context: Context, value: Any) -> Any:
    env: BoundedSandbox = context.environment  # type: ignore[assignment]
    return env.checked(value, "'~'")


def _bounded_filter(env: BoundedSandbox, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` counted as a step, sized first where it can amplify (``center``, ``indent``, ...), its result sized."""
    skip = 1 if hasattr(fn, "jinja_pass_arg") else 0  # a context/environment argument comes before the value

    @wraps(fn)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        env.charge(2 + sum(_work(a) for a in args[skip:]))
        if len(args) > skip:
            env.refuse_over(_filter_size(env, name, args[skip], args[skip + 1 :], kwargs), f"|{name}")
        return env.checked(fn(*args, **kwargs), f"|{name}")

    return bounded


def _filter_size(env: BoundedSandbox, name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    arg = _argument(args, kwargs)
    text = value if isinstance(value, str) else ""
    if name == "center":
        return max(len(text), _int(arg(0, "width", 80)))
    if name == "indent":
        width = arg(0, "width", 4)
        return len(text) + (text.count("\n") + 1) * (len(width) if isinstance(width, str) else _int(width))
    if name == "format":
        return env._percent_size(str(value), kwargs or args)
    if name == "replace":
        return env._str_method_size(text, "replace", args, {"old": "", "new": "", **kwargs})
    if name == "join":
        separator = arg(0, "d", "")
        count = len(value) if isinstance(value, Sized) else 1
        return env.size(value) + count * (len(separator) if isinstance(separator, str) else 1)
    if name == "wordwrap":
        width, wrap = _int(arg(0, "width", 79)), arg(2, "wrapstring", "\n")
        return len(text) + (len(text) // max(width, 1) + 1) * (len(wrap) if isinstance(wrap, str) else 1)
    if name in ("batch", "slice"):
        return (len(value) if isinstance(value, Sized) else 0) + _int(
            arg(0, "linecount" if name == "batch" else "slices")
        )
    if name == "sum" and not isinstance(arg(1, "start", 0), int | float):
        # adding lists copies the running total each time: the work grows with items x size
        return (len(value) if isinstance(value, Sized) else 1) * env.size(value) // 100
    return 0


def _dump(value: Any, indent: int | None = None) -> str:
    """``{{ x | dump }}``: ``x`` as JSON (non-ASCII kept as is, like ``JSON.stringify``)."""
    return json.dumps(value, ensure_ascii=False, indent=indent if isinstance(indent, int) else None)


def _load(value: Any) -> Any:
    """``{{ text | load }}``: the value the JSON ``text`` holds (a non-string is returned as is)."""
    return json.loads(value) if isinstance(value, str) else value


def _refuse_big_int(operator: str, left: int, right: int) -> None:
    if operator == "**":
        bits = abs(left).bit_length() * right if abs(left) > 1 and right > 0 else 0
    elif operator == "*":
        bits = left.bit_length() + right.bit_length()
    else:
        bits = max(left.bit_length(), right.bit_length()) + 1
    if bits > MAX_INT_BITS:
        raise TemplateLimit(
            f"{operator!r} would build an integer of about {bits:,} bits (a template may build at most "
            f"{MAX_INT_BITS:,})"
        )


def _argument(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Callable[..., Any]:
    def arg(index: int, keyword: str, default: Any = 0) -> Any:
        return args[index] if len(args) > index else kwargs.get(keyword, default)

    return arg


def _work(value: Any) -> int:
    """Steps for handling ``value`` in a call: one per KiB of text or 16 items."""
    if isinstance(value, str | bytes):
        return len(value) >> 10
    if isinstance(value, list | tuple | dict | set | frozenset):
        return len(value) >> 4
    return 0


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _ints(values: Any) -> list[int]:
    if isinstance(values, Mapping):
        values = list(values.values())
    elif not isinstance(values, list | tuple):
        values = [values]
    return [_int(v) for v in values]
