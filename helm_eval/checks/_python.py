"""``python:<module>:<function>`` check types: a team's own check, named by import path in a suite.

The object is a function ``(CheckInput) -> CheckOutput`` (its ``value`` is optional and passed through), or a
check registered with ``@register`` (its value rule and validator apply), or a ``CheckType``. Every problem is a
one-line ``ValueError`` that collection reports at the assertion's line.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from helm_eval.checks._types import PYTHON_PREFIX, CheckError, CheckFn, CheckInput, CheckOutput, CheckType

_USAGE = "write python:<module>:<function>, e.g. python:mypkg.checks:no_profanity"


def resolve(ref: str, registered: Iterable[CheckType], root: Path | None = None) -> CheckType:
    """Import the check named by ``ref`` (``python:module:attr``).

    ``registered`` is iterated after the import, so a live view of the registry sees the module's own
    ``@register`` decorators.

    ``root`` (the rootdir) is appended to ``sys.path`` when the module is not importable without it, so a
    project's own package needs no installation. Raises ``ValueError`` describing the problem.
    """
    target = ref[len(PYTHON_PREFIX) :]
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name.strip() or not attr.strip() or ":" in attr:
        raise ValueError(_USAGE)
    module = _import(module_name, root)
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"module {module_name!r} has no attribute {attr!r}") from None
    if isinstance(obj, CheckType):
        return obj
    for check in registered:
        if check.fn is obj:
            return check  # registered with @register: keep its value rule and validator
    if not callable(obj) or inspect.isclass(obj):
        kind = "class" if inspect.isclass(obj) else type(obj).__name__
        raise ValueError(f"{module_name}:{attr} is a {kind}, not a function (CheckInput) -> CheckOutput")
    try:
        inspect.signature(obj).bind(None)
    except TypeError:
        raise ValueError(
            f"{module_name}:{attr} must take one argument (a CheckInput) and return a CheckOutput"
        ) from None
    except ValueError:
        pass  # no introspectable signature (a builtin): trust it
    doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
    return CheckType(ref, _returning_output(obj, ref), "optional", None, doc[0] if doc else "")


def _import(module_name: str, root: Path | None) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if not _is_the_module(missing, module_name):
            raise ValueError(f"importing {module_name!r} failed: ModuleNotFoundError: {exc}") from None
        if root is None or str(root) in sys.path:
            raise ValueError(f"module {module_name!r} not found on sys.path") from None
    except Exception as exc:  # its own import-time error: the user's code, shown in one line
        raise ValueError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
    # appended, not inserted: the rootdir must not shadow installed packages of the same name
    sys.path.append(str(root))
    importlib.invalidate_caches()
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if _is_the_module(exc.name or "", module_name):
            raise ValueError(f"module {module_name!r} not found on sys.path or in the rootdir {root}") from None
        raise ValueError(f"importing {module_name!r} failed: ModuleNotFoundError: {exc}") from None
    except Exception as exc:
        raise ValueError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None


def _is_the_module(missing: str, module_name: str) -> bool:
    """Whether a ModuleNotFoundError for ``missing`` means ``module_name`` itself (or a parent) is absent."""
    return bool(missing) and (module_name == missing or module_name.startswith(missing + "."))


def _returning_output(fn: Any, ref: str) -> CheckFn:
    def check(found: CheckInput) -> CheckOutput:
        result = fn(found)
        if not isinstance(result, CheckOutput):
            raise CheckError(f"{ref} returned {type(result).__name__}, not a CheckOutput")
        return result

    check.__doc__ = getattr(fn, "__doc__", None)
    return check
