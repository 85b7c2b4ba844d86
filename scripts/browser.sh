#!/usr/bin/env bash
# Browser tests drive Debian's Chromium through Playwright (never `playwright install`).
# Installs it when missing and we are root; otherwise browser tests skip locally (fail in CI).
set -u
if [ -x /usr/bin/chromium ]; then
  echo "browser: $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "browser: installing Debian's chromium"
  export DEBIAN_FRONTEND=noninteractive
  (apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }) \
    || echo "browser: could not install chromium; browser tests will skip (and fail in CI)"
else
  echo "browser: /usr/bin/chromium missing and not root; browser tests will skip (and fail in CI)"
fi
[ -x /usr/bin/chromium ] && echo "browser: $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
exit 0
