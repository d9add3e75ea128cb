"""Repeats that stop early: a case's runs sent in rounds, each judged as it arrives, until the interval decides.

The first round of a ``repeat: {max: N}`` case is admitted and sent with every other case (``Pipeline.submit``).
When a round's outcomes are all in, a worker thread finishes their conversations (multi-turn cases), judges them
(judge calls take the pipeline's call path) and asks ``_stopping`` whether the case is decided; if not, the next
round is admitted under the budget and sent like any call. Nothing waits on the dispatch loop: meanwhile the
other cases' calls keep the server's queue full. Runs never sent were never admitted, so they are neither
reserved nor charged.

The case's item waits for ``Sampling.done``, then takes the runs' verdict as judged here.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from helm_eval._records import Call, Case, Outcome, Verdict
from helm_eval.config import BudgetCut
from helm_eval.ledger import Denial
from helm_eval.pipeline._stopping import round_size, stopped
from helm_eval.pipeline._verdict import CaseJudge, CaseVerdict, case_verdict
from helm_eval.pipeline._waiting import when_all_done

WORKERS = 8
"""Threads that judge finished rounds and send the next ones (a judge call blocks its thread while it runs)."""

SendRound = Callable[["Sampling", list[Call]], "list[concurrent.futures.Future[Outcome]] | Denial | None"]
"""Admit and send a round's calls: their futures, a ``Denial``, or ``None`` when the case was cancelled."""
Converse = Callable[[Case, Call, Outcome], Outcome]
"""A multi-turn case's later turns after its first answer: the last turn's outcome."""
JudgeRuns = Callable[[Case, Sequence[Outcome], "CaseJudge | None"], CaseVerdict]
"""Judge outcomes of a case, carrying on an earlier judgment (its judge) when given."""


@dataclass(slots=True)
class Sampling:
    """One early-stopping case: its planned runs, the runs made and judged so far, and when it is done."""

    case: Case
    planned: list[Call]
    """Every run's call as planned (``max`` of them); the first ``sent`` went out."""
    sent: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    """The runs' outcomes in order (a multi-turn run's last turn, the earlier ones in it)."""
    runs: list[list[Verdict]] = field(default_factory=list)
    passed: list[bool] = field(default_factory=list)
    scores: list[float | None] = field(default_factory=list)
    judge: CaseJudge | None = None
    cut: BudgetCut | None = None
    """Why the budget refused a later round, if it did."""
    cancelled: bool = False
    done: concurrent.futures.Future[list[Outcome]] = field(default_factory=concurrent.futures.Future)
    """Resolves to ``outcomes`` once no more runs will be made; cancelled with the case."""

    def verdict(self) -> CaseVerdict | None:
        """The runs' verdict as judged round by round; ``None`` when no run was judged."""
        if self.judge is None:
            return None
        verdict = case_verdict(list(self.runs), self.judge, list(self.passed), list(self.scores))
        verdict.sampling_cut = self.cut
        return verdict


class Sampler:
    """Drives the rounds of every early-stopping case of one pipeline."""

    def __init__(self, send: SendRound, converse: Converse, judge: JudgeRuns) -> None:
        self._send = send
        self._converse = converse
        self._judge = judge
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._open_cases: dict[int, Sampling] = {}
        self._lock = threading.Lock()
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once the pipeline closed: no round is sent any more."""
        return self._closed

    def start(self, sampling: Sampling, futures: Sequence[concurrent.futures.Future[Outcome]]) -> None:
        """Follow the first round of ``sampling`` (``futures``, already sent)."""
        with self._lock:
            self._open_cases[id(sampling)] = sampling
        sampling.sent = len(futures)
        self._watch(sampling, list(futures))

    def _watch(self, sampling: Sampling, futures: list[concurrent.futures.Future[Outcome]]) -> None:
        def arrived() -> None:
            # runs on the dispatch loop's thread: judging and admission may need the loop, so hand over
            with self._lock:
                if self._closed:
                    pool = None
                else:
                    if self._pool is None:
                        self._pool = concurrent.futures.ThreadPoolExecutor(
                            WORKERS, thread_name_prefix="helm-eval-rounds"
                        )
                    pool = self._pool
            try:
                if pool is None:
                    raise RuntimeError("closed")
                pool.submit(self._round_done, sampling, futures)
            except RuntimeError:  # closing: nothing more is sent
                self._finish(sampling, cancel=True)

        when_all_done(futures, arrived)

    def _round_done(self, sampling: Sampling, futures: list[concurrent.futures.Future[Outcome]]) -> None:
        try:
            self._next(sampling, futures)
        except BaseException as exc:  # the waiting item raises it
            with self._lock:
                self._open_cases.pop(id(sampling), None)
            if not sampling.done.done():
                sampling.done.set_exception(exc)

    def _next(self, sampling: Sampling, futures: list[concurrent.futures.Future[Outcome]]) -> None:
        if sampling.cancelled or any(f.cancelled() for f in futures):
            self._finish(sampling, cancel=True)
            return
        case = sampling.case
        first = sampling.sent - len(futures)
        outcomes = [f.result() for f in futures]
        if case.followups and not any(o.error for o in outcomes):
            calls = sampling.planned[first : sampling.sent]
            outcomes = [self._converse(case, c, o) for c, o in zip(calls, outcomes, strict=True)]
        sampling.outcomes.extend(outcomes)
        if any(t.error for o in outcomes for t in o.turns):
            self._finish(sampling)  # the case is an error: no verdict, no more runs
            return
        verdict = self._judge(case, outcomes, sampling.judge)
        sampling.judge = verdict.judge
        sampling.runs.extend(verdict.runs)
        sampling.passed.extend(verdict.passed_runs)
        sampling.scores.extend(verdict.scores)
        runs, passes = len(sampling.passed), sum(sampling.passed)
        if verdict.judge.cut is not None or stopped(case, passes, runs):
            self._finish(sampling)
            return
        size = round_size(passes, runs, case.repeat, case.threshold, case.confidence)
        sent = self._send(sampling, sampling.planned[runs : runs + size])
        if sent is None:
            self._finish(sampling, cancel=True)
        elif isinstance(sent, Denial):
            sampling.cut = BudgetCut(sent)
            self._finish(sampling)
        else:
            sampling.sent += len(sent)
            self._watch(sampling, sent)

    def _finish(self, sampling: Sampling, *, cancel: bool = False) -> None:
        with self._lock:
            self._open_cases.pop(id(sampling), None)
        if sampling.done.done():
            return
        if cancel:
            sampling.cancelled = True
            sampling.done.cancel()
        else:
            sampling.done.set_result(list(sampling.outcomes))

    def cancel_all(self) -> None:
        """Send no more rounds for any case (Ctrl-C, ``-x``); cases waiting for one are cancelled."""
        with self._lock:
            open_cases = list(self._open_cases.values())
        for sampling in open_cases:
            sampling.cancelled = True

    def close(self) -> None:
        """Stop judging and sending rounds; release every item still waiting. Idempotent."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
            open_cases = list(self._open_cases.values())
            self._open_cases.clear()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        for sampling in open_cases:
            sampling.cancelled = True
            if not sampling.done.done():
                sampling.done.cancel()
