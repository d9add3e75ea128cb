"""The cost model: per-token prices for hosted endpoints, GPU-hours shared by token share for self-hosted vLLM."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from helm_eval.config import Price


@dataclass(slots=True)
class CostModel:
    """Prices by model name (wins) and by endpoint, and GPU hourly prices by endpoint."""

    model_prices: Mapping[str, Price] = field(default_factory=dict)
    endpoint_prices: Mapping[str, Price] = field(default_factory=dict)
    gpu_hourly_usd: Mapping[str, float] = field(default_factory=dict)

    def price(self, endpoint: str, model: str) -> Price | None:
        """The per-token price that applies, if any."""
        return self.model_prices.get(model) or self.endpoint_prices.get(endpoint)

    def token_cost(self, endpoint: str, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """USD for one call at per-token prices; ``None`` when the endpoint is not token-priced."""
        price = self.price(endpoint, model)
        if price is None:
            return None
        return (prompt_tokens * price.input_usd_per_1m + completion_tokens * price.output_usd_per_1m) / 1e6

    def gpu_rates(self, wall_s: Mapping[str, float], tokens: Mapping[str, int]) -> dict[str, float]:
        """USD per token for each GPU-priced endpoint: hourly price × its wall time, over the tokens it served."""
        rates: dict[str, float] = {}
        for endpoint, hourly in self.gpu_hourly_usd.items():
            served = tokens.get(endpoint, 0)
            if served > 0:
                rates[endpoint] = hourly * wall_s.get(endpoint, 0.0) / 3600 / served
        return rates

    @property
    def priced(self) -> bool:
        """True when any price is configured."""
        return bool(self.model_prices or self.endpoint_prices or self.gpu_hourly_usd)
