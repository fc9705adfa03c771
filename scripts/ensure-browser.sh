#!/usr/bin/env bash
# Install Debian's Chromium for the dashboard's browser tests (tests/e2e/dashboard) when it is missing.
# Playwright drives this browser through executable_path; it never downloads one of its own.
# Idempotent: does nothing when Chromium (and the emoji and CJK fonts of the screenshots) are there.
# `apt-get update` runs only if an install fails (a stale package list). Under CI=true the browser tests fail,
# never skip, when Chromium still cannot be launched.
set -uo pipefail

CHROMIUM="${COMMUNIQUE_CHROMIUM:-/usr/bin/chromium}"
packages=()
[ -x "$CHROMIUM" ] || packages+=(chromium)
dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 || packages+=(fonts-noto-color-emoji)
# Chinese, Japanese and Korean evidence sentences in the screenshots
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || packages+=(fonts-noto-cjk)
if [ ${#packages[@]} -eq 0 ]; then
  echo "ensure-browser: $CHROMIUM present" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "ensure-browser: no apt-get to install ${packages[*]}; set COMMUNIQUE_CHROMIUM to a Chromium" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null; then SUDO="sudo -n"; fi
export DEBIAN_FRONTEND=noninteractive
LOG=$(mktemp -t ensure-browser.XXXXXX)
echo "ensure-browser: installing ${packages[*]}" >&2
if ! $SUDO apt-get install -y "${packages[@]}" >"$LOG" 2>&1; then
  $SUDO apt-get update >>"$LOG" 2>&1 || true
  $SUDO apt-get install -y "${packages[@]}" >>"$LOG" 2>&1 || true
fi
if [ -x "$CHROMIUM" ]; then
  echo "ensure-browser: $CHROMIUM installed" >&2
else
  echo "ensure-browser: Chromium NOT installed (see $LOG)" >&2
fi
exit 0
