"""The JSON Schema of a config model, with each field's description taken from the docstring written under it.

The models document every field with a string under its annotation. pydantic can read those itself
(``use_attribute_docstrings``), but it then parses each model's source whenever the module is imported, in every
run: ~0.15 s of every pytest start. Only the schema export needs them, so they are read here, when asked for.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any

from pydantic import BaseModel


def attribute_docs(model: type[BaseModel]) -> dict[str, str]:
    """The docstring under each field of ``model`` and of the models it inherits from, by field name."""
    docs: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            source = textwrap.dedent(inspect.getsource(cls))
        except (OSError, TypeError):  # no source (a frozen or generated class): no descriptions
            continue
        body = ast.parse(source).body[0]
        if not isinstance(body, ast.ClassDef):
            continue
        for statement, following in zip(body.body, body.body[1:], strict=False):
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[statement.target.id] = inspect.cleandoc(following.value.value)
    return docs


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON Schema by alias, every field described by its docstring (an explicit description wins)."""
    schema = model.model_json_schema(by_alias=True)
    models = {cls.__name__: cls for cls in _models(model)}
    _describe(schema, model)
    for name, definition in schema.get("$defs", {}).items():
        if name in models:
            _describe(definition, models[name])
    return schema


def _describe(definition: dict[str, Any], model: type[BaseModel]) -> None:
    properties = definition.get("properties", {})
    docs = attribute_docs(model)
    for name, field in model.model_fields.items():
        key = field.alias or name
        if key in properties and name in docs and "description" not in properties[key]:
            properties[key]["description"] = docs[name]


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    """``root`` and every model reachable through its fields' annotations."""
    seen: dict[type[BaseModel], None] = {}
    stack: list[Any] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, type) and issubclass(item, BaseModel):
            if item in seen:
                continue
            seen[item] = None
            stack.extend(field.annotation for field in item.model_fields.values())
        else:
            stack.extend(getattr(item, "__args__", ()))
    return list(seen)
