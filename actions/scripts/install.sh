#!/usr/bin/env bash
# Install helm-eval from the action's own checkout into a venv under $RUNNER_TEMP (once per job: the main action,
# actions/serve and actions/report share it). The venv sees the runner Python's packages (--system-site-packages),
# so Python tests can import what the workflow installed before. Inputs come through the environment only.
#   HELM_EVAL_SOURCE   what to pip install (the action's checkout)
set -euo pipefail
venv="${RUNNER_TEMP:?}/helm-eval-venv"
if [ -x "$venv/bin/helm-eval" ]; then
  echo "helm-eval already installed in $venv"
  exit 0
fi
python=python3
command -v "$python" >/dev/null 2>&1 || python=python
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "::error title=helm-eval::helm-eval needs Python >= 3.11 (set the python-version input)"
  exit 1
}
"$python" -m venv --system-site-packages "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${HELM_EVAL_SOURCE:?}"
"$venv/bin/helm-eval" --help >/dev/null
echo "helm-eval installed in $venv"
