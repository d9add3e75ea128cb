"""A suite file → its ``Case`` records: defaults merged, templates rendered, assertions checked."""

from __future__ import annotations

import itertools
from pathlib import Path, PurePosixPath
from typing import Any

from helm_eval._records import Assertion, Case
from helm_eval._text import inert
from helm_eval.checks import parse_type, unknown_allowances, validate_assertion
from helm_eval.collect._conversation import check_turns, nested_assertions
from helm_eval.collect._files import load_var_files
from helm_eval.collect._matrix import MatrixOptions, ModelTarget, check_labels, expand_models, targets
from helm_eval.collect._packs import Pack, is_pack_file, load_pack, load_packs
from helm_eval.collect._promptfoo import is_promptfoo_config, translate
from helm_eval.collect._prompts import load_prompts
from helm_eval.collect._repeat import case_repeat
from helm_eval.collect._shorthand import code_problem
from helm_eval.collect._sources import SourcedTest, test_sources
from helm_eval.collect._template import Renderer, TemplateProblem
from helm_eval.collect._vars import TooManyCombinations, var_combinations
from helm_eval.config import (
    AssertionSpec,
    LineDict,
    Options,
    PackDefaultsSpec,
    SuiteError,
    SuiteSpec,
    TestSpec,
    line_of,
    load_yaml,
    validate,
)

MAX_CASE_CHARS = 2_000_000
"""Characters of vars and rendered messages one case may hold: input guardrails scan them all before it runs."""
MAX_SUITE_CHARS = 20_000_000
"""Characters of vars and rendered messages all the cases of one suite may hold together (vars are counted for
every case they reach: a ``defaultTest`` var is scanned once per test)."""


