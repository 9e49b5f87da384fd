#!/usr/bin/env bash
# Print the path of a Python 3.10 (rasa 3.6 supports <3.11; both venvs use the same one):
# $PYTHON if set, else python3.10 on PATH, else pyenv's 3.10.13 (.python-version).
set -euo pipefail

for candidate in "${PYTHON:-}" python3.10 "$HOME/.pyenv/versions/3.10.13/bin/python3.10"; do
  [ -n "$candidate" ] || continue
  if command -v "$candidate" >/dev/null 2>&1 &&
    "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
    command -v "$candidate"
    exit 0
  fi
done
echo "Python 3.10 is required (rasa 3.6 supports <3.11). Install it, e.g." >&2
echo "  pyenv install 3.10.13   (this repository's .python-version names it)" >&2
echo "or set PYTHON=/path/to/python3.10." >&2
exit 1
