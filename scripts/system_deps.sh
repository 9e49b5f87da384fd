#!/usr/bin/env bash
# Debian packages the tests need beyond Python: Chromium and its driver for the widget's
# browser test, and a Chinese font (without one the screenshots show empty boxes).
# Installs only what is missing, so it is quick once done.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
[ -n "$(fc-list :lang=zh 2>/dev/null)" ] || missing+=(fonts-wqy-microhei)
[ ${#missing[@]} -gt 0 ] || exit 0

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "Installing ${missing[*]} (Debian packages for the widget's browser test)"
# Wait for another apt run (e.g. unattended upgrades) instead of failing on its lock.
wait_lock=(-o DPkg::Lock::Timeout=600)
"${sudo[@]}" apt-get "${wait_lock[@]}" update -q
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get "${wait_lock[@]}" install -y -q "${missing[@]}"
