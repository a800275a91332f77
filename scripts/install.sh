#!/usr/bin/env bash
# First command on a fresh Debian (bookworm) machine, as root or as a user
# with sudo: the Debian packages the project and its test environment use,
# the npm dependencies, the build, guacd 1.3.0 in .cache/guacd/, and guacd
# built from upstream's source in .cache/guacd-X.Y.Z/ for each source archive
# in ../shared/vendor/ (scripts/build-guacd.sh; a few minutes the first time,
# cached by the archive's checksum).
# Idempotent and non-interactive; a second run asks apt and npm nothing.
#
#   bash scripts/install.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=apt/packages.sh
. "$ROOT/scripts/apt/packages.sh"

step() { echo "install: $*" >&2; }

node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$node_major" -lt 20 ]; then
  echo "install: Node.js 20 or later is needed (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

step "Debian packages"
ensure_packages $(pkg_list scripts/apt/project.txt scripts/apt/test-env.txt scripts/apt/guacd-runtime.txt)

# npm ci wipes node_modules and starts over: skip it while the lockfile is the
# one node_modules was installed from.
step "npm dependencies"
lock_stamp=node_modules/.guacgw-install-stamp
if [ -f package-lock.json ]; then
  want="$(sha256sum package-lock.json package.json | sha256sum | cut -c1-32)"
  if [ "$(cat "$lock_stamp" 2>/dev/null)" != "$want" ]; then
    npm ci --no-audit --no-fund
    echo "$want" >"$lock_stamp"
  fi
else
  npm install --no-audit --no-fund
fi

step "build"
npm run build --if-present

step "guacd 1.3.0"
bash scripts/provision-guacd.sh >/dev/null

step "guacd from upstream's source (../shared/vendor)"
if ! bash scripts/build-guacd.sh >/dev/null; then
  # The tests then skip that version and say why: not a reason to stop here.
  echo "install: a guacd build failed (see above)" >&2
fi

step "done (tests: npm test)"
