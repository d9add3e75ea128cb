"""The model matrix: each case once per model, ``[model]`` in its node id.

A suite's ``models``, else ``--helm-eval-model a,b``, else the config's ``models`` decide the entries (the
command line wins over the suite when given). A matrix of one entry changes the model without changing node ids.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from helm_eval._records import Case
from helm_eval._text import inert
from helm_eval.config import MatrixEntry, ModelSpec

MAX_SUITE_CASES = 100_000
"""Cases one suite may make, the model matrix included."""


@dataclass(frozen=True, slots=True)
class ModelTarget:
    """Where one column of the matrix runs: a model and/or an endpoint (``None``: the case's own)."""

    label: str
    model: str | None = None
    endpoint: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    """Sampling parameters of this column (a promptfoo provider's config), over the case's."""


@dataclass(frozen=True, slots=True)
class MatrixOptions:
    """What the run says about the matrix, besides what a suite says."""

    models: Sequence[MatrixEntry] = ()
    """The config's ``models``: for suites that name none."""
    override: Sequence[MatrixEntry] = ()
    """``--helm-eval-model a,b``: wins over every suite's own."""
    provider_map: dict[str, ModelSpec] = field(default_factory=dict)
    """promptfoo provider id → endpoint and model (helm-eval.yaml's ``provider_map``)."""
    endpoint_urls: dict[str, str] = field(default_factory=dict)
    """Configured endpoints by base URL (no trailing slash): where a provider's ``apiBaseUrl`` points."""
    notes: list[str] = field(default_factory=list)
    """What loading had to tell the user (unmapped providers); filled in by ``load_suite``."""


def check_labels(found: Sequence[ModelTarget]) -> None:
    """Raise ``ValueError`` when two columns share a label."""
    labels = [t.label for t in found]
    for label in labels:
        if labels.count(label) > 1:
            raise ValueError(f"the model matrix names {label!r} twice; give the entries distinct labels")


def targets(entries: Sequence[MatrixEntry]) -> list[ModelTarget]:
    """The matrix entries as targets, each with a node-id-safe label; raises ``ValueError`` on a repeated label."""
    found: list[ModelTarget] = []
    for entry in entries:
        if isinstance(entry, str):
            found.append(ModelTarget(label_of(entry), entry, None))
        else:
            raw = entry.label or entry.model or entry.endpoint
            if raw is None:
                raise ValueError("a models entry needs a model, an endpoint or both")
            found.append(ModelTarget(label_of(raw), entry.model, entry.endpoint))
    check_labels(found)
    return found


def expand_models(cases: list[Case], matrix: Sequence[ModelTarget]) -> list[Case]:
    """Each case once per target; with one target the node ids stay as they were."""
    if not matrix:
        return cases
    if len(cases) * len(matrix) > MAX_SUITE_CASES:
        raise ValueError(
            f"{len(cases):,} cases x {len(matrix)} models make more than {MAX_SUITE_CASES:,} cases; split the suite"
        )
    expanded = []
    for case in cases:
        for target in matrix:
            expanded.append(
                dataclasses.replace(
                    case,
                    id=case.id if len(matrix) == 1 else f"{case.id}[{target.label}]",
                    model=target.model or (case.model if target.endpoint is None else None),
                    endpoint=target.endpoint or case.endpoint,
                    options={**case.options, **target.options} if target.options else case.options,
                )
            )
    return expanded


def label_of(raw: str) -> str:
    """``raw`` made safe for a node id part."""
    return inert(" ".join(raw.replace("::", ":").replace("[", "(").replace("]", ")").split()))
