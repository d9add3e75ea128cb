"""Var arrays: a test whose vars hold lists of strings runs once per combination (promptfoo's semantics).

``vars: {lang: [en, fr], tone: [plain, polite]}`` gives four cases. As in promptfoo, only a list whose first item
is a string expands; any other list (of numbers, of mappings) is one value. Each combination is named in the node
id by the values that vary: ``greet[lang=fr,tone=polite]``.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from typing import Any

from helm_eval._text import inert

MAX_COMBINATIONS = 10_000
"""Combinations the var arrays of one test may make."""
_LABEL_VALUE_CHARS = 24


class TooManyCombinations(ValueError):
    """The var arrays of one test multiply past ``MAX_COMBINATIONS``."""


def var_combinations(variables: dict[str, Any]) -> list[tuple[dict[str, Any], str | None]]:
    """Each combination of the expanding vars with its label (``None`` when nothing expands)."""
    arrays = {k: v for k, v in variables.items() if isinstance(v, list) and v and isinstance(v[0], str)}
    if not arrays:
        return [(variables, None)]
    count = math.prod(len(v) for v in arrays.values())
    if count > MAX_COMBINATIONS:
        sizes = " x ".join(f"{k} ({len(v)})" for k, v in arrays.items())
        raise TooManyCombinations(
            f"the var arrays {sizes} make {count:,} combinations; a test may make at most {MAX_COMBINATIONS:,}"
        )
    keys = list(arrays)
    combinations: list[tuple[dict[str, Any], str | None]] = []
    for values in itertools.product(*(arrays[k] for k in keys)):
        chosen = dict(zip(keys, values, strict=True))
        label = ",".join(f"{k}={_short(v)}" for k, v in chosen.items())
        combinations.append(({**variables, **chosen}, label))
    return combinations


def _short(value: Any) -> str:
    text = " ".join(str(value).replace("::", ":").replace("[", "(").replace("]", ")").split())
    if len(text) <= _LABEL_VALUE_CHARS:
        return inert(text)
    digest = hashlib.sha256(str(value).encode("utf-8", "surrogatepass")).hexdigest()[:6]
    return inert(f"{text[: _LABEL_VALUE_CHARS - 8]}…{digest}")
