#!/usr/bin/env bash
# The second command of the README: install what the tests need, then lint, type-check, build
# and run every test (unit and behaviour, against real Pushgateways, Redis and Prometheus).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
npm run lint
npm run build
reports=$(mktemp -d)
status=0
# The 20,000-group live resize drives two cores flat out: it runs alone, after the others, so
# that its load does not starve the time-outs of the suites beside it.
npx vitest run --exclude 'test/behaviour/resize-live.test.ts' --reporter=default --reporter=json --outputFile.json="$reports/main.json" || status=$?
npx vitest run test/behaviour/resize-live.test.ts --reporter=default --reporter=json --outputFile.json="$reports/live.json" || status=$?
# One plain closing line, 'N passed, N failed', that any CI can read.
node -e 'let p = 0, f = 0;
  for (const file of process.argv.slice(1)) {
    try { const r = JSON.parse(require("fs").readFileSync(file, "utf8")); p += r.numPassedTests; f += r.numFailedTests; } catch { f++; }
  }
  console.log(`tests: ${p} passed, ${f} failed`);' "$reports/main.json" "$reports/live.json" || true
rm -rf "$reports"
exit "$status"
