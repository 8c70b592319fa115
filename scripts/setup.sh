#!/usr/bin/env bash
# Sets up a fresh machine for likeness: system packages, a Python 3.11 virtualenv in .venv,
# torch from the CPU wheel first (so nothing pulls a CUDA build), then the project.
# Idempotent: a second run only checks. Usage: bash scripts/setup.sh [--with-services]
# (--with-services also makes sure PostgreSQL and Redis run, for the tests: scripts/services.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
ldconfig -p 2>/dev/null | grep -q libespeak-ng.so.1 || need_apt+=(libespeak-ng1)
# The tests drive the consent capture page in headless Chromium (fake camera and microphone).
if [ "${1:-}" = "--with-services" ]; then
    command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing ${need_apt[*]} (Debian packages)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
    else
        echo "setup: please install the Debian packages: ${need_apt[*]}" >&2
        exit 1
    fi
fi

PY=${PYTHON:-}
if [ -z "$PY" ]; then
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
            PY=$candidate
            break
        fi
    done
fi
[ -n "$PY" ] || { echo "setup: Python 3.11 is required" >&2; exit 1; }

[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
stamp=.venv/.likeness-setup
fingerprint=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$fingerprint" ]; then
    [ "${1:-}" = "--with-services" ] && bash scripts/services.sh
    exit 0
fi
"${PIP[@]}" install --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
"${PIP[@]}" install torch==2.13.0 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c 'import torch' || { echo "setup: torch did not install" >&2; exit 1; }
"${PIP[@]}" install -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c 'import torch, cv2, dlib, av, model' || { echo "setup: project did not install" >&2; exit 1; }
echo "$fingerprint" > "$stamp"
[ "${1:-}" = "--with-services" ] && bash scripts/services.sh
echo "setup: ready (.venv)"
