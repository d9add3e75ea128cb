"""The records every stage shares: Case, Call, Outcome, Verdict, CaseResult and RunRecord.

They are plain dataclasses so they are cheap on the per-case hot path; everything that is persisted or sent
between processes (pytest-xdist workers) goes through ``to_json``/``from_json`` with a format ``version``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

RUN_RECORD_VERSION = 1

CaseStatus = Literal["passed", "failed", "error", "skipped"]
VerdictStatus = Literal["pass", "fail", "error"]


@dataclass(frozen=True, slots=True)
class Assertion:
    """One check to apply to an output, as written in a suite (promptfoo naming)."""

    type: str
    """Check type without the ``not-`` prefix, e.g. ``contains``."""
    value: Any = None
    threshold: float | None = None
    weight: float = 1.0
    negate: bool = False
    line: int | None = None
    """1-based line of the assertion in its suite file, when it came from one."""
    metric: str | None = None
    """Name the assertion's score is reported under."""
    turn: int | None = None
    """In a multi-turn conversation, the 1-based turn whose answer is checked; ``None``: the last turn."""

    @property
    def label(self) -> str:
        """The type as the user wrote it, with the ``not-`` prefix when negated."""
        return f"not-{self.type}" if self.negate else self.type


@dataclass(frozen=True, slots=True)
class Case:
    """One evaluation: a prompt with its variables, the call options and what the output must satisfy."""

    id: str
    """Stable name inside its file, used in the pytest node id."""
    file: str
    """File the test is written in (the suite, or the tests file holding its row), relative to the rootdir, with
    forward slashes."""
    line: int
    """1-based line where the test starts in ``file``."""
    messages: tuple[dict[str, str], ...]
    options: dict[str, Any]
    assertions: tuple[Assertion, ...]
    description: str = ""
    vars: dict[str, Any] = field(default_factory=dict)
    repeat: int = 1
    """Runs of the case; with ``stop_early``, the most runs."""
    threshold: float = 1.0
    """Minimum pass rate over ``repeat`` runs for the case to pass."""
    stop_early: bool = False
    """Send the runs in rounds and stop once the pass rate's interval lies wholly above or below ``threshold``
    (``repeat: {max: N}``)."""
    confidence: float = 0.95
    """Confidence of the pass-rate interval: for stopping early, for ``decide == "interval"`` and in reports."""
    decide: Literal["rate", "interval"] = "rate"
    """``rate``: the case passes when its pass rate reaches ``threshold``; ``interval``: when the interval's lower
    bound does (its upper bound below ``threshold`` fails it; anything else is inconclusive, an error)."""
    score_threshold: float | None = None
    """Weighted assertion score a run must reach to pass (promptfoo's test ``threshold``); ``None``: every
    assertion of weight > 0 must pass."""
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    endpoint: str | None = None
    """Name of the configured endpoint to use; ``None`` lets the planner route."""
    model: str | None = None
    prompt_label: str | None = None
    priority: int = 0
    """Higher is admitted first and cut last under a budget."""
    input_allow: tuple[str, ...] = ()
    """What the input guardrails let through: families (``pii``, ``secrets``) or entity types (``email``)."""
    suite: str = ""
    """The suite file the case belongs to, when it differs from ``file`` (a row of a tests file)."""

    @property
    def suite_file(self) -> str:
        """The suite file the case belongs to (its pytest node lives there)."""
        return self.suite or self.file

    followups: tuple[str, ...] = ()
    """User messages of a multi-turn conversation after the first turn (``messages``), rendered; each is sent
    once the model has answered the turn before it, with its own answers in the history."""


