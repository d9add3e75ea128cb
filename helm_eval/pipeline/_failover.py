"""Failover as the pipeline sees it: which endpoints may be down at the start, and what a fallback is sent.

The dispatcher moves a call along its endpoint's ``fallback`` list; the pipeline decides what that costs and
where it is cached. A call sent to a fallback is re-keyed in the response cache under the model that answers
(an answer of another model must never be served for the model the call was routed to), and its budget
reservation, made once at admission, covers the dearest endpoint of the chain (see ``Admission.need``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from helm_eval._records import Call
from helm_eval.dispatch import Endpoint, retarget


def chain(endpoints: Mapping[str, Endpoint], name: str) -> list[str]:
    """``name`` and its fallbacks, in the order a call tries them."""
    endpoint = endpoints.get(name)
    return [name, *(endpoint.fallback if endpoint is not None else ())]


Rekey = Callable[[Call, Endpoint], Call]


def fallback_calls(call: Call, endpoints: Mapping[str, Endpoint], rekey: Rekey) -> list[Call]:
    """``call`` as each of its endpoint's fallbacks would be sent it (model, URL and cache key of that endpoint)."""
    names = [name for name in chain(endpoints, call.endpoint)[1:] if name in endpoints]
    return [rekey(retarget(call, endpoints[name]), endpoints[name]) for name in names]


def tolerable_outages(endpoints: Mapping[str, Endpoint], default: str, down: set[str], skip: bool) -> set[str]:
    """Which of the endpoints found ``down`` before the run need not stop it.

    One with a fallback that is up (its calls go there), one that only serves as another's fallback (it is not
    the default), or any of them when ``on_unavailable: skip`` (their cases are skipped). The rest stop the run
    with one error, as before failover existed.
    """
    backups = {other for endpoint in endpoints.values() for other in endpoint.fallback}
    return {
        name
        for name in down
        if skip
        or any(other not in down for other in chain(endpoints, name)[1:])
        or (name in backups and name != default)
    }