def load_suite(
    path: Path, name: str, defaults: Options | None = None, matrix: MatrixOptions | None = None
) -> list[Case]:
    """Parse, validate and expand one suite file into cases (one per test × prompt).

    ``name`` is the path shown to users (relative to the rootdir). Any problem raises ``SuiteError``
    with the file, the 1-based line and the field at fault. A ``*.pack.yaml`` file is validated as a pack and
    gives no cases; the packs a suite includes are merged under its ``defaultTest``. ``matrix`` gives the run's
    model matrix (the suite's own ``models`` wins over the config's, the command line's over both).
    """
    if is_pack_file(path):
        load_pack(path, name)
        return []
    data = load_yaml(path, name)
    if not isinstance(data, dict):
        raise SuiteError(name, getattr(data, "line", 1), "a suite must be a mapping with prompts and tests")
    matrix = matrix or MatrixOptions()
    providers: list[ModelTarget] | None = None
    if isinstance(data, LineDict) and is_promptfoo_config(path, data):
        data, providers = translate(data, name, matrix)
    spec = validate(SuiteSpec, data, name)
    root = _rootdir(path, name)
    packs = load_packs(path, name, spec.include, data, root)
    prompts = load_prompts(path, name, spec.prompts, data, root)
    try:
        if matrix.override or providers is None:
            columns = targets(matrix.override or spec.models or matrix.models)
        else:
            columns = providers
            check_labels(columns)
    except ValueError as exc:
        raise SuiteError(name, line_of(data, ("models",)) or 1, f"models: {exc}") from None
    default = spec.defaultTest or TestSpec()
    base_options = _merge_options(defaults, None)
    for pack in packs:
        base_options = _merge_options(base_options, pack.spec.defaultTest.options)
    base_options = _merge_options(base_options, default.options)
    pack_assertions = _pack_assertions(packs, root)
    pack_allow = [_input_allow(p.name, p.data, [(("defaultTest",), p.spec.defaultTest)]) for p in packs]
    pack_tags = [tag for p in packs for tag in p.spec.defaultTest.tags]
    pack_metadata = {k: v for p in packs for k, v in p.spec.defaultTest.metadata.items()}
    renderer = Renderer()
    cases: list[Case] = []
    seen: dict[str, int] = {}
    suite_chars = 0
    for index, source in enumerate(test_sources(path, name, spec, data, root)):
        test, test_line, where = source.spec, source.line, source.field
        base_id = _test_id(test, index, source)
        if base_id in seen and source.from_file:
            base_id = f"{base_id} ({PurePosixPath(source.file).name}:{test_line})"
        if base_id in seen:
            raise SuiteError(
                source.file, test_line, f"duplicate test id {base_id!r} (first at line {seen[base_id]}); give it an id"
            )
        seen[base_id] = test_line
        variables = load_var_files({**default.vars, **test.vars}, path, name, root, (source.file, test_line))
        assertions = (
            [a for a, needs in pack_assertions if all(v in variables for v in needs)]
            + _assertions(name, data, default.assert_, ("defaultTest", "assert"), root)
            + _assertions(source.file, source.data, test.assert_, (*source.loc, "assert"), root, where)
        )
        own_allow = _input_allow(name, data, [((), spec), (("defaultTest",), default)]) + _input_allow(
            source.file, source.data, [(source.loc, test)]
        )
        input_allow = tuple(dict.fromkeys([*(a for allow in pack_allow for a in allow), *own_allow]))
        options = _merge_options(base_options, test.options)
        repeat = case_repeat(test, default, (source.file, source.data, source.loc), (name, data))
        try:
            combinations = var_combinations(variables)
        except TooManyCombinations as exc:
            raise SuiteError(source.file, test_line, f"{where}.vars: {exc}") from None
        for (variables, combination), prompt in itertools.product(combinations, prompts):
            vars_chars = _text_size(variables, MAX_CASE_CHARS)
            case_id = base_id if combination is None else f"{base_id}[{combination}]"
            case_id = case_id if len(prompts) == 1 else f"{case_id}[{prompt.label}]"
            try:
                messages = prompt.render(renderer, variables)
                rendered = tuple(
                    Assertion(
                        a.type,
                        renderer.render_value(a.value, variables),
                        a.threshold,
                        a.weight,
                        a.negate,
                        a.line,
                        a.metric,
                        a.turn,
                    )
                    for a in assertions
                )
                followups = tuple(renderer.render(text, variables) for text in test.turns or default.turns or [])
            except TemplateProblem as exc:
                at = f" in prompt {prompt.label!r}" if len(prompts) > 1 else ""
                raise SuiteError(source.file, test_line, f"{where}{at}: {exc}") from None
            check_turns(source.file, rendered, len(followups) + 1)
            case_chars = vars_chars + sum(len(m["content"]) for m in messages) + sum(map(len, followups))
            suite_chars += case_chars
            if case_chars > MAX_CASE_CHARS:
                raise SuiteError(
                    source.file,
                    test_line,
                    f"{where}: vars and messages hold over {MAX_CASE_CHARS:,} characters, more than "
                    "input guardrails scan for one case; shorten them",
                )
            if suite_chars > MAX_SUITE_CHARS:
                raise SuiteError(
                    source.file,
                    test_line,
                    f"{where}: the suite's vars and messages hold over {MAX_SUITE_CHARS:,} characters in all "
                    "(a defaultTest var counts once per test), more than input guardrails scan for one suite; "
                    "split the suite or shorten them",
                )
            cases.append(
                Case(
                    id=case_id,
                    file=source.file,
                    suite=name,
                    line=test_line,
                    messages=messages,
                    options=options,
                    assertions=rendered,
                    description=test.description or "",
                    vars=variables,
                    repeat=repeat.n,
                    threshold=repeat.pass_rate,
                    stop_early=repeat.stop_early,
                    confidence=repeat.confidence,
                    decide=repeat.decide,
                    score_threshold=test.threshold if test.threshold is not None else default.threshold,
                    tags=tuple(dict.fromkeys([*pack_tags, *spec.tags, *default.tags, *test.tags])),
                    metadata={**pack_metadata, **spec.metadata, **default.metadata, **test.metadata},
                    endpoint=test.endpoint or default.endpoint or spec.endpoint,
                    model=test.model or default.model or spec.model,
                    prompt_label=prompt.label if len(prompts) > 1 else None,
                    priority=_first_int(test.priority, default.priority, spec.priority),
                    input_allow=input_allow,
                    followups=followups,
                )
            )
    try:
        return expand_models(cases, columns)
    except ValueError as exc:
        raise SuiteError(name, line_of(data, ("models",)) or 1, f"models: {exc}") from None


