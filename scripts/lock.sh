#!/usr/bin/env bash
# Pins every package the image installs (the core requirements and the Dockerfile's default EXTRAS) in
# requirements.lock, for Python 3.11 on manylinux x86_64 (python:3.11-slim). The Dockerfile installs with
# it as a constraints file, so a rebuild of a release gets the same versions. Run after changing the
# dependencies in pyproject.toml; `--upgrade` moves every pin to the newest allowed version.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/uv ] || .venv/bin/python -m pip install -q -e ".[lock]"
extras=$(sed -n 's/^ARG EXTRAS=//p' Dockerfile)
args=()
for extra in ${extras//,/ }; do args+=(--extra "$extra"); done
.venv/bin/uv pip compile pyproject.toml "${args[@]}" --python-version 3.11 \
  --python-platform x86_64-manylinux_2_28 --no-header --annotation-style line \
  -o requirements.lock "$@"
sed -i "1i # Pinned by scripts/lock.sh for the image's extras: ${extras}. Do not edit by hand." requirements.lock
