#!/usr/bin/env bash
# Trains the model unless one trained from exactly the current inputs exists.
#
# The model is named after a hash of everything it is trained from (config, domain,
# training data, the tokenizer's code in bot/nlu and its misspellings list, the pinned
# packages). Rasa's own `rasa train --dry-run` cannot tell: with this pipeline it reports
# DIETClassifier as changed on every run, because its fingerprint in dry-run mode never
# matches the one stored when it was trained.
set -euo pipefail
cd "$(dirname "$0")/.."

# Test sessions started at once each call `make train`: one trains, the others wait for
# its model instead of training the same one beside it.
if command -v flock >/dev/null 2>&1; then
  exec 9<"$0"
  flock 9
fi

inputs=$(find config.yml domain.yml requirements.lock bot/data bot/nlu bot/lexicon/misspellings.yml -type f ! -path "*/__pycache__/*" | LC_ALL=C sort)
digest=$(for file in $inputs; do echo "$file"; cat "$file"; done | sha256sum | cut -c1-16)
model="bot/models/model-${digest}.tar.gz"

if [[ -f "$model" ]]; then
  # The newest file is the one `rasa run --model bot/models` and the tests load.
  touch "$model"
  echo "Model is current: $model"
  exit 0
fi
.venv/bin/rasa train --data bot/data --out bot/models --fixed-model-name "model-${digest}"
