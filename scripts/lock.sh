#!/usr/bin/env bash
# Regenerate both hashed locks from their .in files with pip-compile (needs the package
# registry): requirements.lock (.venv) and backend/requirements.lock (.venv-store).
# Pins already in a lock are kept while they still fit; pass --upgrade to move them.
# Resolving Rasa takes minutes. Commit each .in file with its lock.
set -euo pipefail
cd "$(dirname "$0")/.."

tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
"$(scripts/find_python.sh)" -m venv "$tools"
"$tools/bin/pip" install --quiet pip==24.2 pip-tools==7.4.1

compile() { # in-file, lock
  "$tools/bin/pip-compile" --quiet --no-header --strip-extras --allow-unsafe \
    --generate-hashes --no-emit-index-url --no-emit-find-links "${@:3}" -o "$2" "$1"
}
compile requirements.in requirements.lock "$@"
compile backend/requirements.in backend/requirements.lock "$@"
