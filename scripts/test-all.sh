#!/usr/bin/env bash
# The second command of the README: install what the tests need, then lint, type-check, build
# and run every test (unit and behaviour, against real Pushgateways).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
npm run lint
npm run build
report=$(mktemp)
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" || status=$?
# One plain closing line, 'N passed, N failed', that any CI can read.
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);' "$report" || true
rm -f "$report"
exit "$status"
