# The two commands of the README: `make run` and `make test`. Everything else is a step.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
export RASA_TELEMETRY_ENABLED := false
export RASA_MAX_CACHE_SIZE := 500
export PYTHONPATH := $(CURDIR)

.PHONY: run test venv train lint format validate benchmark wechat-menu lock mutation admin

# Both venvs: .venv (Rasa and everything else) and .venv-store (the status store).
venv:
	@scripts/bootstrap.sh

train: venv
	@scripts/train.sh

run: train
	@scripts/run.sh

# Installs Chromium, a Chinese font, starts PostgreSQL and Redis when missing, then tests.
test: venv
	@scripts/test.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

validate: venv
	$(BIN)/rasa data validate --data bot/data --fail-on-warnings

benchmark: train
	$(BIN)/python scripts/benchmark.py
	$(BIN)/python scripts/benchmark_capture.py
	$(BIN)/python scripts/benchmark_handoff.py
	.venv-store/bin/python scripts/benchmark_console.py
	$(BIN)/python scripts/benchmark_learning.py

# The first staff-console admin of the embedded setup: make admin USERNAME=zhou
admin: venv
	@test -n "$(USERNAME)" || { echo "usage: make admin USERNAME=name"; exit 2; }
	@$(BIN)/python scripts/local_secrets.py var/secrets.env
	@set -a && . var/secrets.env && set +a && $(BIN)/python scripts/processes.py admin username=$(USERNAME)

# Publish connectors/wechat/menu.py to the Official Account (needs WECHAT_APP_ID/SECRET).
wechat-menu: venv
	$(BIN)/python -m connectors.wechat.menu

# Regenerate both hashed locks from their .in files (needs the registry); commit them.
lock:
	@scripts/lock.sh

# Mutation testing of the security-critical modules (scripts/mutation.py lists them and
# the tests that cover each); `make mutation MODULES=connectors/wechat/signature.py`.
mutation: venv
	$(BIN)/python scripts/mutation.py $(MODULES)
