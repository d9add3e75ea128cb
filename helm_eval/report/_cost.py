"""``helm-eval cost``: spend from the ledger by team, repo, workflow, suite or model, as table/CSV/JSON/OpenMetrics."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

DIMENSIONS = ("team", "repo", "pr", "workflow", "job", "suite", "model", "endpoint", "branch", "kind")
MEASURES = ("calls", "prompt_tokens", "completion_tokens", "tokens", "cost_usd")


def parse_since(text: str | None, now: float | None = None) -> float | None:
    """``7d``, ``12h``, ``30m`` or an ISO date → epoch seconds; ``None`` for all time."""
    if not text:
        return None
    now = time.time() if now is None else now
    match = re.fullmatch(r"(\d+)([dhmw])", text)
    if match:
        unit = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}[match[2]]
        return now - int(match[1]) * unit
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--since expects e.g. 7d, 12h or 2026-11-01, got {text!r}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def aggregate(rows: Sequence[dict[str, Any]], by: Sequence[str], weekly: bool = False) -> list[dict[str, Any]]:
    """Sum calls, tokens and cost over ``rows`` grouped by the ``by`` columns (and ISO week if ``weekly``)."""
    groups: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(lambda: dict.fromkeys(MEASURES, 0))
    for row in rows:
        key = tuple(row.get(name) or "-" for name in by)
        if weekly:
            year, week, _ = datetime.fromtimestamp(row["ts"], UTC).isocalendar()
            key = (f"{year}-W{week:02d}", *key)
        group = groups[key]
        group["calls"] += 1
        group["prompt_tokens"] += row["prompt_tokens"]
        group["completion_tokens"] += row["completion_tokens"]
        group["tokens"] += row["tokens"]
        group["cost_usd"] += row["cost_usd"] or 0.0
    names = (["week"] if weekly else []) + list(by)
    result = [{**dict(zip(names, key, strict=True)), **values} for key, values in groups.items()]
    result.sort(key=lambda r: (r.get("week", ""), -r["cost_usd"], -r["tokens"]))
    for row in result:
        row["cost_usd"] = round(row["cost_usd"], 6)
    return result


def render(rows: list[dict[str, Any]], fmt: str) -> str:
    """Render aggregated rows as ``table``, ``csv``, ``json`` or ``openmetrics``."""
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    if not rows:
        return "" if fmt != "openmetrics" else "# EOF\n"
    columns = list(rows[0])
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    if fmt == "openmetrics":
        return _openmetrics(rows, [c for c in columns if c not in MEASURES])
    cells = [[_cell(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    for row in cells:
        lines.append("  ".join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(row, widths, strict=True)))
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _numeric(text: str) -> bool:
    return bool(re.fullmatch(r"[\d,.]+", text))


def _label_value(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _openmetrics(rows: list[dict[str, Any]], labels: list[str]) -> str:
    lines: list[str] = []
    for measure, name, kind in (
        ("calls", "helm_eval_calls", "counter"),
        ("tokens", "helm_eval_tokens", "counter"),
        ("cost_usd", "helm_eval_cost_usd", "counter"),
    ):
        lines.append(f"# TYPE {name} {kind}")
        for row in rows:
            tags = ",".join(f'{label}="{_label_value(row[label])}"' for label in labels)
            lines.append(f"{name}_total{{{tags}}} {row[measure]}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"
