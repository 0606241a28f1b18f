#!/usr/bin/env bash
# Installs Axiom into .venv (core only, no servers needed) and runs every role on the embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q -e .
exec .venv/bin/axiom up "$@"
