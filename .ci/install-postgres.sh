#!/usr/bin/env bash
# Install PostgreSQL from Debian's packages for the ledger tests (tests/ledger), if it is not there yet.
# Idempotent: does nothing when a server binary is already installed. The tests start their own throwaway
# cluster (tests/ledger/conftest.py); this script starts no server.
set -euo pipefail

have_server() { compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; }

if have_server; then
  echo "install-postgres: $(ls -d /usr/lib/postgresql/*/bin/postgres | head -n1) already installed"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-postgres: PostgreSQL is not installed and this is not root; run: sudo $0" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# a fresh machine has no package lists yet: without them apt-get install finds nothing
if ! apt-get install -y -q --no-install-recommends postgresql >/dev/null 2>&1; then
  apt-get update -q
  apt-get install -y -q --no-install-recommends postgresql
fi

# Debian's package creates and starts a "main" cluster where services run; the tests do not use it
if have_server; then
  echo "install-postgres: installed $(ls -d /usr/lib/postgresql/*/bin/postgres | head -n1)"
else
  echo "install-postgres: apt-get installed postgresql but no /usr/lib/postgresql/*/bin/postgres" >&2
  exit 1
fi
