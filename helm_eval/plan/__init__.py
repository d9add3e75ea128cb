"""The plan stage: endpoint resolution and routing (budget and cache admission attach here)."""

from helm_eval.plan._endpoints import Overrides, resolve_endpoints
from helm_eval.plan._route import Planner

__all__ = ["Overrides", "Planner", "resolve_endpoints"]