@dataclass(frozen=True, slots=True)
class Call:
    """One model request, fully specified: what dispatch sends."""

    endpoint: str
    """Endpoint name from the configuration."""
    base_url: str
    model: str
    messages: tuple[dict[str, str], ...]
    params: dict[str, Any]
    """Sampling parameters sent with the request (temperature, max_tokens, seed, stop, ...)."""
    repeat_index: int = 0
    case_id: str | None = None
    suite: str | None = None
    kind: str = "call"
    """``call`` for the system under test, ``judge`` for a model-graded check's call."""
    reservation: int | None = None
    """Ledger reservation id when a budget admitted the call."""
    estimated_prompt_tokens: int | None = None
    owner: str | None = None
    """Team the call's cost is attributed to."""
    cache_key: str | None = None
    """Response-cache key, when the cache is on."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool (function) call the model asked for, as the server returned it."""

    name: str
    """The function's name."""
    arguments: Any = None
    """The arguments parsed from JSON; ``None`` when they were not valid JSON (see ``error``)."""
    raw_arguments: str = ""
    """The arguments exactly as the server sent them (a JSON string)."""
    id: str | None = None
    """The call's id, when the server gave one."""
    error: str | None = None
    """Why ``raw_arguments`` could not be parsed; ``None`` when they were valid JSON."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible dict (run record, cache)."""
        return {
            "name": self.name,
            "arguments": self.arguments,
            "raw_arguments": self.raw_arguments,
            "id": self.id,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ToolCall:
        """Rebuild from ``to_json`` output."""
        call_id, error = data.get("id"), data.get("error")
        return cls(
            name=str(data.get("name", "")),
            arguments=data.get("arguments"),
            raw_arguments=str(data.get("raw_arguments", "")),
            id=str(call_id) if call_id is not None else None,
            error=str(error) if error is not None else None,
        )


@dataclass(slots=True)
class Outcome:
    """What came back for one call."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float = 0.0
    endpoint: str = ""
    model: str = ""
    retries: int = 0
    finish_reason: str | None = None
    cache_hit: bool = False
    error: str | None = None
    """Set when the call failed for good (after retries); ``text`` is then empty."""
    replaced_chars: int = 0
    """Invalid bytes or lone surrogates in the server's answer, replaced by U+FFFD once at the boundary."""
    unsettled_attempts: int = 0
    """Attempts abandoned after the request went out (timeouts, dropped connections, unreadable answers): the
    server may have generated for them, so each is charged its whole reservation."""
    tool_calls: tuple[ToolCall, ...] = ()
    """Tool calls the model asked for (``message.tool_calls``), next to ``text``."""
    embeddings: tuple[tuple[float, ...], ...] = ()
    """For an embedding call, one vector per text sent; empty for a chat call."""
    earlier_turns: tuple[Outcome, ...] = ()
    """In a multi-turn conversation, the outcomes of the turns before this one (this is the last turn)."""
    unavailable: bool = False
    """The error is the endpoint's, not the request's: refused or dropped connections, timeouts or 5xx after
    every retry, or its breaker open. Such a call goes to the endpoint's fallback when it has one."""
    failed_over_from: str | None = None
    """The endpoint the call was routed to when another one (its fallback) answered it; ``endpoint`` is the one
    that answered."""

    @property
    def turns(self) -> tuple[Outcome, ...]:
        """Every turn's outcome, this one last (a single-turn call is one turn)."""
        return (*self.earlier_turns, self)

    @property
    def total_tokens(self) -> int | None:
        """Prompt plus completion tokens, when the server reported both."""
        if self.prompt_tokens is None or self.completion_tokens is None:
            return None
        return self.prompt_tokens + self.completion_tokens

    @property
    def ok(self) -> bool:
        """True when the call produced a response."""
        return self.error is None


@dataclass(frozen=True, slots=True)
class Verdict:
    """The result of one assertion on one output."""

    assertion: str
    status: VerdictStatus
    reason: str
    score: float | None = None
    threshold: float | None = None
    inconclusive: bool = False
    """An ``error`` because the judge gave no valid verdict (unreadable output, a failed judge call): it says
    nothing about the model under test, so a case held back only by such verdicts is an error, not a failure."""

    @property
    def passed(self) -> bool:
        """True when the assertion held."""
        return self.status == "pass"

    def __bool__(self) -> bool:
        return self.passed

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible dict (run record, xdist)."""
        data: dict[str, Any] = {
            "assertion": self.assertion,
            "status": self.status,
            "reason": self.reason,
            "score": self.score,
            "threshold": self.threshold,
        }
        if self.inconclusive:
            data["inconclusive"] = True
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        """Rebuild from ``to_json`` output."""
        status = data.get("status")
        return cls(
            assertion=str(data.get("assertion", "")),
            status=status if status in ("pass", "fail", "error") else "error",
            reason=str(data.get("reason", "")),
            score=_float_or_none(data.get("score")),
            threshold=_float_or_none(data.get("threshold")),
            inconclusive=data.get("inconclusive") is True,
        )


@dataclass(frozen=True, slots=True)
class CapUse:
    """One binding budget cap and what the run (or pull request) has used of it."""

    scope: str
    """``run``, ``pull_request``, ``suite`` or ``case``."""
    unit: str
    """``tokens`` or ``usd``."""
    limit: float
    source: str
    """Where the cap came from, e.g. ``policy .github/helm-eval-policy.yaml`` or ``command line``."""
    where: str | None = None
    """What the cap covers in words (``pull request 42``); ``None`` for per-suite and per-case caps."""
    used: float | None = None
    remaining: float | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible dict."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CapUse:
        """Rebuild from ``to_json`` output."""
        return cls(
            scope=str(data.get("scope", "")),
            unit=str(data.get("unit", "")),
            limit=float(data.get("limit", 0.0)),
            source=str(data.get("source", "")),
            where=data.get("where"),
            used=_float_or_none(data.get("used")),
            remaining=_float_or_none(data.get("remaining")),
        )


@dataclass(slots=True)
class BudgetSummary:
    """The budget's state at the end of a run: caps with their use, what was cut, and what that does."""

    caps: list[CapUse] = field(default_factory=list)
    cut: int = 0
    """Cases the budget did not admit (reported as skipped)."""
    action: Literal["fail", "warn"] = "fail"
    """What cut cases do to the check."""
    denials: list[str] = field(default_factory=list)
    """The first denials, as sentences."""

    @property
    def exhausted(self) -> bool:
        """True when the budget cut at least one case."""
        return self.cut > 0

    @property
    def fails_check(self) -> bool:
        """True when the budget cut cases and the policy says that turns the check red."""
        return self.exhausted and self.action == "fail"

    def binding(self, unit: str = "tokens") -> CapUse | None:
        """The cap in ``unit`` with the least remaining (only caps whose use is known)."""
        known = [c for c in self.caps if c.unit == unit and c.remaining is not None]
        return min(known, key=lambda c: c.remaining or 0.0) if known else None

    def remaining(self) -> tuple[float | None, str | None]:
        """(remaining, unit) of the binding cap: tokens first, then USD."""
        for unit in ("tokens", "usd"):
            cap = self.binding(unit)
            if cap is not None:
                return cap.remaining, unit
        return None, None

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible dict; ``limit_tokens``/``used_tokens``/``remaining_tokens`` name the binding cap."""
        binding = self.binding("tokens")
        return {
            "caps": [c.to_json() for c in self.caps],
            "limit_tokens": binding.limit if binding else None,
            "used_tokens": binding.used if binding else None,
            "remaining_tokens": binding.remaining if binding else None,
            "source": binding.source if binding else None,
            "cut": self.cut,
            "exhausted": self.exhausted,
            "action": self.action,
            "denials": list(self.denials),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BudgetSummary:
        """Rebuild from ``to_json`` output."""
        action = data.get("action")
        return cls(
            caps=[CapUse.from_json(c) for c in data.get("caps", []) if isinstance(c, dict)],
            cut=int(data.get("cut", 0) or 0),
            action="warn" if action == "warn" else "fail",
            denials=[str(d) for d in data.get("denials", [])],
        )


@dataclass(slots=True)
class CaseResult:
    """Everything the reports need about one finished case (one pytest item)."""

    nodeid: str
    file: str
    line: int | None
    status: CaseStatus
    kind: Literal["suite", "python"] = "suite"
    suite: str | None = None
    repeats: int = 0
    passes: int = 0
    threshold: float = 1.0
    pass_rate_ci: tuple[float, float] | None = None
    """Wilson interval of the pass rate at ``confidence``."""
    confidence: float = 0.95
    """Confidence of ``pass_rate_ci``."""
    max_repeats: int = 0
    """For a case that could stop early (``repeat: {max: N}``), N: ``repeats`` are the runs it made. 0 otherwise."""
    repeat_tokens_saved: int = 0
    """For a case that stopped early, the tokens the runs not made would have cost: the runs' mean tokens (their
    judge calls included) times the runs not made. An estimate."""
    output: str = ""
    """An excerpt of the (first failing, else first) output."""
    verdicts: list[Verdict] = field(default_factory=list)
    """Per assertion, of the run shown (the first failing one, else the first)."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: list[float] = field(default_factory=list)
    model: str = ""
    endpoint: str = ""
    retries: int = 0
    calls: int = 0
    error: str | None = None
    skip_reason: str | None = None
    duration_s: float = 0.0
    cost_usd: float | None = None
    """Cost of the case's calls; ``None`` when no price is known for the endpoint."""
    estimated_prompt_tokens: int | None = None
    """Prompt tokens estimated before sending (``/tokenize`` or tiktoken), next to the reported actuals."""
    judge_tokens: int = 0
    """Tokens spent by model-graded checks (judges) on this case."""
    judge_first_decided: int = 0
    """Judge cascade: verdicts the first (cheapest) judge decided alone."""
    judge_escalated: int = 0
    """Judge cascade: verdicts passed on to a larger judge (score near the threshold, or no valid verdict)."""
    judge_tokens_saved: int = 0
    """Judge cascade: larger-judge tokens not spent, estimated as the first judge's tokens on the verdicts it
    decided alone (the same prompts; a larger judge's reply to the same schema is about as long)."""
    score: float | None = None
    """Mean over the runs of each run's weighted assertion score (0-1)."""
    named_scores: dict[str, float] = field(default_factory=dict)
    """Mean score per assertion ``metric`` name, over the runs."""
    tags: list[str] = field(default_factory=list)
    owner: str | None = None
    """Team or owner the case's cost is attributed to."""
    cache_hits: int = 0
    """Calls answered from the response cache (no tokens spent)."""
    replaced_chars: int = 0
    """Invalid characters in the case's answers, replaced at the boundary (reported, never a crash)."""
    change: str | None = None
    """Against the baseline run: ``regressed``, ``fixed``, ``added``, ``still_failing``, ``flaky``, ``skipped``
    or ``unchanged``; ``None`` without a baseline."""
    base_status: str | None = None
    """The case's status in the baseline run (``None`` without one, or when the case is new)."""
    base_passes: int = 0
    """Passing repeats of the case in the baseline run (with ``base_repeats``: the sampled tests after a merge)."""
    base_repeats: int = 0
    history: str | None = None
    """Set when the case is flaky in history (its recent runs in the ledger both passed and failed), e.g.
    ``failed 3 of the last 10 runs on main``: a hint for the reader, never a reason to pass the check."""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """Tool calls of the run shown (``ToolCall.to_json``), in the order the model asked for them."""
    transcript: list[dict[str, Any]] = field(default_factory=list)
    """A multi-turn conversation of the run shown, message by message (``role``, ``content``, ``turn``);
    empty for a single-turn case."""
    failed_over: int = 0
    """Calls of the case answered by a fallback endpoint instead of the one they were routed to."""
    failed_over_from: str | None = None
    """The endpoint those calls were routed to (``endpoint`` is the one that answered)."""
    messages: list[dict[str, str]] = field(default_factory=list)
    """The prompt as sent (role and an excerpt of the content per message), secrets scrubbed; empty when the
    case was never sent (input guardrails, budget) or came from a Python test."""

    @classmethod
    def from_outcomes(
        cls, nodeid: str, file: str, line: int | None, outcomes: list[Outcome], **extra: Any
    ) -> CaseResult:
        """A passed result summing the usage, latency and retries of ``outcomes``; ``extra`` sets other fields."""
        first = outcomes[0] if outcomes else Outcome("")
        return cls(
            nodeid=nodeid,
            file=file,
            line=line,
            status="passed",
            suite=file,
            prompt_tokens=sum(o.prompt_tokens or 0 for o in outcomes),
            completion_tokens=sum(o.completion_tokens or 0 for o in outcomes),
            latency_ms=[round(o.latency_ms, 3) for o in outcomes if o.ok],
            model=first.model,
            endpoint=first.endpoint,
            retries=sum(o.retries for o in outcomes),
            calls=len(outcomes),
            cache_hits=sum(1 for o in outcomes if o.cache_hit),
            replaced_chars=sum(o.replaced_chars for o in outcomes),
            failed_over=sum(1 for o in outcomes if o.failed_over_from is not None),
            failed_over_from=next((o.failed_over_from for o in outcomes if o.failed_over_from), None),
            **extra,
        )

    @property
    def stopped_early(self) -> bool:
        """True when the case stopped before its most runs (``repeat: {max}``)."""
        return 0 < self.repeats < self.max_repeats

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens over all calls of the case."""
        return self.prompt_tokens + self.completion_tokens

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible dict (what crosses from xdist workers and lands in the run record)."""
        # built by hand: dataclasses.asdict deep-copies and costs ~0.3 ms per case on the hot path
        data = {name: getattr(self, name) for name in _CASE_FIELDS}
        data["verdicts"] = [v.to_json() for v in self.verdicts]
        data["latency_ms"] = list(self.latency_ms)
        data["messages"] = [dict(m) for m in self.messages]
        data["pass_rate_ci"] = list(self.pass_rate_ci) if self.pass_rate_ci is not None else None
        data["total_tokens"] = self.total_tokens
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseResult:
        """Rebuild from ``to_json`` output; unknown keys are ignored."""
        kwargs = {k: v for k, v in data.items() if k in _CASE_FIELDS}
        ci = kwargs.get("pass_rate_ci")
        if ci is not None:
            kwargs["pass_rate_ci"] = (float(ci[0]), float(ci[1]))
        kwargs["verdicts"] = [Verdict.from_json(v) for v in kwargs.get("verdicts") or [] if isinstance(v, dict)]
        return cls(**kwargs)


