"""The pipeline is a library: a plain Python script (no pytest in the process) runs suites through it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from fixtures.vllm_double import VLLMDouble

SCRIPT = """
import json, sys
from pathlib import Path

from helm_eval.collect import load_suite
from helm_eval.pipeline import Pipeline, RunSettings

settings = RunSettings.load(".")
cases = load_suite(Path("suites/a.yaml"), "suites/a.yaml", settings.config.options)
with Pipeline(settings) as pipeline:
    results = [r.to_json() for r in pipeline.evaluate(cases)]
print(json.dumps({"results": results, "pytest": "pytest" in sys.modules or "_pytest" in sys.modules}))
"""


def test_a_script_runs_a_suite_through_budget_cache_and_ledger(tmp_path: Path, vllm_double: VLLMDouble) -> None:
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "a.yaml").write_text(
        textwrap.dedent(
            """
            prompts: ["{{q}}"]
            defaultTest: {options: {max_tokens: 8}}
            tests:
              - {id: good, vars: {q: "say hi"}, assert: [{type: not-contains, value: "zzz"}]}
              - {id: bad, vars: {q: "say bye"}, assert: [{type: contains, value: "zzz"}]}
              - {id: cut, vars: {q: "never sent"}, options: {max_tokens: 100}, priority: -1}
            """
        )
    )
    (tmp_path / "helm-eval.yaml").write_text(
        f"endpoints:\n  local: {{url: '{vllm_double.base_url}'}}\nbudget:\n  run: {{tokens: 60}}\n"
    )
    (tmp_path / "script.py").write_text(SCRIPT)
    done = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["pytest"] is False
    status = {r["nodeid"]: r["status"] for r in out["results"]}
    assert status == {"suites/a.yaml::good": "passed", "suites/a.yaml::bad": "failed", "suites/a.yaml::cut": "skipped"}
    sent = {r.body["messages"][0]["content"] for r in vllm_double.requests if r.path.endswith("/completions")}
    assert sent == {"say hi", "say bye"}
    assert (tmp_path / ".helm-eval" / "ledger.sqlite").is_file()
