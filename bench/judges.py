"""Judges on the real vLLM: valid-verdict rate with and without structured output, and judges run ahead.

SmolLM2-135M judges ``--cases`` simple ``llm-rubric`` cases (default 20). Two figures:

- **valid verdicts**: the share of cases whose judge gave a readable verdict, with ``judge.structured`` off
  (the plain prompt, parsed from text) and on (``response_format`` with the verdict's JSON schema, enforced by
  vLLM's guided decoding).
- **run ahead** (``--ahead``): the whole pytest run as the user waits for it, with each judge call sent as soon
  as its case's output arrives (``judge.ahead: true``, the default) against the serial path (``judge.ahead:
  false``: each judge call sent when its case's verdict is taken), in the same run on the same server,
  alternating, best of ``--rounds``.

``python bench/judges.py [--ahead] [--endpoint URL]`` prints the figures and writes bench/results/judges.json.
Start no other heavy work meanwhile (the vLLM server is the bottleneck; CI machines share it).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import real_vllm, save, timed

MODEL_DIR = Path.home() / ".cache" / "helm-eval" / "models" / "SmolLM2-135M-Instruct"
SERVED = "smollm2"

_FACTS = [
    ("What is 2+2?", "The answer says the result is 4"),
    ("What is the capital of France?", "The answer names Paris"),
    ("What colour is the sky on a clear day?", "The answer says blue"),
    ("How many legs does a spider have?", "The answer says eight"),
    ("What is the opposite of hot?", "The answer says cold"),
    ("What is 10 minus 3?", "The answer says 7"),
    ("Which animal says meow?", "The answer names a cat"),
    ("What is frozen water called?", "The answer says ice"),
    ("How many days are in a week?", "The answer says seven"),
    ("What is the largest planet in the solar system?", "The answer names Jupiter"),
]


def write_project(project: Path, cases: int, max_tokens: int, judge_tokens: int, judge: str) -> None:
    """A project with ``cases`` llm-rubric cases (questions with one clear answer) and ``judge`` settings."""
    (project / "suites").mkdir(parents=True, exist_ok=True)
    (project / "helm-eval.yaml").write_text(
        f"suites: ['suites/*.yaml']\njudge: {{max_tokens: {judge_tokens}, {judge}}}\n", encoding="utf-8"
    )
    lines = ["prompts: ['{{q}}']", f"defaultTest: {{options: {{temperature: 0, max_tokens: {max_tokens}}}}}", "tests:"]
    for i in range(cases):
        question, rubric = _FACTS[i % len(_FACTS)]
        # a distinct prompt per case (no two cases share a cache key or a server-side prefix hit)
        lines.append(f"  - id: c{i}")
        lines.append(f"    vars: {{q: {json.dumps(f'{question} (question {i + 1})')}}}")
        lines.append(f"    assert: [{{type: llm-rubric, value: {json.dumps(rubric)}}}]")
    (project / "suites" / "judged.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(project: Path, endpoint: str) -> tuple[float, dict[str, Any]]:
    """Run pytest in ``project`` against ``endpoint``; wall seconds (launch to exit) and the run record."""
    cmd = [
        sys.executable, "-m", "pytest", "--helm-eval", "--helm-eval-endpoint", endpoint, "-p", "no:cacheprovider",
        "-p", "no:deepeval", "-q", "--no-header", "--helm-eval-cache", "off", "--helm-eval-report", "run.json",
    ]  # fmt: skip
    done = timed(cmd, project, ok=(0, 1))
    return done.wall, json.loads((project / "run.json").read_text(encoding="utf-8"))


def verdict_figures(record: dict[str, Any]) -> dict[str, Any]:
    """Counts of a run: cases, valid verdicts (passed or failed), inconclusive (error), judge tokens."""
    cases = record["cases"]
    valid = sum(1 for c in cases if c["status"] in ("passed", "failed"))
    return {
        "cases": len(cases),
        "valid_verdicts": valid,
        "valid_rate": round(valid / len(cases), 3) if cases else 0.0,
        "passed": sum(1 for c in cases if c["status"] == "passed"),
        "inconclusive": sum(1 for c in cases if c["status"] == "error"),
        "judge_tokens": sum(c["judge_tokens"] for c in cases),
        "sample_errors": sorted({(c.get("error") or "")[:160] for c in cases if c["status"] == "error"})[:3],
    }


def benchmark(endpoint: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "cases": args.cases,
        "max_tokens": args.max_tokens,
        "judge_max_tokens": args.judge_tokens,
    }
    runs = (("plain", "structured: false, ahead: false"), ("structured", "structured: true, ahead: false"))
    for name, judge in runs if args.verdicts else ():
        project = workdir / name
        write_project(project, args.cases, args.max_tokens, args.judge_tokens, judge)
        wall, record = run(project, endpoint)
        figures[name] = {**verdict_figures(record), "wall_s": round(wall, 2)}
        print(f"{name}: {json.dumps(figures[name])}", file=sys.stderr)
    if args.ahead:
        walls: dict[str, list[float]] = {"serial": [], "ahead": []}
        for _ in range(args.rounds):
            for name, ahead in (("serial", "false"), ("ahead", "true")):
                project = workdir / f"{name}-run"
                write_project(project, args.cases, args.max_tokens, args.judge_tokens, f"ahead: {ahead}")
                wall, record = run(project, endpoint)
                walls[name].append(wall)
                print(f"{name}: {wall:.2f} s, {json.dumps(verdict_figures(record))}", file=sys.stderr)
        serial, ahead_best = min(walls["serial"]), min(walls["ahead"])
        figures["ahead"] = {
            "rounds": args.rounds,
            "serial_wall_s": [round(w, 2) for w in walls["serial"]],
            "ahead_wall_s": [round(w, 2) for w in walls["ahead"]],
            "speedup": round(serial / ahead_best, 2),
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=16, help="the answers' max_tokens (default 16)")
    parser.add_argument("--judge-tokens", type=int, default=96, help="judge.max_tokens (default 96)")
    parser.add_argument("--ahead", action="store_true", help="also time judges run ahead against the serial path")
    parser.add_argument("--no-verdicts", dest="verdicts", action="store_false", help="skip the valid-verdict runs")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the run-ahead comparison (default 2)")
    parser.add_argument("--endpoint", help="reuse this vLLM server (base URL ending in /v1) instead of starting one")
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="judges-") as tmp:
        workdir = Path(tmp)
        if args.endpoint:
            figures = benchmark(args.endpoint.rstrip("/"), args, workdir)
        else:
            with real_vllm(args.model_dir, SERVED, workdir) as server:
                figures = benchmark(server.base_url, args, workdir)
    save("judges" if args.verdicts else "judges-ahead", figures)


if __name__ == "__main__":
    main()
