#!/usr/bin/env bash
# Installs the project's Python tools (moto, cargo-lambda, SAM CLI, cfn-lint, schemathesis), pinned in
# requirements-dev.txt, into the project-local .venv. Does nothing when they are up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
stamp=.venv/.requirements-dev.txt
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && cmp -s requirements-dev.txt "$stamp"; then
  exit 0
fi
echo "==> installing pinned Python tools into .venv"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
cp requirements-dev.txt "$stamp"
