"""Planning: which endpoint and model each case goes to, and the calls it makes."""

from __future__ import annotations

from collections.abc import Mapping

from helm_eval._records import Call, Case
from helm_eval.config import ConfigError
from helm_eval.dispatch import Endpoint


class Planner:
    """Routes cases to endpoints and turns them into calls (one per repeat).

    Routing today is by name (the case's ``endpoint``, else the default). This is the stage where token
    estimation, cache look-up and budget admission attach, so every call passes here before dispatch.
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
        """The calls ``case`` makes: ``repeat`` identical requests, each with its repeat index."""
        endpoint = self.route(case)
        model = case.model or endpoint.model
        if model is None:
            raise ConfigError(f"no model for endpoint {endpoint.name!r}: set --helm-eval-model or HELM_EVAL_MODEL")
        params = dict(case.options)
        return [
            Call(endpoint.name, endpoint.base_url, model, case.messages, params, repeat_index=i, case_id=case.id)
            for i in range(case.repeat)
        ]
