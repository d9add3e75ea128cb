"""The suite file format: promptfoo's shape (description, prompts, defaultTest, tests) as pydantic models.

``helm-eval schema`` exports ``json_schema(SuiteSpec)`` so editors can autocomplete suites.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from helm_eval.config._matrix import EvaluateOptionsSpec, MatrixEntry, ProviderSpec


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Message(_Strict):
    """One chat message."""

    role: Literal["system", "user", "assistant"]
    """Who speaks: ``system`` sets behaviour, ``user`` asks, ``assistant`` is a prior model turn."""
    content: str
    """The text; ``{{var}}`` placeholders are filled from the test's ``vars``."""


class PromptSpec(_Strict):
    """A named prompt: either a single user ``prompt`` string or a chat ``messages`` list."""

    id: str | None = None
    """Short name used in node ids when a suite has several prompts."""
    label: str | None = None
    """Alias of ``id`` (promptfoo's name for it)."""
    prompt: str | None = None
    """A template sent as one user message."""
    messages: list[Message] | None = None
    """A chat conversation template."""


class Options(_Strict):
    """Sampling parameters for the call; anything not listed here goes in ``extra_body``."""

    temperature: float | None = Field(default=None, ge=0)
    """Sampling temperature; helm-eval defaults to 0 so CI answers are repeatable."""
    top_p: float | None = Field(default=None, gt=0, le=1)
    """Nucleus sampling mass."""
    top_k: int | None = None
    """vLLM top-k sampling (-1 disables)."""
    max_tokens: int | None = Field(default=None, ge=1)
    """Most completion tokens to generate; also what a budget reserves."""
    min_tokens: int | None = Field(default=None, ge=0)
    """Fewest completion tokens (vLLM extension)."""
    seed: int | None = None
    """Sampling seed, for repeatable sampling at temperature > 0."""
    stop: str | list[str] | None = None
    """Stop sequences."""
    presence_penalty: float | None = None
    """OpenAI presence penalty."""
    frequency_penalty: float | None = None
    """OpenAI frequency penalty."""
    repetition_penalty: float | None = None
    """vLLM repetition penalty."""
    tools: list[dict[str, Any]] | None = None
    """Tools the model may call, sent as given (OpenAI shape: ``{type: function, function: {name, description,
    parameters}}``); part of the response-cache key. The calls it makes are kept next to its text."""
    tool_choice: str | dict[str, Any] | None = None
    """``auto``, ``none``, ``required`` or ``{type: function, function: {name: ...}}``, sent as given (vLLM
    enforces ``required`` and a named function with guided decoding)."""
    extra_body: dict[str, Any] | None = None
    """Extra request fields passed through unchanged; never the fields a budget reserves for (``max_tokens``,
    ``max_completion_tokens``, ``n``, ``best_of``) or that helm-eval sets itself (``model``, ``messages``,
    ``stream``)."""

    @field_validator("extra_body")
    @classmethod
    def _nothing_reserved(cls, extra: dict[str, Any] | None) -> dict[str, Any] | None:
        for key in extra or {}:
            if key in RESERVED_REQUEST_FIELDS:
                raise ValueError(f"extra_body.{key}: {RESERVED_REQUEST_FIELDS[key]}")
        return extra


RESERVED_REQUEST_FIELDS = {
    "max_tokens": "set max_tokens under options (a budget reserves what it says)",
    "max_completion_tokens": "set max_tokens under options (a budget reserves what it says)",
    "n": "helm-eval sends one completion per call; use repeat: N",
    "best_of": "helm-eval sends one completion per call; use repeat: N",
    "model": "choose the model with the endpoint's model or --helm-eval-model",
    "messages": "write the prompt or messages in the suite",
    "stream": "helm-eval reads whole responses",
    "stream_options": "helm-eval reads whole responses",
}
"""Request fields ``extra_body`` may not set, and what to do instead."""


