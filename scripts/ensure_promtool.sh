#!/usr/bin/env bash
# Print the path of promtool (Prometheus' config and rule checker), installing it when missing,
# and make sure the `prometheus` server is there too (tests/e2e/test_prometheus_live.py and
# `mmx up --with-prometheus` run it).
#
# On Debian and Ubuntu both ship in the `prometheus` package (bookworm: 2.42, /usr/bin/prometheus
# and /usr/bin/promtool); where systemd runs (not in containers) Debian also enables and starts
# the server on port 9090. Elsewhere install Prometheus yourself (macOS: `brew install prometheus`)
# or put a promtool from https://prometheus.io/download/ on PATH.
#
# Progress goes to stderr; stdout is only the path, so callers can use $(ensure_promtool.sh).
set -euo pipefail

if path=$(command -v promtool) && command -v prometheus >/dev/null 2>&1; then
  echo "$path"
  exit 0
fi

if [ -r /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  echo "promtool or prometheus not found: installing the Debian package prometheus" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    prometheus >&2
fi

if path=$(command -v promtool) && command -v prometheus >/dev/null 2>&1; then
  echo "$path"
  exit 0
fi
echo "promtool or prometheus is missing and could not be installed: expected it on PATH" \
  "(Debian: apt-get install prometheus; macOS: brew install prometheus)" >&2
exit 1
