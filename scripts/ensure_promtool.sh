#!/usr/bin/env bash
# Print the path of promtool (Prometheus' config and rule checker), installing it when missing.
#
# On Debian and Ubuntu promtool ships in the `prometheus` package (bookworm: 2.42). Installing it
# also installs the Prometheus server; where systemd runs (not in containers) Debian enables and
# starts it on port 9090. Elsewhere install Prometheus yourself (macOS: `brew install prometheus`)
# or put a promtool from https://prometheus.io/download/ on PATH.
#
# Progress goes to stderr; stdout is only the path, so callers can use $(ensure_promtool.sh).
set -euo pipefail

if path=$(command -v promtool); then
  echo "$path"
  exit 0
fi

if [ -r /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  echo "promtool not found: installing the Debian package prometheus" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    prometheus >&2
fi

if path=$(command -v promtool); then
  echo "$path"
  exit 0
fi
echo "promtool is missing and could not be installed: expected it on PATH" \
  "(Debian: apt-get install prometheus; macOS: brew install prometheus)" >&2
exit 1
