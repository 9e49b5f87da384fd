#!/usr/bin/env bash
# Build the two virtual environments from their hashed locks with Python 3.10:
#   .venv        requirements.lock          Rasa, action server, channels, scripts, tests
#   .venv-store  backend/requirements.lock  the status store and its tests (tests/backend)
# Each is rebuilt only when its lock changes (a stamp file records the installed lock).
set -euo pipefail
cd "$(dirname "$0")/.."

# Two `make` runs at once (tests call `make train`) must not build the same venv twice.
if command -v flock >/dev/null 2>&1; then
  exec 9<"$0"
  flock 9
fi

build() { # venv, lock
  local venv=$1 lock=$2
  local stamp=$venv/.installed-lock
  if [ -f "$stamp" ] && cmp -s "$lock" "$stamp"; then
    return
  fi
  local python
  python=$(scripts/find_python.sh)
  echo "Creating $venv with $python from $lock"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet pip==24.2
  "$venv/bin/pip" install --quiet --no-deps --require-hashes -r "$lock"
  "$venv/bin/pip" check
  cp "$lock" "$stamp"
}

build .venv requirements.lock
build .venv-store backend/requirements.lock
