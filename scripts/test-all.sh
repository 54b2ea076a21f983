#!/usr/bin/env bash
# The second command of the README: install what the tests need, then lint, type-check, build
# and run every test (unit and behaviour, against real Pushgateways).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
npm run lint
npm run build
npx vitest run
