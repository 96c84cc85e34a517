#!/usr/bin/env bash
# Install node_modules when missing or older than package-lock.json. Installs nothing else:
# for system tools it says what is missing and how to get it.
set -euo pipefail
cd "$(dirname "$0")/.."
need() { command -v "$1" >/dev/null 2>&1 || { echo "missing: $1 ($2)" >&2; exit 1; }; }
need node "Node.js >= 20: https://nodejs.org or apt-get install nodejs"
need npm "npm, shipped with Node.js"
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then echo "Node.js >= 20 required, found $(node --version)" >&2; exit 1; fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[setup] npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
