#!/usr/bin/env bash
# `npm start`: the gateway for a newcomer. Builds, brings up the demo targets
# (the test environment's sshd, Xvnc, RDP and telnet servers, see
# scripts/test-env.sh), registers them as connections in the gateway's
# registry, and serves on http://127.0.0.1:8080 (its own guacd, supervised),
# printing one link per target. Ctrl-C stops the gateway and the demo targets
# this run started.
#
#   npm start                        demo targets + gateway on 127.0.0.1:8080
#   npm start -- --port 9000         any `serve` option passes through
#   GATEWAY_DEMO=0 npm start         the gateway alone (no demo targets)
#
# In production run `guacamole-gateway serve` itself (see README.md).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
gw() { node bin/guacamole-gateway.js "$@"; }

[ "${GATEWAY_SKIP_BUILD:-0}" = 1 ] || npm run -s build

links=()
if [ "${GATEWAY_DEMO:-1}" != 0 ]; then
  if ! bash scripts/test-env.sh status >/dev/null 2>&1; then
    bash scripts/test-env.sh up
    trap 'bash scripts/test-env.sh down' EXIT
  fi
  # One registry connection per demo target (re-created each start, since the
  # targets' ports and passwords change), granted to the demo user.
  # Secrets go through stdin, never on a command line.
  while IFS=$'\t' read -r name protocol secret params; do
    gw connection remove "$name" >/dev/null 2>&1 || true
    # shellcheck disable=SC2086
    printf '%s' "$secret" | gw connection add --name "$name" --protocol "$protocol" $params \
      --secret-stdin password --grant demo >/dev/null
    links+=("$name")
  done < <(node -e '
    const env = JSON.parse(require("fs").readFileSync(".test-env/env.json", "utf8"));
    for (const [name, t] of [["demo-ssh", "ssh"], ["demo-vnc", "vnc"], ["demo-rdp", "rdp"], ["demo-telnet", "telnet"]]) {
      const { password, ...rest } = env[t].params;
      // The SSH demo moves files too (SFTP): drop a file on its page, or open its Files panel.
      if (t === "ssh") rest["enable-sftp"] = "true";
      const params = Object.entries(rest).map(([k, v]) => `--param ${k}=${v}`).join(" ");
      console.log([name, t, password, params].join("\t"));
    }')
fi

# Print the links once `serve` says where it listens (--port 0 picks a port).
# The reader ignores Ctrl-C so it reads on until serve has said its last line.
gw serve "$@" | { trap '' INT TERM; while IFS= read -r line; do
  printf '%s\n' "$line"
  if [[ "$line" =~ listening\ on\ (http://[^ ]+/) ]]; then
    base="${BASH_REMATCH[1]}"
    for name in "${links[@]}"; do
      printf '  %-12s %s?token=%s\n' "$name" "$base" "$(gw token --connection "$name" --user demo --ttl 86400)"
    done
    if [ "${#links[@]}" -gt 0 ]; then
      echo "  (links valid for 24 h; another: node bin/guacamole-gateway.js token --connection demo-ssh --user demo)"
    fi
  fi
done; }
