#!/usr/bin/env bash
# The whole test suite: lint, data validation, then pytest (which trains the model when
# the data changed, and starts the servers its end-to-end tests need).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD" RASA_TELEMETRY_ENABLED=false RASA_MAX_CACHE_SIZE=500

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "== rasa data validate"
.venv/bin/rasa data validate --data bot/data --fail-on-warnings

echo "== pytest"
.venv/bin/python -m pytest "$@"
