#!/usr/bin/env bash
# The README's test command: installs what it needs (Node >= 22, pnpm, dependencies), starts the
# services the tests use (Postgres; Docker for testcontainers when available), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
pnpm install --frozen-lockfile
source scripts/ensure-postgres.sh
source scripts/ensure-chromium.sh
if [ -x ../shared/tools/docker-up ] && [ "${FERRY_NO_DOCKER:-}" != 1 ]; then
  eval "$(../shared/tools/docker-up)" || echo "test.sh: Docker is not available; Postgres tests use DATABASE_URL" >&2
fi
pnpm run build
pnpm test
node scripts/test-summary.mjs