def _rootdir(path: Path, name: str) -> Path | None:
    """The rootdir (where ``python:`` checks import from), when ``name`` is ``path`` relative to it."""
    parts = PurePosixPath(name).parts
    if not parts or PurePosixPath(name).is_absolute() or ".." in parts:
        return None
    resolved = path.resolve()
    if resolved.parts[-len(parts) :] != parts:
        return None
    return resolved.parents[len(parts) - 1]


def _pack_assertions(packs: list[Pack], root: Path | None) -> list[tuple[Assertion, tuple[str, ...]]]:
    """Every included pack's assertions, in include order, each with the vars a test must set for it to apply."""
    found: list[tuple[Assertion, tuple[str, ...]]] = []
    for pack in packs:
        specs = pack.spec.defaultTest.assert_
        built = _assertions(pack.name, pack.data, list(specs), ("defaultTest", "assert"), root)
        found.extend((a, tuple(s.requires_vars)) for a, s in zip(built, specs, strict=True))
    return found


def _input_allow(
    name: str, data: Any, sources: list[tuple[tuple[Any, ...], SuiteSpec | TestSpec | PackDefaultsSpec]]
) -> tuple[str, ...]:
    """Input-guardrail allowances of suite, defaultTest and test, added up; an unknown name is a suite error."""
    allowed: list[str] = []
    for loc, spec in sources:
        inputs = spec.guardrails.inputs if spec.guardrails is not None else None
        if inputs is None:
            continue
        unknown = unknown_allowances(inputs.allow)
        if unknown:
            line = line_of(data, (*loc, "guardrails")) or 1
            raise SuiteError(
                name, line, f"guardrails.inputs.allow: unknown name {unknown[0]!r}; use pii, secrets or an entity type"
            )
        allowed.extend(inputs.allow)
    return tuple(dict.fromkeys(allowed))


def _text_size(value: Any, limit: int) -> int:
    """Characters of the strings (and keys) in ``value``, walked; stops once past ``limit``."""
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return total


def _first_int(*values: int | None) -> int:
    return next((v for v in values if v is not None), 0)


def _test_id(test: TestSpec, index: int, source: SourcedTest) -> str:
    default = f"{PurePosixPath(source.file).name}:{source.line}" if source.from_file else f"test-{index + 1}"
    raw = test.id or test.description or default
    # "::" separates node id parts, newlines break terminal lines and escapes drive terminals; none belongs in a name
    return inert(" ".join(raw.replace("::", ":").split()))


def _assertions(
    name: str,
    data: Any,
    specs: list[AssertionSpec],
    loc: tuple[Any, ...],
    root: Path | None = None,
    where: str = "defaultTest",
) -> list[Assertion]:
    result: list[Assertion] = []
    for index, spec in enumerate(specs):
        line = line_of(data, (*loc, index))
        problem = code_problem(spec.type) or validate_assertion(spec.type, spec.value, spec.threshold, root=root)
        if problem is not None:
            raise SuiteError(name, line, f"{where}.assert[{index}]: {problem}")
        kind, negate = parse_type(spec.type)
        value = spec.value
        if kind == "assert-set":
            value = nested_assertions(name, data, spec, (*loc, index), line, root, _assertions)
        elif spec.assert_ is not None:
            raise SuiteError(name, line, f"assertion {spec.type!r}: only assert-set takes nested assert:")
        result.append(Assertion(kind, value, spec.threshold, spec.weight, negate, line, spec.metric, spec.turn))
    return result


def _merge_options(base: Options | dict[str, Any] | None, override: Options | None) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for options in (base, override):
        if options is None:
            continue
        values = options if isinstance(options, dict) else options.model_dump(exclude_none=True)
        for key, value in values.items():
            if key == "extra_body":
                merged["extra_body"] = {**merged.get("extra_body", {}), **value}
            else:
                merged[key] = value
    return merged
