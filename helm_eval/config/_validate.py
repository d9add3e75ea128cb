"""Turn pydantic validation errors on YAML data into one ``SuiteError`` naming file, line and field."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from helm_eval.config._errors import SuiteError
from helm_eval.config._yaml import describe_loc, line_of

ModelT = TypeVar("ModelT", bound=BaseModel)


def validate(model: type[ModelT], data: Any, path: str) -> ModelT:
    """Validate ``data`` (as loaded by ``load_yaml``) against ``model``.

    Raises ``SuiteError`` for the first error, pointing at the line of the deepest field involved.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = _most_specific(errors)
        loc = first["loc"]
        field = describe_loc(data, loc)
        message = _message(first)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 and not _is_union(errors) else ""
        raise SuiteError(path, line_of(data, loc), f"{field}: {message}{more}") from None


def _is_union(errors: list[Any]) -> bool:
    locs = {tuple(p for p in e["loc"] if isinstance(p, int) or not _looks_like_tag(p)) for e in errors}
    return len(locs) == 1


def _looks_like_tag(part: object) -> bool:
    return isinstance(part, str) and (part[:1].isupper() or "[" in part or part in {"str", "int", "float"})


def _most_specific(errors: list[Any]) -> Any:
    # For a value matching none of a union's branches pydantic reports one error per branch; the longest
    # location is the branch that got furthest, which is the one the user most likely meant; on a tie, a check
    # of the model's own (a value error) means the value had that branch's shape.
    return max(errors, key=lambda e: (len(e["loc"]), e["type"] == "value_error"))


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    msg = str(error["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return msg[:1].lower() + msg[1:]
