#!/usr/bin/env bash
# The project's test command (npm test): build, bring up the real test
# environment (guacd, sshd, Xvnc, RDP, telnet, PostgreSQL), run every test
# with node's test runner, then stop exactly what was started.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run -s build
bash scripts/test-env.sh up
trap 'bash scripts/test-env.sh down' EXIT
mapfile -t files < <(find dist/test -name '*.test.js' | sort)
node --test --test-concurrency="${TEST_CONCURRENCY:-2}" --test-reporter=spec "${files[@]}"
