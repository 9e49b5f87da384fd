#!/usr/bin/env bash
# The whole test suite, after setting up what it needs on this machine (Chromium and a
# Chinese font, PostgreSQL and Redis on loopback): lint, data validation, then pytest
# twice — the status store's tests under its own venv, everything else under .venv
# (which trains the model when the data changed, and starts the servers its end-to-end
# tests need). Both pytest runs always run; the command fails if either fails.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD" RASA_TELEMETRY_ENABLED=false RASA_MAX_CACHE_SIZE=500

echo "== system packages and services"
scripts/system_deps.sh
scripts/services.sh

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "== rasa data validate"
.venv/bin/rasa data validate --data bot/data --fail-on-warnings

failed=()

echo "== pytest: everything but the status store (.venv)"
.venv/bin/python -m pytest --ignore=tests/backend || failed+=(".venv pytest")

echo "== pytest: the status store (.venv-store)"
# --confcutdir: the store's tests load only their own fixtures, not the suite-wide
# conftest (which belongs to the main set).
.venv-store/bin/python -m pytest --confcutdir=tests/backend tests/backend ||
  failed+=(".venv-store pytest")

if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
