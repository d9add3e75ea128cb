"""The run's endpoints and the dispatch loop that sends to them: resolved once, checked once, closed once.

The pipeline asks for the loop when it first plans a call. That first use checks every endpoint (a dead one is
one ``EndpointError``, raised again on every later use; an endpoint with no model set takes the one model its
server serves) and settles the reservations that dead runs left in the ledger. ``warm_up`` starts the loop and
asks the endpoints ahead, so the first plan finds the answers waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from helm_eval._http import Transport
from helm_eval._records import Call
from helm_eval.config import EndpointError, HelmEvalError
from helm_eval.dispatch import Breaker, Dispatcher, Endpoint, OnFinished, retarget
from helm_eval.ledger import Ledger
from helm_eval.pipeline._failover import fallback_calls, tolerable_outages
from helm_eval.pipeline._redaction import Redactor
from helm_eval.pipeline._responses import Responses
from helm_eval.pipeline._settings import RunSettings
from helm_eval.plan import Planner, resolve_endpoints


class Connection:
    """Endpoints (config file, then environment, then command line) and the dispatch loop of one run."""

    def __init__(
        self,
        settings: RunSettings,
        responses: Responses,
        redactor: Redactor,
        *,
        skip_unavailable: bool,
        settle: tuple[Ledger, str] | None,
        transport: Transport | None = None,
    ) -> None:
        """``settle``: the ledger and run id to settle dead runs against at the first check (``None``: don't).

        ``transport``: an HTTP worker started earlier, handed to the loop when it starts (and closed here when
        no loop ever took it).
        """
        self.settings = settings
        self.responses = responses
        self.redactor = redactor
        self.skip_unavailable = skip_unavailable
        self._settle = settle
        self._transport = transport
        self._endpoints: dict[str, Endpoint] | None = None
        self._planner: Planner | None = None
        self._dispatcher: Dispatcher | None = None
        self._checked = False
        self._check_error: HelmEvalError | None = None
        self._dead: dict[str, Breaker] = {}

    # -- routing -----------------------------------------------------------------------------------------

    @property
    def endpoints(self) -> dict[str, Endpoint]:
        """Resolved endpoints; raises ``HelmEvalError`` for a bad one, on every use."""
        if self._endpoints is None:
            self._endpoints, default = resolve_endpoints(self.settings.config, self.settings.overrides)
            self._planner = Planner(self._endpoints, default)
        return self._endpoints

    @property
    def planner(self) -> Planner:
        """The planner routing cases to endpoints."""
        _ = self.endpoints
        assert self._planner is not None
        return self._planner

    def resolved(self) -> dict[str, Endpoint]:
        """The endpoints if they were resolved, else none (never raises)."""
        return self._endpoints or {}

    def use(self, endpoints: dict[str, Endpoint], planner: Planner) -> None:
        """Route to ``endpoints`` instead of the configured ones (a dry run's placeholder)."""
        self._endpoints, self._planner = endpoints, planner

    def endpoint_of(self, call: Call) -> Endpoint:
        """The endpoint ``call`` is routed to."""
        return self.endpoints[call.endpoint]

    def fallback_calls(self, call: Call) -> list[Call]:
        """``call`` as each fallback of its endpoint would be sent it."""
        return fallback_calls(call, self.endpoints, self.responses.rekeyed)

    def _retarget(self, call: Call, endpoint: Endpoint) -> Call:
        """``call`` as a fallback endpoint is sent it, keyed in the cache by the model that answers."""
        return self.responses.rekeyed(retarget(call, endpoint), endpoint)

    # -- the loop ----------------------------------------------------------------------------------------

    @property
    def started(self) -> Dispatcher | None:
        """The loop if it was started (checked or not), else ``None``."""
        return self._dispatcher

    def warm_up(self, *, probe: bool = True) -> None:
        """Start the loop and its HTTP worker now; with ``probe``, ask the endpoints ahead (see the module)."""
        if self._dispatcher is not None:
            return
        try:
            endpoints = self.endpoints
        except HelmEvalError:
            return  # raised again, where it always was, when the endpoints are first needed
        self._dispatcher = self._start(endpoints)
        if probe:
            self._dispatcher.probe_ahead(tokens=self._settle is not None)

    def dispatcher(self, on_finished: Callable[[], OnFinished] | None = None) -> Dispatcher:
        """The loop, started, with every endpoint it will use checked once (see the module).

        ``on_finished`` gives the callback the loop reports finished calls to; it is asked once.
        """
        if self._dispatcher is None:
            self._dispatcher = self._start(self.endpoints)
        if self._dispatcher.on_finished is None and on_finished is not None:
            self._dispatcher.on_finished = on_finished()
        if not self._checked:
            self._checked = True
            try:
                self._check(self._dispatcher)
            except HelmEvalError as exc:
                self._check_error = exc
            if self._settle is not None:
                self._settle_dead_runs(self._dispatcher, *self._settle)
        if self._check_error is not None:
            raise self._check_error
        return self._dispatcher

    def _start(self, endpoints: dict[str, Endpoint]) -> Dispatcher:
        transport, self._transport = self._transport, None  # used once: a closed worker is not reopened
        dispatcher = Dispatcher(
            endpoints, retries=self.settings.max_retries, retarget=self._retarget, transport=transport
        )
        dispatcher.start()
        return dispatcher

    def _settle_dead_runs(self, dispatcher: Dispatcher, ledger: Ledger, run_id: str) -> None:
        """Charge what dead runs left reserved, bounded by the servers' counters; mark the counters for this run.

        A run that dies in turn is settled by the next one the same way, against the mark made here.
        """
        counted = {
            name: (self.endpoints[name].base_url, tokens)
            for name, tokens in dispatcher.server_tokens().items()
            if tokens is not None
        }
        ledger.reclaim_dead(server_tokens=counted)
        for name, (url, tokens) in counted.items():
            ledger.mark_server(run_id, name, url, tokens)

    def _check(self, dispatcher: Dispatcher) -> None:
        problems: list[str] = []
        answers = dispatcher.check_endpoints()
        down = {name for name, answer in answers.items() if isinstance(answer, str)}
        tolerated = tolerable_outages(self.endpoints, self.planner.default, down, self.skip_unavailable)
        for name, answer in answers.items():
            endpoint = self.endpoints[name]
            if isinstance(answer, str):
                if self.responses.replay_only and endpoint.model is not None:
                    continue  # nothing will be sent: the cache answers, or the call is an error without sending
                # its calls go to a fallback (or are skipped) from the start; the default endpoint needs its model
                # set, which cannot be asked of a server that is down
                if name in tolerated and (endpoint.model is not None or name != self.planner.default):
                    dispatcher.breakers[name].trip(f"unreachable before the run: {answer}")
                    continue
                problems.append(f"endpoint {name!r} at {endpoint.base_url} is unreachable: {answer}")
            elif endpoint.model is None:
                if len(answer) == 1:
                    endpoint.model = answer[0]
                else:
                    problems.append(
                        f"endpoint {name!r} serves {len(answer)} models ({', '.join(answer) or 'none'}); "
                        "choose one with --helm-eval-model or the endpoint's model"
                    )
            elif endpoint.model not in answer:
                problems.append(
                    f"endpoint {name!r} at {endpoint.base_url} does not serve model {endpoint.model!r} "
                    f"(it serves: {', '.join(answer) or 'nothing'})"
                )
        if problems:
            raise EndpointError(self.redactor.scrub("; ".join(problems)))

    def cancel_pending(self) -> int:
        """Cancel every call not finished yet; returns how many were cancelled."""
        return self._dispatcher.cancel_pending() if self._dispatcher is not None else 0

    # -- the end -----------------------------------------------------------------------------------------

    def dead(self) -> dict[str, Breaker]:
        """The endpoints that went down during the run (their breakers), the loop's and any closed loop's."""
        if self._dispatcher is not None:
            self._dead.update(self._dispatcher.dead())
        return self._dead

    def dead_endpoints(self) -> list[str]:
        """One line per endpoint that went down during the run: why, and how many calls were not sent."""
        lines = []
        for name, breaker in self.dead().items():
            endpoint = self.resolved().get(name)
            lines.append(
                f"endpoint {name!r} ({endpoint.base_url if endpoint else '?'}) went down: {breaker.failures} "
                f"attempts in a row failed (last: {breaker.last_error}); {breaker.refused} calls "
                + ("sent to its fallback instead" if endpoint is not None and endpoint.fallback else "ended unsent")
            )
        return lines

    def close(self) -> None:
        """Stop the loop (cancelling what is queued) and close a worker no loop took. Idempotent."""
        if self._dispatcher is not None:
            self._dead.update(self._dispatcher.dead())
            self._dispatcher.close()
            self._dispatcher = None
        if self._transport is not None:  # started ahead, never used
            transport, self._transport = self._transport, None
            asyncio.run(transport.close())
