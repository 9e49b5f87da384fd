# The two commands of the README: `make run` and `make test`. Everything else is a step.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
export RASA_TELEMETRY_ENABLED := false
export RASA_MAX_CACHE_SIZE := 500
export PYTHONPATH := $(CURDIR)

.PHONY: run test venv train lint format validate benchmark wechat-menu lock

venv:
	@scripts/bootstrap.sh

train: venv
	@scripts/train.sh

run: train
	@scripts/run.sh

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

# Publish connectors/wechat/menu.py to the Official Account (needs WECHAT_APP_ID/SECRET).
wechat-menu: venv
	$(BIN)/python -m connectors.wechat.menu

# Regenerate the lock from requirements.in (needs network); commit both files.
lock:
	python3.10 -m venv /tmp/daan-lock && /tmp/daan-lock/bin/pip install -q pip-tools==7.4.1
	/tmp/daan-lock/bin/pip-compile --no-header --strip-extras --allow-unsafe --generate-hashes -o requirements.lock requirements.in
