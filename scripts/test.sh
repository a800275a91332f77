#!/usr/bin/env bash
# The project's test command (npm test): build, bring up the real test
# environment (guacd, sshd, Xvnc, RDP, telnet, PostgreSQL), run every test
# with node's test runner, then stop the environment if this run started it
# (one already up, e.g. for a developer's own work, is left running).
#   TEST_FILES='dist/test/unit/*.test.js' npm test   runs a subset
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run -s build
if ! bash scripts/test-env.sh status >/dev/null 2>&1; then
  bash scripts/test-env.sh up
  trap 'bash scripts/test-env.sh down' EXIT
fi
if [ -n "${TEST_FILES:-}" ]; then
  # shellcheck disable=SC2206
  files=(${TEST_FILES})
else
  mapfile -t files < <(find dist/test -name '*.test.js' | sort)
fi
node --test --test-concurrency="${TEST_CONCURRENCY:-2}" --test-reporter=spec "${files[@]}"
