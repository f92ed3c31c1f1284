#!/usr/bin/env bash
# The README's first command: installs what it needs (Node >= 22, pnpm, dependencies), builds, then runs
# a real pipeline against the bundled dbt Cloud emulator into ./ferry-demo.duckdb and prints the load
# info and a sample query.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
pnpm install --frozen-lockfile
pnpm run build
pnpm run demo
