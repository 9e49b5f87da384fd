#!/usr/bin/env bash
# Build .venv from requirements.lock (fully pinned) with Python 3.10; re-run only when
# the lock file changes (a stamp file records the installed lock).
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=.venv/.installed-lock
if [ -f "$stamp" ] && cmp -s requirements.lock "$stamp"; then
  exit 0
fi

find_python() {
  for candidate in "${PYTHON:-}" python3.10 "$HOME/.pyenv/versions/3.10.13/bin/python3.10"; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
  return 1
}

python=$(find_python) || {
  echo "Python 3.10 is required (rasa 3.6 supports <3.11). Install it, e.g." >&2
  echo "  pyenv install 3.10.13   (this repository's .python-version names it)" >&2
  echo "or set PYTHON=/path/to/python3.10." >&2
  exit 1
}

echo "Creating .venv with $python"
rm -rf .venv
"$python" -m venv .venv
.venv/bin/pip install --quiet pip==24.2
.venv/bin/pip install --quiet --no-deps --require-hashes -r requirements.lock
.venv/bin/pip check
cp requirements.lock "$stamp"
