#!/usr/bin/env bash
# Scheduled tier, not part of `make test` or .ci/run: mutation testing of the guardrail detectors
# (helm_eval/checks/_secrets.py, _pii.py, _findings.py) against the guardrail tests, with mutmut 3.
#
#   bash .ci/mutation.sh            # or: make mutation
#
# mutmut runs in a venv of its own (.venv-mutation, the `mutation` extra): mutmut 3.8+ is needed under pytest 9
# and needs a click that deepeval, in the dev extra, does not allow. What is mutated and which tests run is in
# pyproject.toml [tool.mutmut]. The run is capped (MUTATION_TIMEOUT seconds, default 3600); it prints the score
# and the surviving mutants, and exits non-zero only when mutmut itself fails. Copy the summary into
# docs/guardrails.md ("Mutation testing") with the date.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${MUTATION_VENV:-.venv-mutation}
TIMEOUT=${MUTATION_TIMEOUT:-3600}
CHILDREN=${MUTATION_CHILDREN:-$(nproc)}
mkdir -p reports
LOG=reports/mutation.log
RESULTS=reports/mutation-results.txt

if [ ! -x "$VENV/bin/mutmut" ] || [ pyproject.toml -nt "$VENV/bin/mutmut" ]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -e '.[mutation]'
  touch "$VENV/bin/mutmut"
fi

rm -rf mutants  # a stale copy of the sources would be mutated instead of today's
started=$(date +%s)
status=0
timeout "$TIMEOUT" "$VENV/bin/mutmut" run --max-children "$CHILDREN" >"$LOG" 2>&1 || status=$?
elapsed=$(($(date +%s) - started))
# the progress line is redrawn with carriage returns; its last state has the counts
tr '\r' '\n' <"$LOG" | grep -v '^\s*$' | tail -n 1

if [ "$status" -eq 124 ]; then
  echo "mutation: stopped after ${TIMEOUT}s (MUTATION_TIMEOUT); the counts above are for the mutants tested so far"
elif [ "$status" -ne 0 ]; then
  echo "mutation: mutmut failed (exit $status); see $LOG" >&2
  exit "$status"
fi

"$VENV/bin/mutmut" results --all true >"$RESULTS" 2>&1 || true
"$VENV/bin/python" - "$elapsed" "$RESULTS" <<'EOF'
import collections
import sys

statuses = collections.Counter()
survivors = []
for line in open(sys.argv[2], encoding="utf-8"):
    name, _, status = line.strip().rpartition(": ")
    if not name:
        continue
    statuses[status] += 1
    if status == "survived":
        survivors.append(name)
tested = statuses["killed"] + statuses["survived"] + statuses["timeout"]
score = (statuses["killed"] + statuses["timeout"]) / tested if tested else 0.0
print(f"mutation: {sum(statuses.values())} mutants in {sys.argv[1]}s: {dict(statuses)}")
print(f"mutation score (killed or timed out / tested): {score:.1%}")
by_module = collections.Counter(name.split(".x_")[0] for name in survivors)
print("survivors by module:", dict(by_module))
print("survivors (`.venv-mutation/bin/mutmut show NAME` shows the diff):")
for name in survivors:
    print(f"  {name}")
EOF