class AssertionSpec(_Strict):
    """One assertion on the output (promptfoo naming; a ``not-`` prefix negates the type)."""

    type: str
    """Check type, e.g. ``contains``, ``regex``, ``is-json``, ``levenshtein``, ``not-icontains``."""
    value: Any = None
    """What the check compares against (a string, list, number, mapping or JSON Schema, per type)."""
    threshold: float | None = None
    """Type-specific bound, e.g. the maximum edit distance for ``levenshtein`` or milliseconds for ``latency``."""
    weight: float = Field(default=1.0, ge=0)
    """Relative weight in the run's score (the weighted mean of the assertion scores); 0 reports the assertion
    without letting it decide the result."""
    metric: str | None = None
    """Name to report this assertion's score under (the run record's ``named_scores``)."""
    assert_: list[AssertionSpec] | None = Field(default=None, alias="assert")
    """For ``assert-set``: the nested assertions, judged together (all must pass, or a share of ``threshold``)."""
    turn: int | None = Field(default=None, ge=1)
    """In a multi-turn test (``turns``), the 1-based turn whose answer is checked (1 is the prompt's); by default
    the last turn."""


class RepeatSpec(_Strict):
    """How often a case runs, what share of the runs must pass, and whether it may stop once that is clear.

    Give ``n`` (every run is made) or ``max`` (runs are made in rounds until the pass rate's interval decides).
    """

    n: int | None = Field(default=None, ge=1, le=1000)
    """Runs of the case, all of them (with a seed, run i uses seed + i). Give ``n`` or ``max``, not both."""
    max: int | None = Field(default=None, ge=1, le=1000)
    """Most runs of a case that stops early: runs are sent in rounds, and no more once the ``confidence``
    interval (Wilson) of the pass rate lies wholly above ``pass_rate`` (pass) or wholly below it (fail). The
    report shows the runs made and the tokens saved against making all ``max``. Give ``n`` or ``max``."""
    pass_rate: float = Field(default=1.0, ge=0, le=1)
    """Share of the runs that must pass for the case to pass (default 1.0: every run). With ``max`` and the
    default 1.0, one failed run decides "fail" at once, but a passing case never stops early (the interval of a
    sampled rate never lies wholly above 1.0): lower it (e.g. 0.9) to save runs on passing cases too."""
    confidence: float | None = Field(default=None, gt=0, lt=1)
    """Confidence of the pass-rate interval that stops the runs (``max``) and decides with ``decide: interval``
    (default 0.95); the report's interval uses it too."""
    decide: Literal["rate", "interval"] = "rate"
    """How the runs made decide the case: ``rate`` (the share that passed reaches ``pass_rate``; what ``n`` always
    did) or ``interval`` (passes when the interval's lower bound reaches ``pass_rate``, fails when its upper bound
    is below it; otherwise the case is an error, "inconclusive", as when a judge gives no valid verdict)."""

    @field_validator("max")
    @classmethod
    def _one_count(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("n") is not None:
            raise ValueError("give n (every run is made) or max (runs stop once the interval decides), not both")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RepeatSpec:
        if self.n is None and self.max is None:
            raise ValueError("give n (runs, all made) or max (most runs, stopping once the interval decides)")
        if self.confidence is not None and self.max is None and self.decide == "rate":
            raise ValueError(
                "confidence sets the interval that stops runs (max) or decides the case (decide: interval); "
                "with n and decide: rate the share of runs that passed decides: add one of those or drop confidence"
            )
        if self.decide == "interval" and self.pass_rate >= 1.0:
            raise ValueError(
                "decide: interval with pass_rate 1.0 can never pass (the interval's lower bound stays below 1); "
                "lower pass_rate, or use decide: rate"
            )
        return self

    @property
    def runs(self) -> int:
        """Runs the case makes at most (``n`` or ``max``)."""
        return self.n if self.n is not None else (self.max or 1)


class InputGuardrailsSpec(_Strict):
    """What the input guardrails (secrets and PII scan of prompts and vars before sending) let through."""

    allow: list[str] = Field(default_factory=list)
    """Families (``pii``, ``secrets``) or entity types (``email``, ``aws-access-key-id``, ...) allowed to be sent."""


class GuardrailsSpec(_Strict):
    """Guardrail settings of a test or suite."""

    inputs: InputGuardrailsSpec | None = None
    """Input guardrails; by default any secret or personal data found in a case's inputs blocks the case."""


class TestSpec(_Strict):
    """One test: variables for the prompt templates and the assertions its output must pass."""

    __test__ = False  # not a pytest test class

    id: str | None = None
    """Stable name, used in the pytest node id; defaults to ``description`` or ``test-N``."""
    description: str | None = None
    """Human-readable summary."""
    vars: dict[str, Any] = Field(default_factory=dict)
    """Values for ``{{var}}`` placeholders."""
    assert_: list[AssertionSpec] = Field(default_factory=list, alias="assert")
    """Assertions; all must pass for a run of the case to pass."""
    options: Options | None = None
    """Sampling parameters, merged over ``defaultTest.options``."""
    repeat: Annotated[int, Field(ge=1, le=1000)] | RepeatSpec | None = None
    """Run the case this many times: ``5``, or ``{n: 5, pass_rate: 0.8}`` to pass when 80% of the runs pass (by
    default every run must pass), or ``{max: 20, pass_rate: 0.8}`` to stop sending runs once the pass rate's 95%
    interval lies wholly above or below 0.8."""
    threshold: float | None = Field(default=None, ge=0, le=1)
    """promptfoo's test threshold: a run passes when the weighted mean of its assertion scores reaches it, even if
    some assertions fail (without it every assertion of weight > 0 must pass). Not a pass rate over repeats: that
    is ``repeat: {n, pass_rate}``."""
    tags: list[str] = Field(default_factory=list)
    """Tags, applied as pytest markers (``-m tag``)."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Free-form data kept in the run record."""
    endpoint: str | None = None
    """Name of a configured endpoint to send this test to."""
    model: str | None = None
    """Model name to request, overriding the endpoint's."""
    priority: int | None = None
    """Higher runs first and is cut last when a budget cannot fit every case (default 0)."""
    guardrails: GuardrailsSpec | None = None
    """Guardrail settings, e.g. ``{inputs: {allow: [email]}}``; allowances add up over suite, defaultTest, test."""
    turns: list[str] | None = Field(default=None, min_length=1)
    """A multi-turn conversation: user messages sent after the prompt, one per turn, each once the model has
    answered the turn before (its own answers stay in the history). ``{{var}}`` placeholders are filled in.
    Assertions check the last turn unless they name a ``turn``."""

    @field_validator("tags")
    @classmethod
    def _tags_are_names(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            if not tag or any(ch.isspace() for ch in tag) or tag.startswith("-"):
                raise ValueError(f"tag {tag!r} must be a single word usable as a pytest marker")
        return tags


class DefaultTestSpec(TestSpec):
    """Defaults merged into every test of the suite."""

    __test__ = False


class SuiteSpec(_Strict):
    """A suite file: prompts × tests, each test a pytest item per prompt."""

    description: str | None = None
    """What the suite evaluates."""
    prompts: str | list[str | PromptSpec | list[Message]] = Field(min_length=1)
    """Prompt templates: strings (one user message), chat ``messages`` lists, or ``{id, messages}`` maps; a
    ``file://`` string reads prompts from a file (``.txt``: prompts separated by a line ``---``; ``.json``: a chat
    message list, rendered as a template and then parsed)."""
    defaultTest: DefaultTestSpec | None = None
    """Defaults for every test."""
    tests: str | list[TestSpec | str] = Field(min_length=1)
    """The test cases: mappings, or ``file://`` references (globs allowed) to ``.csv``, ``.jsonl``, ``.json`` or
    ``.yaml`` files of tests, relative to the suite file."""
    endpoint: str | None = None
    """Endpoint name for every test of this suite."""
    model: str | None = None
    """Model name for every test of this suite."""
    tags: list[str] = Field(default_factory=list)
    """Tags for every test of this suite."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Free-form data, e.g. ``owner: team-search``."""
    priority: int = 0
    """Priority of every test of this suite (a test's own ``priority`` wins)."""
    guardrails: GuardrailsSpec | None = None
    """Guardrail settings for every test of this suite, e.g. ``{inputs: {allow: [pii]}}``."""
    models: list[MatrixEntry] | None = Field(default=None, min_length=1)
    """Model matrix: every case runs once per entry (``[model]`` in the node id); a name is a model on the default
    endpoint, ``{model, endpoint, label}`` picks the endpoint too. ``--helm-eval-model a,b`` overrides it."""
    providers: str | list[str | ProviderSpec] | None = None
    """promptfoo configs only: the providers, which become the model matrix (see docs/suites.md)."""
    evaluateOptions: EvaluateOptionsSpec | None = None
    """promptfoo configs only: ``repeat`` becomes ``defaultTest.repeat``."""
    include: list[str] = Field(default_factory=list)
    """Packs merged under ``defaultTest``: paths relative to this file, or ``helm-eval:<name>`` for shipped packs."""
    version: int | None = None
    """Format version (optional; currently 1)."""
