#!/usr/bin/env bash
# Run `pytest --helm-eval` for action.yml. Every input arrives as an INPUT_* environment variable (never as
# ${{ }} text inside the script); optional flags are passed only when their input is set. Always exits 0: the exit
# status goes to the `status` output, and the action fails (per fail-on) only after publishing.
set -uo pipefail
bin="${RUNNER_TEMP:?}/helm-eval-venv/bin"
reports="${HELM_EVAL_REPORTS:?}"
mkdir -p "$reports"

# shlex-style splitting (quotes allowed, no globbing, no command substitution)
split() { "$bin/python" -c 'import os, shlex, sys; sys.stdout.write("\0".join(shlex.split(os.environ[sys.argv[1]])))' "$1"; }

# Valued options as --opt=value: pytest takes a separate value that names an existing path (the run record of an
# earlier run in the same job, a policy file outside the checkout) for a test path, and would move the rootdir to
# the common ancestor of it and the workspace, where the config's suite globs match nothing.
args=(--helm-eval -p no:cacheprovider "--junitxml=$reports/junit.xml" "--helm-eval-report=$reports/run.json")
[ -n "${INPUT_CONFIG:-}" ] && args+=("--helm-eval-config=$INPUT_CONFIG")
[ -n "${INPUT_ENDPOINT:-}" ] && args+=("--helm-eval-endpoint=$INPUT_ENDPOINT")
[ -n "${INPUT_MODEL:-}" ] && args+=("--helm-eval-model=$INPUT_MODEL")
[ -n "${INPUT_CONCURRENCY:-}" ] && args+=("--helm-eval-concurrency=$INPUT_CONCURRENCY")
[ -n "${INPUT_SERVE_MODEL:-}" ] && args+=("--helm-eval-serve=$INPUT_SERVE_MODEL")
# budget flags: only when set (the trusted budget comes from the workflow, not from the PR's files)
[ -n "${INPUT_TOKEN_BUDGET:-}" ] && args+=("--helm-eval-budget-tokens=$INPUT_TOKEN_BUDGET")
[ -n "${INPUT_USD_BUDGET:-}" ] && args+=("--helm-eval-budget-usd=$INPUT_USD_BUDGET")
[ -n "${INPUT_POLICY:-}" ] && args+=("--helm-eval-policy=$INPUT_POLICY")
[ -n "${INPUT_LEDGER:-}" ] && args+=("--helm-eval-ledger=$INPUT_LEDGER")
# the baseline (trusted: a workflow input, or what the base branch's runs kept outside the checkout)
case "${INPUT_BASELINE:-off}" in
  off | "") ;;
  auto) [ "${GITHUB_EVENT_NAME:-}" = pull_request ] && args+=("--helm-eval-baseline=${HELM_EVAL_BASELINE_DIR:?}/run.json") ;;
  *) args+=("--helm-eval-baseline=$INPUT_BASELINE") ;;
esac
case "${INPUT_FAIL_ON:-}" in
  regression | significant) args+=("--helm-eval-fail-on=$INPUT_FAIL_ON") ;;
esac
if [ -n "${INPUT_EXTRA_ARGS:-}" ]; then
  mapfile -d '' extra < <(split INPUT_EXTRA_ARGS)
  args+=("${extra[@]}")
fi
if [ -n "${INPUT_SUITES:-}" ]; then
  mapfile -d '' suites < <(split INPUT_SUITES)
  args+=("${suites[@]}")
fi

# The ledger and the response cache are what this workflow restored (actions/cache), never files of the pull
# request: whatever the checkout holds in .helm-eval/ is removed (its names are not printed: they are PR text), and
# the response cache is pinned there, so a project config's cache_path cannot serve the run answers of its own.
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  [ -n "$(ls -A .helm-eval 2>/dev/null)" ] && echo "::warning title=helm-eval::no git checkout: files the pull request may hold in .helm-eval/ cannot be told from the restored cache"
elif [ -n "$(git ls-files -- .helm-eval)" ]; then
  echo "::warning title=helm-eval::the repository holds files in .helm-eval/; they were removed before the run (helm-eval reads only the ledger and response cache this workflow restored)"
  git ls-files -z -- .helm-eval | xargs -0 rm -f --
fi
export HELM_EVAL_RESPONSE_CACHE="$PWD/.helm-eval/cache.sqlite"

# Model output and suite text printed by pytest must not become workflow commands: stop command processing with
# a token nobody can guess, and resume it afterwards.
token=$("$bin/python" -c 'import secrets; print(secrets.token_hex(16))')
echo "::stop-commands::$token"
"$bin/python" -m pytest "${args[@]}"
status=$?
echo "::$token::"
echo "pytest exit status: $status"
echo "status=$status" >> "${GITHUB_OUTPUT:?}"
exit 0
