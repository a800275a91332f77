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
# Which guacd versions the tests that need a real guacd run on, and which not
# (test/helpers/guacd-matrix.ts; GUACD_MATRIX=1.6.0,... narrows it).
node -e '
  const e = JSON.parse(require("node:fs").readFileSync(".test-env/env.json", "utf8"));
  const only = (process.env.GUACD_MATRIX || "").split(/[\s,]+/).filter(Boolean);
  const run = e.guacds.filter((g) => only.length === 0 || only.includes(g.version));
  const skipped = [...e.guacdSkipped, ...e.guacds.filter((g) => !run.includes(g)).map((g) => ({ version: g.version, reason: "not in GUACD_MATRIX" }))];
  console.error("test: guacd matrix runs " + run.map((g) => `${g.version} (${g.source}, port ${g.port})`).join(", "));
  for (const s of skipped) console.error(`test: guacd matrix skips ${s.version}: ${s.reason}`);
'
if [ -n "${TEST_FILES:-}" ]; then
  # shellcheck disable=SC2206
  files=(${TEST_FILES})
else
  mapfile -t files < <(find dist/test -name '*.test.js' | sort)
fi
node --test --test-concurrency="${TEST_CONCURRENCY:-2}" --test-reporter=spec "${files[@]}"
