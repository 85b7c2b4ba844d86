#!/usr/bin/env bash
# How the project gets a system tool: Debian's package, installed with apt-get when the tool is
# missing and we are root (never a vendor download). Otherwise it says what happens without it.
#   scripts/debian_tool.sh LABEL PATH PACKAGE WITHOUT
# e.g. scripts/debian_tool.sh wrk /usr/bin/wrk wrk "benchmarks.serving says how to install it"
set -u
label=$1 tool=$2 package=$3 without=$4
if [ ! -x "$tool" ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "$label: installing Debian's $package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "$package" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "$package" >/dev/null 2>&1; } || true
fi
if [ -x "$tool" ]; then
  echo "$label: $tool"
else
  echo "$label: $tool missing (could not install Debian's $package: not root, or apt-get failed); $without"
fi
exit 0
