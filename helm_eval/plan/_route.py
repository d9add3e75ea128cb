"""Planning: which endpoint and model each case goes to, and the calls it makes."""

from __future__ import annotations

from collections.abc import Mapping

from helm_eval._records import Call, Case
from helm_eval.config import ConfigError
from helm_eval.dispatch import Endpoint


class Planner:
    """Routes cases to endpoints and turns them into calls (one per repeat).

    A case goes to the endpoint it names, else the default. The pipeline then estimates, looks up the cache
    and admits each call under the budget before it is sent.
    """

    def __init__(self, endpoints: Mapping[str, Endpoint], default: str) -> None:
        self.endpoints = endpoints
        self.default = default

    def route(self, case: Case) -> Endpoint:
        """The endpoint ``case`` is sent to."""
        name = case.endpoint or self.default
        try:
            return self.endpoints[name]
        except KeyError:
            known = ", ".join(sorted(self.endpoints))
            raise ConfigError(f"{case.file}:{case.line}: unknown endpoint {name!r} (configured: {known})") from None

    def calls(self, case: Case) -> list[Call]:
        """The calls ``case`` makes: one per repeat, each with its repeat index.

        With a ``seed`` and several repeats, repeat *i* is sent with ``seed + i``: the runs are different samples
        (identical seeds would give identical answers) and the whole case is still reproducible.
        """
        endpoint = self.route(case)
        model = case.model or endpoint.model
        if model is None:
            raise ConfigError(f"no model for endpoint {endpoint.name!r}: set --helm-eval-model or HELM_EVAL_MODEL")
        seed = case.options.get("seed")
        calls = []
        for i in range(case.repeat):
            params = dict(case.options)
            if seed is not None and case.repeat > 1:
                params["seed"] = seed + i
            calls.append(Call(endpoint.name, endpoint.base_url, model, case.messages, params, i, case.id))
        return calls
