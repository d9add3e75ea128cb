"""The plan stage: endpoint resolution, routing cases to calls, and prompt-token estimates."""

from helm_eval.plan._endpoints import Overrides, local_weights, resolve_endpoints
from helm_eval.plan._estimate import Estimate, TokenEstimator
from helm_eval.plan._route import Planner

__all__ = ["Estimate", "Overrides", "Planner", "TokenEstimator", "local_weights", "resolve_endpoints"]