_CASE_FIELDS = tuple(f.name for f in dataclasses.fields(CaseResult))


@dataclass(slots=True)
class BaselineSummary:
    """How the run compares with its baseline (the base branch's run record), and what the gate made of it."""

    source: str
    """Where the baseline was read from, as given."""
    found: bool = True
    """False when a baseline was asked for but none could be read (the run is then judged as without one)."""
    trusted: bool = True
    """True when the path came from the command line or a policy, not from the project config: only a trusted
    baseline lets ``fail-on: regression`` or ``significant`` pass a run that has failures."""
    note: str = ""
    """Why no baseline was used, when ``found`` is false."""
    headline: str = ""
    """E.g. ``2 regressions, 1 fix · pass rate 95.0% → 92.5% (McNemar p = 0.50) · tokens +12%``."""
    counts: dict[str, int] = field(default_factory=dict)
    """Cases per change (``regressed``, ``fixed``, ...)."""
    blocking: list[str] = field(default_factory=list)
    """Node ids of new failures: regressed cases and added cases that are red."""
    removed: list[str] = field(default_factory=list)
    """Node ids in the baseline that this run did not have."""
    mcnemar_p: float | None = None
    sampled_p: float | None = None
    significant: bool = False
    base_pass_rate: float | None = None
    head_pass_rate: float | None = None
    tokens_change: float | None = None
    """Relative change of tokens (0.12 is +12%)."""
    gate: str = ""
    """The gate's decision in words, e.g. ``fail-on regression: 2 new failure(s)``."""
    red: bool | None = None
    """The gate's verdict at the end of the run (``None`` when no gate was evaluated)."""
    below_floor: list[str] = field(default_factory=list)
    """Pass-rate floors (``min_pass_rate``) the run fell below, as sentences."""
    base_id: str = ""
    """Identifies the base run's content (a digest of its cases and end time): shards compared with the same
    baseline carry the same one, and only then does a merged record keep the comparison."""
    base_tokens: int | None = None
    """Tokens of the whole base run (the base of ``tokens_change``)."""
    alpha: float = 0.05
    """Significance level the comparison used."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible dict."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BaselineSummary:
        """Rebuild from ``to_json`` output; unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["source"] = str(kwargs.get("source", ""))
        return cls(**kwargs)


