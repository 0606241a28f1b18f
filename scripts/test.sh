#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine of this kind, then runs the whole suite:
# Debian's dcmtk, orthanc, orthanc-dicomweb and dicom3tools (real peers), chromium and chromium-driver
# (the console's browser tests), the Python package with its test extra in .venv, then lint, type and
# import-boundary checks and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v storescu >/dev/null || need+=(dcmtk)
[ -x /usr/sbin/Orthanc ] || need+=(orthanc)
dpkg -s orthanc-dicomweb >/dev/null 2>&1 || need+=(orthanc-dicomweb)
command -v dciodvfy >/dev/null || need+=(dicom3tools)
# The console's browser tests (tests/browser) drive Debian's headless Chromium through chromedriver.
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}"
fi
# Debian's orthanc package starts a system service on 4242/8042; the tests start their own on free ports.
if command -v service >/dev/null && pgrep -x Orthanc >/dev/null && [ -f /etc/init.d/orthanc ]; then
  service orthanc stop >/dev/null 2>&1 || true
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
# An out-of-tree destination plugin (its own pyproject.toml and entry point): the test that a third
# party can add a kind without touching core installs it like any plugin.
.venv/bin/python -m pip install -q -e tests/plugins/axiom_example_destination
# Azurite (Microsoft's Azure Storage emulator) for the azure-blob destination's contract tests;
# node and npm come with the machine.
AZURITE_VERSION=3.35.0
if [ ! -x .cache/node/node_modules/.bin/azurite-blob ] && command -v npm >/dev/null; then
  npm install --silent --no-audit --no-fund --prefix .cache/node "azurite@${AZURITE_VERSION}"
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports
.venv/bin/mypy
# Unit tests are independent (fresh databases, ports from a slice per worker, a Redis database per
# worker): two processes. Contract, integration and browser tests run real peers (Orthanc, whole
# stacks) with timing expectations: one at a time.
.venv/bin/python -m pytest -q -p no:cacheprovider -n 2 tests/unit "$@"
.venv/bin/python -m pytest -q -p no:cacheprovider --ignore=tests/unit "$@"
