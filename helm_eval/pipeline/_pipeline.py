"""The Pipeline: Case → plan → dispatch → record → Outcome, with no knowledge of pytest.

Every model call of a run — the system under test, judges, ``helm_model`` calls — passes through ``call`` or
``submit``: routed, guarded (input guardrails), estimated, looked up in the response cache, admitted under
the budget, dispatched on the background loop, and recorded in the ledger. ``plan`` is the same path with the
sending left out (``helm-eval plan``, ``helm_eval.pipeline.plan_cases``).

A script drives it like this::

    from helm_eval.pipeline import Pipeline, RunSettings
    from helm_eval.collect import load_suite

    settings = RunSettings.load(".")
    cases = load_suite(Path("suites/basics.yaml"), "suites/basics.yaml", settings.config.options)
    with Pipeline(settings) as pipeline:
        for result in pipeline.evaluate(cases):
            print(result.nodeid, result.status)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType

from helm_eval._http import Transport
from helm_eval._records import Call, Case, CaseResult, Outcome, RunRecord
from helm_eval.checks import EmbedFn, InputBlocked, scan_inputs
from helm_eval.config import ENV_API_KEY, BudgetCut, ProjectConfig, SuiteError
from helm_eval.dispatch import Dispatcher, Endpoint
from helm_eval.ledger import ENV_POLICY as _ENV_POLICY
from helm_eval.ledger import (
    Budget,
    CodeOwners,
    Denial,
    Ledger,
    budget_plan,
    ci_labels,
    cli_budget,
    cost_model,
    ledger_url,
    load_policy,
    record_outcomes,
    trusted_ledger,
)
from helm_eval.pipeline._admission import Admission
from helm_eval.pipeline._connection import Connection
from helm_eval.pipeline._conversation import converse
from helm_eval.pipeline._embedder import Embedder
from helm_eval.pipeline._evaluation import Evaluation, Gathered, case_key
from helm_eval.pipeline._recording import Recorder
from helm_eval.pipeline._redaction import Redactor
from helm_eval.pipeline._responses import Responses, cache_path, overruled_cache_path
from helm_eval.pipeline._sampling import Sampler, Sampling
from helm_eval.pipeline._settings import RunSettings
from helm_eval.pipeline._stopping import first_round
from helm_eval.pipeline._verdict import CaseJudge, CaseVerdict, judge_case
from helm_eval.plan import Estimate, Planner, TokenEstimator

_FIRST_CHUNK = 16
_LARGEST_CHUNK = 512
"""Cases planned and sent at once without a budget: a first small chunk gets calls out early, then doubling."""


@dataclass(slots=True)
class _Ticket:
    """What became of one case's calls: sent (futures), cut by the budget, or blocked by input guardrails."""

    calls: list[Call] = field(default_factory=list)
    futures: list[concurrent.futures.Future[Outcome]] = field(default_factory=list)
    denial: Denial | None = None
    blocked: InputBlocked | None = None
    conversed: list[Outcome] | None = None
    """A multi-turn case's outcomes, one per repeat, each the last turn with the earlier ones in it."""
    sampling: Sampling | None = None
    """An early-stopping case's rounds (``repeat: {max}``); ``calls`` and ``futures`` grow with each round."""


def _ignored_under_policy(config: ProjectConfig) -> list[str]:
    ignored = []
    if config.ledger is not None:
        ignored.append(f"ledger ({config.ledger!r})")
    if config.prices or any(e.price is not None for e in config.endpoints.values()):
        ignored.append("prices")
    if config.budget.on_exhausted == "warn":
        ignored.append("budget.on_exhausted: warn")
    if config.on_unavailable == "skip":
        ignored.append("on_unavailable: skip")
    if not ignored:
        return []
    return [f"a trusted policy or command-line budget is in force: the project config's {', '.join(ignored)} ignored"]


