#!/usr/bin/env bash
# Install helm-eval from the action's own checkout into a venv under $RUNNER_TEMP (once per job: the main action,
# actions/serve and actions/report share it). The venv sees the runner Python's packages (--system-site-packages),
# so Python tests can import what the workflow installed before. Inputs come through the environment only.
#   HELM_EVAL_SOURCE   what to pip install (the action's checkout)
#   HELM_EVAL_VERSION  a released version to install from the package registry instead (e.g. 0.1.0); empty = SOURCE
#   HELM_EVAL_LEDGER   the ledger input: a postgresql:// URL adds the postgres extra (psycopg)
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
version="${HELM_EVAL_VERSION:-}"
# a version is a release number, nothing else: no URL, no path, no extra pip option slipped in through the input
if [ -n "$version" ] && ! [[ "$version" =~ ^[0-9]+(\.[0-9]+)*((a|b|rc)[0-9]+)?(\.post[0-9]+)?(\.dev[0-9]+)?$ ]]; then
  echo "::error title=helm-eval::version input: expected a release number such as 0.1.0"
  exit 1
fi
extra=""
case "${HELM_EVAL_LEDGER:-}" in postgresql://* | postgres://*) extra="[postgres]" ;; esac
"$python" -m venv --system-site-packages "$venv"
spec="${HELM_EVAL_SOURCE:?}$extra"
[ -n "$version" ] && spec="helm-eval$extra==$version"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$spec"
if [ ! -x "$venv/bin/helm-eval" ]; then
  # the runner's Python already had this helm-eval, so pip left it there and made no script here: install it
  # into the venv itself (the runner's copy is not touched)
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall "$spec"
fi
installed=$("$venv/bin/helm-eval" --version)
if [ -n "$version" ] && [ "$installed" != "helm-eval $version" ]; then
  echo "::error title=helm-eval::asked for helm-eval $version, got: $installed"
  exit 1
fi
echo "$installed installed in $venv"
