#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium when it is missing; the browser test of the
# documentation site (tests/docs/test_site_in_browser.py) drives it. Idempotent and instant when
# `chromium` is already on PATH. Needs root (as in CI); elsewhere it says how and carries on, and the
# browser test skips locally with that reason (in CI, CI=true, the test fails instead).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: chromium is missing; install it with 'apt-get install chromium' (as root)" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null
