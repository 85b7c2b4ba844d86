#!/usr/bin/env bash
# Browser tests drive Debian's Chromium through Playwright (never `playwright install`).
# Installs it when missing and we are root; otherwise browser tests skip locally (fail in CI).
bash "$(dirname "$0")/debian_tool.sh" browser /usr/bin/chromium chromium "browser tests will skip (and fail in CI)"
[ -x /usr/bin/chromium ] && echo "browser: $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
exit 0