class Pipeline:
    """One run's pipeline: endpoints, budget, cache, dispatch loop and ledger, shared by every call of the run."""

    def __init__(
        self,
        settings: RunSettings,
        *,
        run_id: str | None = None,
        reclaim: bool = True,
        dry_run: bool = False,
        transport: Transport | None = None,
    ) -> None:
        """Read the policy, bind the budget and open the ledger; raises ``HelmEvalError`` on bad input.

        ``run_id`` joins an existing run (pytest-xdist workers share the controller's); ``reclaim`` settles the
        reservations of runs that died; ``dry_run`` sends nothing and records nothing. ``transport``: an HTTP
        worker started earlier (the pytest plugin starts one as pytest starts), for the dispatch loop to use;
        the pipeline closes it.
        """
        self.settings = settings
        self.dry_run = dry_run
        self.run_id = run_id or uuid.uuid4().hex[:16]
        options = settings.budget
        self.labels: dict[str, str | None] = {**ci_labels(), **options.labels}
        policy = load_policy(options.policy or os.environ.get(_ENV_POLICY))
        cli = cli_budget(options.tokens, options.usd, options.scope, options.on_exhausted)
        self.trusted = policy[0] is not None or cli is not None
        """A policy or a command-line budget is in force: the project's config may then only make things stricter."""
        config = settings.config
        self.notices = [
            *(_ignored_under_policy(config) if self.trusted else []),
            *overruled_cache_path(config.cache_path),
        ]
        """What the project's config asked for that a trusted source overrules, said once in the summary."""
        self.skip_unavailable = config.on_unavailable == "skip" and not self.trusted
        """Skip (rather than fail) cases no endpoint can answer; a trusted source keeps them errors (red stays red)."""
        self.budget_plan = budget_plan(config, settings.config_source, policy, cli)
        self.cost = cost_model(config, policy[0], trusted=self.trusted)
        self.ledger = Ledger(
            ledger_url(trusted_ledger(options.ledger, policy[0], config, self.trusted), settings.rootdir)
        )
        self._reclaim = reclaim and not dry_run
        self.budget = (
            Budget(self.budget_plan, self.ledger, "plan" if dry_run else self.run_id, self.labels)
            if self.budget_plan.active
            else None
        )
        # a dry run reads the cache too: a hit would cost nothing, so it reserves nothing
        mode = options.cache or settings.config.cache
        self.responses = Responses(mode, cache_path(config.cache_path, settings.rootdir), config.cache_ttl_seconds)
        key_vars = {ENV_API_KEY, *(spec.api_key_env for spec in config.endpoints.values())}
        self.keys = Redactor.for_keys(key_vars)
        """The configured API keys: scrubbed from everything written, the response cache included."""
        self.redactor = Redactor.for_keys(key_vars)
        """The keys plus every secret or PII span the run's guardrails found: scrubbed from every report."""
        self.codeowners = CodeOwners.find(settings.rootdir)
        self.estimator = TokenEstimator()
        self.offline = False
        """Estimate with tiktoken only, never asking an endpoint (``helm-eval plan --offline``)."""
        self.connection = Connection(
            settings, self.responses, self.redactor, skip_unavailable=self.skip_unavailable,
            settle=(self.ledger, self.run_id) if self._reclaim else None, transport=transport,
        )  # fmt: skip
        """The endpoints and the dispatch loop (``helm_eval.pipeline._connection``)."""
        self._recorder: Recorder | None = None
        self._tickets: dict[str, _Ticket] = {}
        self.admission = Admission(
            self.budget, self.cost, self.responses, self._estimate, self.owner, self.connection.endpoint_of,
            fallbacks=self.connection.fallback_calls,
        )  # fmt: skip
        self._admitting = threading.Lock()
        """Held while admitting and sending: judges run ahead admit from a worker thread."""
        self.evaluation = Evaluation(self)
        """The verdict stage: gathers outcomes and judges cases, its judge calls coming back through ``call``."""
        self.sampler = Sampler(self._send_round, self._converse, self._judge_runs)
        """Sends the later rounds of cases that stop early, judging each round as it arrives."""

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- plan: routing ------------------------------------------------------------------------------------

    @property
    def endpoints(self) -> dict[str, Endpoint]:
        """Resolved endpoints (config file, then environment, then command line)."""
        return self.connection.endpoints

    @property
    def planner(self) -> Planner:
        """The planner routing cases to endpoints."""
        return self.connection.planner

    def use_endpoints(self, endpoints: dict[str, Endpoint], planner: Planner) -> None:
        """Route to ``endpoints`` instead of the configured ones (a dry run's placeholder)."""
        self.connection.use(endpoints, planner)

    def check_case(self, case: Case) -> None:
        """Refuse a case that names an endpoint nobody configured (a ``SuiteError`` at its line)."""
        if case.endpoint is not None and case.endpoint not in self.endpoints:
            known = ", ".join(sorted(self.endpoints))
            raise SuiteError(case.file, case.line, f"unknown endpoint {case.endpoint!r} (configured: {known})")

    def owner(self, case: Case) -> str | None:
        """Team the case is attributed to: its metadata ``owner``/``team``, else CODEOWNERS of its suite."""
        for key in ("owner", "team"):
            value = case.metadata.get(key)
            if isinstance(value, str) and value:
                return value
        return self.codeowners.owner(case.file)

    def embedder(self, case: Case, outcomes: list[Outcome]) -> EmbedFn | None:
        """Embeds texts for ``case``'s checks through ``call``; ``None`` when no embedding endpoint is configured.

        Admitted, cached, budgeted and recorded as ``embedding`` ledger rows; each outcome goes to ``outcomes``.
        """
        spec = self.settings.config.embedding
        return None if spec is None else Embedder(self, case, spec, outcomes)

    # -- dispatch --------------------------------------------------------------------------------------------

    @property
    def recorder(self) -> Recorder:
        """The record stage (started on first use)."""
        if self._recorder is None:
            self._recorder = Recorder(self.ledger, self.run_id, self.labels, self.cost, self.responses, self.keys)
        return self._recorder

    def warm_up(self, *, probe: bool = True) -> None:
        """Start the dispatch loop and its HTTP worker now, so they are ready when the first call needs them.

        With ``probe`` the endpoints are asked for their models (and servers for their token counters) ahead
        too; the answers are checked, as ever, when the first call is planned. Not for a server that is still
        starting.
        """
        self.connection.warm_up(probe=probe)

    def dispatcher(self) -> Dispatcher:
        """The dispatch loop, started, with every endpoint it will use checked once.

        A dead endpoint is one ``EndpointError`` here (raised again on every later use), not one timeout per
        call; an endpoint with no model set takes the one model it serves.
        """
        return self.connection.dispatcher(None if self.dry_run else lambda: self.recorder.finished)

    def submit(self, cases: Sequence[Case]) -> None:
        """Plan, admit (highest priority first) and send the calls of ``cases`` not submitted yet.

        Under a budget the whole batch is admitted in one decision (one ledger transaction, priority order).
        Without one there is nothing to decide for the batch as a whole, so it is planned and sent in growing
        chunks, highest priority first: the first calls leave while the rest of a large suite is still planned.
        """
        waiting = [case for case in cases if case_key(case) not in self._tickets]
        if not waiting:
            return
        if self.budget is not None:
            self._submit_batch(waiting)
            return
        waiting.sort(key=lambda case: -case.priority)  # stable: file order among equals
        start, size = 0, _FIRST_CHUNK
        while start < len(waiting):
            self._submit_batch(waiting[start : start + size])
            start, size = start + size, min(size * 2, _LARGEST_CHUNK)

    def _submit_batch(self, cases: Sequence[Case]) -> None:
        fresh: list[Case] = []
        for case in cases:
            findings = scan_inputs(case)
            if findings:
                self._tickets[case_key(case)] = _Ticket(blocked=InputBlocked(findings))
            else:
                fresh.append(case)
        if not fresh:
            return
        dispatcher = self.dispatcher()
        every = [self.planner.calls(case) for case in fresh]
        # a case that stops early is admitted and sent its first round only; the sampler sends the rest
        planned = [(case, calls[: first_round(case)]) for case, calls in zip(fresh, every, strict=True)]
        with self._admitting:
            decisions = self.admission.admit(planned)
            order = sorted(range(len(fresh)), key=lambda i: -fresh[i].priority)
            for index in order:
                case, decision = fresh[index], decisions[index]
                if isinstance(decision, Denial):
                    self._tickets[case_key(case)] = _Ticket(denial=decision)
                    continue
                futures = [self._send(dispatcher, call) for call in decision]
                ticket = self._tickets[case_key(case)] = _Ticket(list(decision), futures)
                if case.stop_early:
                    ticket.sampling = Sampling(case, every[index])
                    self.sampler.start(ticket.sampling, futures)
                else:
                    self.evaluation.watch(case, futures)

    def _send_round(
        self, sampling: Sampling, calls: list[Call]
    ) -> list[concurrent.futures.Future[Outcome]] | Denial | None:
        """Admit and send a later round of an early-stopping case; ``None`` once the case is cancelled."""
        if sampling.cancelled or self.sampler.closed:
            return None  # and never start the dispatch loop again once the pipeline closed
        case = sampling.case
        with self._admitting:
            ticket = self._tickets.get(case_key(case))
            if sampling.cancelled or self.sampler.closed or ticket is None or ticket.sampling is not sampling:
                return None
            dispatcher = self.dispatcher()
            decision = self.admission.admit([(case, calls)])[0]
            if isinstance(decision, Denial):
                return decision
            futures = [self._send(dispatcher, call) for call in decision]
            ticket.calls.extend(decision)
            ticket.futures.extend(futures)
            return futures

    def _converse(self, case: Case, call: Call, outcome: Outcome) -> Outcome:
        return converse(self.call, case, call, outcome)

    def _judge_runs(self, case: Case, outcomes: Sequence[Outcome], judge: CaseJudge | None) -> CaseVerdict:
        return judge_case(self.evaluation, case, outcomes, self.settings.config.judge, judge)

    def sampled(self, case: Case) -> Sampling | None:
        """The rounds of ``case`` when it stops early (``repeat: {max}``) and was sent."""
        ticket = self._tickets.get(case_key(case))
        return ticket.sampling if ticket is not None else None

    def _send(self, dispatcher: Dispatcher, call: Call) -> concurrent.futures.Future[Outcome]:
        """Dispatch ``call``, or answer it from the response cache (a hit is recorded but costs nothing)."""
        hit = self.responses.hit(call)
        if hit is None:
            return dispatcher.submit(call)
        now = time.time()
        self.recorder.finished(call, hit, True, now, now)
        future: concurrent.futures.Future[Outcome] = concurrent.futures.Future()
        future.set_result(hit)
        return future

    def outcomes(self, case: Case) -> list[Outcome]:
        """Wait for the outcomes of ``case``'s calls, submitting them now if they were not sent ahead.

        Raises ``InputBlocked`` (nothing sent), ``BudgetCut`` (not admitted) or ``EndpointError``.
        """
        self.submit([case])
        ticket = self._tickets[case_key(case)]
        if ticket.blocked is not None:
            raise ticket.blocked
        if ticket.denial is not None:
            raise BudgetCut(ticket.denial)
        if ticket.sampling is not None:
            return ticket.sampling.done.result()  # its conversations are held there already
        outcomes = [future.result() for future in ticket.futures]
        if not case.followups:
            return outcomes
        if ticket.conversed is None:
            # the later turns depend on the model's answers: each is sent when the turn before it is in, through
            # ``call`` (admission, cache, budget, ledger) like any other call of the run
            ticket.conversed = [converse(self.call, case, c, o) for c, o in zip(ticket.calls, outcomes, strict=True)]
        return ticket.conversed

    def calls_of(self, case: Case) -> list[Call]:
        """The calls sent for ``case`` (with estimates and reservations), once submitted."""
        ticket = self._tickets.get(case_key(case))
        return list(ticket.calls) if ticket is not None else []

    def forget(self, cases: Iterable[Case]) -> int:
        """Cancel what was sent ahead for ``cases`` (deselected after all); returns calls cancelled."""
        cancelled = 0
        with self._admitting:  # no later round of an early-stopping case is sent once it is forgotten
            for case in cases:
                ticket = self._tickets.pop(case_key(case), None)
                if ticket is None:
                    continue
                if ticket.sampling is not None:
                    ticket.sampling.cancelled = True
                cancelled += sum(1 for future in ticket.futures if future.cancel())
        return cancelled

    def call(self, call: Call, case: Case) -> Outcome:
        """One call (a judge's, a ``helm_model`` test's) through admission and dispatch; waits for it.

        Raises ``BudgetCut`` when the budget refuses it.
        """
        sent = self.send(call, case)
        if isinstance(sent, Denial):
            raise BudgetCut(sent)
        return sent.result()

    def send(self, call: Call, case: Case) -> concurrent.futures.Future[Outcome] | Denial:
        """Admit and dispatch one call without waiting for it (judges run ahead this way); thread-safe."""
        dispatcher = self.dispatcher()
        with self._admitting:
            decision = self.admission.admit([(case, [call])])[0]
            if isinstance(decision, Denial):
                return decision
            return self._send(dispatcher, decision[0])

    def cancel_pending(self) -> int:
        """Cancel every call not finished yet (Ctrl-C, ``-x``); returns how many were cancelled."""
        self.sampler.cancel_all()
        return self.connection.cancel_pending()

    def _estimate(self, calls: list[Call]) -> list[Estimate]:
        if self.offline:
            return [self.estimator.offline(call.messages) for call in calls]
        dispatcher = self.connection.started or self.dispatcher()

        async def all_of() -> list[Estimate]:
            slots = asyncio.Semaphore(32)

            async def one(call: Call) -> Estimate:
                async with slots:
                    return await self.estimator.estimate(dispatcher.transport, self.endpoints[call.endpoint], call)

            return list(await asyncio.gather(*(one(c) for c in calls)))

        return dispatcher.run(all_of())

    # -- verdict (helm_eval.pipeline._evaluation) -----------------------------------------------------------

    def gather(self, case: Case, nodeid: str | None = None) -> Gathered:
        """Wait for ``case``'s outcomes and sum them into a result (see ``Evaluation.gather``)."""
        return self.evaluation.gather(case, nodeid)

    def judge(self, case: Case, gathered: Gathered) -> CaseVerdict:
        """Apply ``case``'s assertions to its outcomes and fill in the result (see ``Evaluation.judge``)."""
        return self.evaluation.judge(case, gathered)

    def explain(self, case: Case, gathered: Gathered, verdict: CaseVerdict) -> str:
        """Why ``case`` failed, in a few lines, with secrets scrubbed (pytest's failure text, JUnit)."""
        return self.redactor.scrub(verdict.explain(case, gathered.outcomes))

    def evaluate(self, cases: Sequence[Case]) -> Iterator[CaseResult]:
        """Send every case ahead, then yield each one's result in order (what a script wants)."""
        return self.evaluation.evaluate(cases)

    # -- record ------------------------------------------------------------------------------------------

    def finish(self, record: RunRecord) -> list[str]:
        """Flush the ledger, share GPU cost, and fill in the record's budget, labels and endpoints.

        Returns warnings (ledger or cache writes that failed); the run goes on regardless.
        """
        warnings = self.close()
        if self._recorder is not None:
            self._recorder.share_gpu_cost(record.cases)
        if self.budget is not None:
            summary = self.budget.summary()
            # xdist workers admit on their own: what they cut is known here only from the results
            cut = [c.skip_reason for c in record.cases if c.skip_reason and c.skip_reason.startswith("budget: ")]
            if len(cut) > summary.cut:
                summary.cut = len(cut)
                summary.denials = [reason.removeprefix("budget: ") for reason in cut[:50]]
            record.budget = summary
        record.labels = {k: v for k, v in self.labels.items() if v}
        record.labels["run_id"] = self.run_id
        record.endpoints = {
            name: {"url": ep.base_url, "model": ep.model or ""} for name, ep in self.connection.resolved().items()
        }
        for name, breaker in self.connection.dead().items():
            if name in record.endpoints:
                record.endpoints[name]["down"] = breaker.reason(name).removesuffix("; not sent")
        try:  # each case's status, for flaky cases from history; ledger I/O never aborts a run
            record_outcomes(self.ledger, self.run_id, self.labels, record.cases)
        except Exception as exc:
            warnings.append(f"case statuses not recorded in the ledger: {exc}")
        return warnings

    def dead_endpoints(self) -> list[str]:
        """One line per endpoint that went down during the run: why, and how many calls were not sent."""
        return self.connection.dead_endpoints()

    def close(self) -> list[str]:
        """Stop dispatching (cancelling what is queued) and flush the ledger; returns warnings. Idempotent."""
        self.evaluation.close()
        with self._admitting:  # a round being admitted now is sent before the loop stops, or not at all
            self.sampler.close()
        self.connection.close()
        warnings: list[str] = []
        if self._recorder is not None:
            warnings = self._recorder.close()
        return warnings
