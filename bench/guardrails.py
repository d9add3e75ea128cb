"""Guardrail detectors: precision and recall per detector on the corpus, and detection throughput.

``python bench/guardrails.py`` prints the figures and writes bench/results/guardrails.json. The corpus
(tests/guardrails/corpus/) was written together with the detectors, so its figures show that each detector does
what its specification says on hard look-alikes, not how it fares on unseen real-world text; the fresh random
tokens figure and the family-level false positives are there to keep that honest.
"""

from __future__ import annotations

import random
import re
import string
import sys
import time
from collections.abc import Callable
from typing import Any

from _common import ROOT, save

sys.path.insert(0, str(ROOT / "tests" / "guardrails"))

import guardrail_corpus

from helm_eval.checks._pii import ENTITIES, find_pii
from helm_eval.checks._secrets import KINDS, find_secrets, looks_random

GOAL = 0.95


def _throughput(text: str, scan: Callable[[str], Any], repeat: int = 5) -> float:
    """Best-of-``repeat`` MB/s of ``scan`` over ``text``."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        scan(text)
        best = min(best, time.perf_counter() - started)
    return len(text.encode()) / 1e6 / best


def _family_false_positives(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Negative lines of a family's corpora on which the whole check (all of the family's detectors) fires."""
    out: dict[str, Any] = {}
    for family, kinds, find in (("pii", ENTITIES, find_pii), ("secrets", KINDS, find_secrets)):
        negatives = [r for r in rows if r["detector"] in kinds and not r["expect"]]
        fired = [r for r in negatives if find(r["text"])]
        out[family] = {"negative_lines": len(negatives), "check_fires": len(fired)}
    return out


def main() -> None:
    rows = guardrail_corpus.load()
    scores = guardrail_corpus.scores(rows)
    detectors: dict[str, Any] = {}
    print(f"{'detector':24} {'lines':>5} {'pos':>4} {'precision':>9} {'recall':>6}")
    for name, score in sorted(scores.items()):
        lines = score.tp + score.fp + score.tn + score.fn
        detectors[name] = {
            "lines": lines, "positives": score.tp + score.fn, "tp": score.tp, "fp": score.fp, "fn": score.fn,
            "tn": score.tn, "precision": round(score.precision, 4), "recall": round(score.recall, 4),
            "meets_goal": score.precision >= GOAL and score.recall >= GOAL,
        }  # fmt: skip
        print(f"{name:24} {lines:5} {score.tp + score.fn:4} {score.precision:9.3f} {score.recall:6.3f}")

    rng = random.Random(1)
    alphabet = string.ascii_letters + string.digits
    fresh = {}
    for length in (20, 32, 40, 64):
        tokens = ["".join(rng.choice(alphabet) for _ in range(length)) for _ in range(2000)]
        fresh[str(length)] = round(sum(map(looks_random, tokens)) / len(tokens), 4)
    print(f"generic-secret recall on 2000 fresh random base62 tokens by length: {fresh}")

    family_fp = _family_false_positives(rows)
    print(f"negative lines on which the whole pii/secrets check fires (any detector): {family_fp}")

    text = "\n".join(r["text"] for r in rows)
    text = (text + "\n") * max(1, 4_000_000 // len(text))  # ~4 MB of mixed prose, code, logs and look-alikes
    baseline = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
    throughput = {
        "text_mb": round(len(text.encode()) / 1e6, 2),
        "pii_mb_s": round(_throughput(text, find_pii), 2),
        "secrets_mb_s": round(_throughput(text, find_secrets), 2),
        "baseline_one_regex_findall_mb_s": round(_throughput(text, baseline.findall), 2),
    }
    throughput["pii_vs_baseline"] = round(throughput["baseline_one_regex_findall_mb_s"] / throughput["pii_mb_s"], 1)
    throughput["secrets_vs_baseline"] = round(
        throughput["baseline_one_regex_findall_mb_s"] / throughput["secrets_mb_s"], 1
    )
    save(
        "guardrails",
        {
            "goal": {"precision": GOAL, "recall": GOAL},
            "corpus_lines": len(rows),
            "detectors": detectors,
            "all_meet_goal": all(d["meets_goal"] for d in detectors.values()),
            "generic_secret_recall_fresh_random_tokens": fresh,
            "family_check_fires_on_negative_lines": family_fp,
            "throughput": throughput,
        },
    )


if __name__ == "__main__":
    main()