@dataclass(slots=True)
class RunRecord:
    """One pytest session's results: the only input of every reporter."""

    cases: list[CaseResult] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    endpoints: dict[str, dict[str, str]] = field(default_factory=dict)
    started_at: float = 0.0
    finished_at: float = 0.0
    budget: BudgetSummary | None = None
    """Budget state when a budget applied."""
    baseline: BaselineSummary | None = None
    """The comparison with the baseline run, when one was asked for."""
    version: int = RUN_RECORD_VERSION

    def totals(self) -> dict[str, Any]:
        """Counts and token sums over all cases."""
        counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
        for case in self.cases:
            counts[case.status] += 1
        return {
            "cases": len(self.cases),
            **counts,
            "calls": sum(c.calls for c in self.cases),
            "prompt_tokens": sum(c.prompt_tokens for c in self.cases),
            "completion_tokens": sum(c.completion_tokens for c in self.cases),
            "total_tokens": sum(c.total_tokens for c in self.cases),
            "retries": sum(c.retries for c in self.cases),
            "cache_hits": sum(c.cache_hits for c in self.cases),
            "cost_usd": _sum_cost(self.cases),
            "judge_tokens": sum(c.judge_tokens for c in self.cases),
            "judge_first_decided": sum(c.judge_first_decided for c in self.cases),
            "judge_escalated": sum(c.judge_escalated for c in self.cases),
            "judge_tokens_saved": sum(c.judge_tokens_saved for c in self.cases),
            "stopped_early": sum(1 for c in self.cases if c.stopped_early),
            "repeat_tokens_saved": sum(c.repeat_tokens_saved for c in self.cases),
            "replaced_chars": sum(c.replaced_chars for c in self.cases),
            "failed_over": sum(c.failed_over for c in self.cases),
            "duration_s": round(max(0.0, self.finished_at - self.started_at), 3),
        }

    def failovers(self) -> dict[tuple[str, str], int]:
        """Calls answered by a fallback, by (endpoint routed to, endpoint that answered)."""
        counts: dict[tuple[str, str], int] = {}
        for case in self.cases:
            if case.failed_over and case.failed_over_from:
                pair = (case.failed_over_from, case.endpoint)
                counts[pair] = counts.get(pair, 0) + case.failed_over
        return counts

    def to_json(self) -> dict[str, Any]:
        """The run record as written by ``--helm-eval-report``."""
        return {
            "version": self.version,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "labels": self.labels,
            "endpoints": self.endpoints,
            "budget": self.budget.to_json() if self.budget is not None else None,
            "baseline": self.baseline.to_json() if self.baseline is not None else None,
            "totals": self.totals(),
            "cases": [c.to_json() for c in self.cases],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        """Read a run record written by ``to_json``."""
        version = data.get("version")
        if version != RUN_RECORD_VERSION:
            raise ValueError(f"unsupported run record version {version!r} (expected {RUN_RECORD_VERSION})")
        return cls(
            cases=[CaseResult.from_json(c) for c in data.get("cases", [])],
            labels=dict(data.get("labels", {})),
            endpoints=dict(data.get("endpoints", {})),
            started_at=float(data.get("started_at", 0.0)),
            finished_at=float(data.get("finished_at", 0.0)),
            budget=BudgetSummary.from_json(data["budget"]) if isinstance(data.get("budget"), dict) else None,
            baseline=BaselineSummary.from_json(data["baseline"]) if isinstance(data.get("baseline"), dict) else None,
        )


def _float_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _sum_cost(cases: list[CaseResult]) -> float | None:
    costs = [c.cost_usd for c in cases if c.cost_usd is not None]
    return round(sum(costs), 6) if costs else None
