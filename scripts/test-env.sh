#!/usr/bin/env bash
# The real test environment: guacd (1.3.0 from Debian, and every version built
# from upstream's source by scripts/build-guacd.sh) and what it connects to,
# each on a free 127.0.0.1 port, described in .test-env/env.json (typed in
# test/helpers/env.ts).
#
#   bash scripts/test-env.sh up       start everything (no-op when already up)
#   bash scripts/test-env.sh down     stop exactly what `up` started (safe twice)
#   bash scripts/test-env.sh status   print each service; exit 1 unless all run
#
# Services: guacd 1.3.0 (.cache/guacd/bin/guacd) and one guacd per version in
# .cache/guacd-X.Y.Z/ (built first when ../shared/vendor has its source, see
# scripts/build-guacd.sh; env.json lists the versions that run in `guacds` and
# the missing ones with the reason in `guacdSkipped`), sshd (own config and host key),
# Xvnc (VNC, VncAuth), freerdp-shadow-cli sharing a second Xvnc display (RDP,
# TLS, PAM login of the test user), inetutils telnetd behind socat (telnet),
# and a private PostgreSQL 15 cluster. The test user `guactest` (created when
# missing) gets a random password (kept for the machine); its RSA key (PEM, which
# guacd 1.3.0 needs) lives in .test-env/keys/. Runs as root (useradd, sshd,
# PAM logins), non-interactive.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENV_DIR="$ROOT/.test-env"
ENV_JSON="$ENV_DIR/env.json"
PIDS="$ENV_DIR/pids"
HOST=127.0.0.1
TEST_USER="${GUACGW_TEST_USER:-guactest}"
PG_BIN=/usr/lib/postgresql/15/bin
PG_DB=guacgw_test
WIDTH=1024
HEIGHT=768
START_TIMEOUT="${TEST_ENV_TIMEOUT:-30}"

log() { echo "test-env: $*" >&2; }

# --- process bookkeeping -----------------------------------------------------
# $PIDS has one line per started process: NAME PID STARTTIME SIGNAL LOG.
# STARTTIME (field 22 of /proc/PID/stat) tells our process from a later one
# that reused its pid, so `down` never signals anything it did not start.

proc_starttime() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  # the command name (field 2) may hold spaces: cut after its closing paren
  stat="${stat##*) }"
  # shellcheck disable=SC2086
  set -- $stat
  echo "${20}"
}

# ours PID STARTTIME: is that pid still the process we started?
ours() {
  [ "$(proc_starttime "$1" 2>/dev/null)" = "$2" ]
}

# started NAME PID SIGNAL LOG records a process right after it was started.
started() {
  local st
  st="$(proc_starttime "$2")" || fail "$1" "$4" "exited at once"
  echo "$1 $2 $st $3 $4" >>"$PIDS"
}

# spawn NAME SIGNAL LOG CMD... starts CMD in its own session (so its process
# group is its pid, and `down` can end its children too), output to LOG.
spawn() {
  local name="$1" sig="$2" logf="$3"
  shift 3
  setsid "$@" </dev/null >>"$logf" 2>&1 9>&- &
  SPAWNED=$!
  started "$name" "$SPAWNED" "$sig" "$logf"
}

stop_all() {
  [ -f "$PIDS" ] || return 0
  local name pid st sig logf target remaining deadline
  local -a alive=()
  while read -r name pid st sig logf; do
    if ours "$pid" "$st"; then
      # a session leader we spawned: signal its group (socat's per-connection
      # telnetd, login shells); postgres only at the postmaster (fast shutdown)
      target="$pid"
      if [ "$sig" != INT ] && [ "$(ps -o pgid= -p "$pid" | tr -d ' ')" = "$pid" ]; then
        target="-$pid"
      fi
      kill -s "$sig" -- "$target" 2>/dev/null || true
      alive+=("$pid:$st:$target")
    fi
  done <"$PIDS"
  deadline=$((SECONDS + 10))
  while :; do
    remaining=()
    for entry in "${alive[@]}"; do
      IFS=: read -r pid st target <<<"$entry"
      ours "$pid" "$st" && remaining+=("$entry")
    done
    [ "${#remaining[@]}" -eq 0 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      for entry in "${remaining[@]}"; do
        IFS=: read -r pid st target <<<"$entry"
        log "pid $pid did not stop in 10 s: SIGKILL"
        kill -s KILL -- "$target" 2>/dev/null || true
      done
      break
    fi
    sleep 0.1
  done
  rm -f "$PIDS" "$ENV_JSON"
}

fail() {
  local name="$1" logf="$2" why="$3"
  log "FAILED: $name $why"
  if [ -n "$logf" ] && [ -f "$logf" ]; then
    log "--- last lines of $logf ---"
    tail -n 40 "$logf" >&2 || true
    log "---"
  fi
  stop_all
  exit 1
}

# --- waiting -------------------------------------------------------------------

tcp_open() {
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# wait_until NAME PID LOG CMD...: poll CMD every 0.1 s until it succeeds, the
# process dies, or START_TIMEOUT passes.
wait_until() {
  local name="$1" pid="$2" logf="$3"
  shift 3
  local deadline=$((SECONDS + START_TIMEOUT))
  until "$@"; do
    kill -0 "$pid" 2>/dev/null || fail "$name" "$logf" "exited before it was ready"
    [ "$SECONDS" -lt "$deadline" ] || fail "$name" "$logf" "not ready after ${START_TIMEOUT} s ($*)"
    sleep 0.1
  done
}

wait_tcp() { wait_until "$1" "$2" "$3" tcp_open "$4"; }

# --- helpers -------------------------------------------------------------------

# free_ports N prints N distinct free loopback ports (all held at once while
# chosen, so they differ).
free_ports() {
  node -e '
    const net = require("node:net");
    const n = Number(process.argv[1]);
    const servers = [];
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      s.listen(0, "127.0.0.1", () => {
        servers.push(s);
        if (servers.length === n) {
          console.log(servers.map((x) => x.address().port).join(" "));
          for (const x of servers) x.close();
        }
      });
    }' "$1"
}

# free_display [AFTER] prints an X display number with no lock and no socket.
free_display() {
  local n=$(( ${1:-19} + 1 ))
  while [ -e "/tmp/.X$n-lock" ] || [ -e "/tmp/.X11-unix/X$n" ]; do n=$((n + 1)); done
  echo "$n"
}

random_hex() {
  od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'
}

# user_cmd DISPLAY: sets USER_CMD to a command prefix that runs the rest as
# the test user, in its home, with a clean environment and that X display.
user_cmd() {
  USER_CMD=(setpriv --reuid "$TEST_USER" --regid "$TEST_USER" --init-groups
    env -i HOME="$USER_HOME" USER="$TEST_USER" LOGNAME="$TEST_USER" SHELL=/bin/bash
    PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 DISPLAY="$1"
    /bin/bash -c 'cd "$HOME" && exec "$@"' user_cmd)
}

all_alive() {
  [ -f "$PIDS" ] && [ -f "$ENV_JSON" ] || return 1
  local name pid st sig logf
  while read -r name pid st sig logf; do
    ours "$pid" "$st" || return 1
  done <"$PIDS"
}

# --- the pieces ----------------------------------------------------------------

ensure_system() {
  . "$ROOT/scripts/apt/packages.sh"
  ensure_packages $(pkg_list "$ROOT/scripts/apt/test-env.txt")
  GUACD_WRAPPER="$(bash "$ROOT/scripts/provision-guacd.sh")"
  GUACD_LIBDIR="$ROOT/.cache/guacd/root/usr/lib/x86_64-linux-gnu"
  GUACD_BIN="$ROOT/.cache/guacd/root/usr/sbin/guacd"
  ensure_upstream_guacds
}

# The guacd versions the tests expect besides Debian's 1.3.0: built from
# upstream's source when it is at hand. Any other guacamole-server-*.tar.gz in
# the vendor folder is built and run too.
EXPECTED_GUACDS=(1.5.5 1.6.0)
GUACD_VENDOR="${GUACD_VENDOR_DIR:-$ROOT/../shared/vendor}"

# ensure_upstream_guacds: builds (or finds cached) the versions whose source is
# present; sets UPSTREAM_GUACDS ("VERSION WRAPPER" lines) and GUACD_SKIPPED
# ("VERSION REASON" lines).
ensure_upstream_guacds() {
  local out v w reason
  local -A built=()
  out="$(bash "$ROOT/scripts/build-guacd.sh")" || log "a guacd build failed (see above); that version is skipped"
  while read -r v w; do
    [ -n "$v" ] && built[$v]="$w"
  done <<<"$out"
  UPSTREAM_GUACDS=""
  GUACD_SKIPPED=""
  for v in $(printf '%s\n' "${EXPECTED_GUACDS[@]}" "${!built[@]}" | sort -uV); do
    w="${built[$v]:-}"
    if [ -z "$w" ]; then
      reason="no source: $(readlink -m "$GUACD_VENDOR")/guacamole-server-$v.tar.gz is not there (see docs/guacd-versions.md)"
    elif [ "$w" = - ]; then
      reason="its build failed: see .cache/guacd-$v/build.log"
    else
      UPSTREAM_GUACDS+="$v $w"$'\n'
      continue
    fi
    log "guacd $v skipped: $reason"
    GUACD_SKIPPED+="$v $reason"$'\n'
  done
}

ensure_user() {
  if ! id "$TEST_USER" >/dev/null 2>&1; then
    log "creating user $TEST_USER"
    useradd --create-home --shell /bin/bash "$TEST_USER"
  fi
  USER_HOME="$(getent passwd "$TEST_USER" | cut -d: -f6)"
  [ "$(getent passwd "$TEST_USER" | cut -d: -f7)" = /bin/bash ] || usermod --shell /bin/bash "$TEST_USER"
  mkdir -p "$USER_HOME/.ssh"
  chown "$TEST_USER:" "$USER_HOME" "$USER_HOME/.ssh"
  chmod 755 "$USER_HOME"
  chmod 700 "$USER_HOME/.ssh"

  # One password per machine, not per `up`: environments of two checkouts
  # (a developer's and CI's clone, say) share the account.
  local pwfile="$USER_HOME/.guacgw-test-password"
  if [ -s "$pwfile" ]; then
    USER_PASSWORD="$(cat "$pwfile")"
  else
    USER_PASSWORD="$(random_hex 12)"
    (umask 077 && echo "$USER_PASSWORD" >"$pwfile")
  fi
  echo "$TEST_USER:$USER_PASSWORD" | chpasswd

  mkdir -p "$ENV_DIR/keys"
  chmod 700 "$ENV_DIR/keys"
  KEY="$ENV_DIR/keys/id_rsa"
  if [ ! -f "$KEY" ]; then
    # PEM ("BEGIN RSA PRIVATE KEY"): guacd 1.3.0 parses keys with OpenSSL 1.1
    # and does not read the newer OpenSSH format
    ssh-keygen -q -t rsa -b 3072 -m PEM -N '' -C "guacamole-gateway test-env" -f "$KEY"
  fi
  # added, not replaced: other checkouts' keys stay valid
  local auth="$USER_HOME/.ssh/authorized_keys"
  touch "$auth"
  grep -qxF "$(cat "$KEY.pub")" "$auth" || cat "$KEY.pub" >>"$auth"
  chown "$TEST_USER:" "$auth"
  chmod 600 "$auth"
}

# start_guacd NAME WRAPPER PORT
start_guacd() {
  local logf="$ENV_DIR/$1.log"
  spawn "$1" TERM "$logf" "$2" -f -b "$HOST" -l "$3" -L "${GUACD_LOG_LEVEL:-info}"
  wait_tcp "$1" "$SPAWNED" "$logf" "$3"
}

# start_guacds: Debian's 1.3.0 as `guacd`, each built version as guacd-X.Y.Z;
# sets GUACDS ("VERSION PORT WRAPPER NAME" lines) for env.json.
start_guacds() {
  local v w port
  start_guacd guacd "$GUACD_WRAPPER" "$GUACD_PORT"
  GUACDS="1.3.0 $GUACD_PORT $GUACD_WRAPPER guacd"$'\n'
  while read -r v w; do
    [ -n "$v" ] || continue
    port="$(free_ports 1)"
    start_guacd "guacd-$v" "$w" "$port"
    GUACDS+="$v $port $w guacd-$v"$'\n'
  done <<<"$UPSTREAM_GUACDS"
}

start_sshd() {
  local logf="$ENV_DIR/sshd.log" cfg="$ENV_DIR/sshd/sshd_config"
  mkdir -p "$ENV_DIR/sshd"
  [ -f "$ENV_DIR/sshd/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$ENV_DIR/sshd/host_ed25519"
  [ -f "$ENV_DIR/sshd/host_rsa" ] || ssh-keygen -q -t rsa -b 3072 -N '' -f "$ENV_DIR/sshd/host_rsa"
  cat >"$cfg" <<EOF
# written by scripts/test-env.sh
ListenAddress $HOST
HostKey $ENV_DIR/sshd/host_ed25519
HostKey $ENV_DIR/sshd/host_rsa
PidFile none
AllowUsers $TEST_USER
PermitRootLogin no
PasswordAuthentication yes
KbdInteractiveAuthentication yes
PubkeyAuthentication yes
# guacd 1.3.0 signs public-key auth with SHA-1 RSA ("ssh-rsa"), which OpenSSH
# 8.8+ refuses unless told otherwise
PubkeyAcceptedAlgorithms +ssh-rsa
AuthorizedKeysFile .ssh/authorized_keys
# guacd sends TZ (the timezone handshake instruction)
AcceptEnv LANG LC_* TZ
UsePAM yes
X11Forwarding no
PrintMotd no
LogLevel VERBOSE
# The load tests open 200 sessions at once, and a hung guacd 1.3.0 process
# keeps its SSH connection unauthenticated until LoginGraceTime: the default
# (start dropping at 10 pending) would make the target, not the gateway, the
# thing under test.
MaxStartups 300:30:600
LoginGraceTime 30
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
  # privilege separation directory, normally made by the ssh service unit
  mkdir -p /run/sshd
  chmod 755 /run/sshd
  /usr/sbin/sshd -t -f "$cfg" >>"$logf" 2>&1 || fail sshd "$logf" "rejected its configuration"
  spawn sshd TERM "$logf" /usr/sbin/sshd -D -e -p "$SSH_PORT" -o "ListenAddress=$HOST" -f "$cfg" \
    -h "$ENV_DIR/sshd/host_ed25519" -h "$ENV_DIR/sshd/host_rsa"
  wait_tcp sshd "$SPAWNED" "$logf" "$SSH_PORT"
}

x_ready() {
  [ -S "/tmp/.X11-unix/X$1" ] && DISPLAY=":$1" xsetroot -solid "$2" 2>/dev/null
}

# start_xvnc NAME DISPLAY RFBPORT|-1 COLOUR: an X display with something on it
start_xvnc() {
  local name="$1" display="$2" port="$3" colour="$4" logf="$ENV_DIR/$1.log"
  local -a rfb=(-rfbport "$port")
  [ "$port" = -1 ] || rfb+=(-localhost -interface "$HOST")
  spawn "$name" TERM "$logf" Xvnc ":$display" "${rfb[@]}" -nolisten tcp \
    -SecurityTypes VncAuth -PasswordFile "$ENV_DIR/vnc/passwd" \
    -geometry "${WIDTH}x${HEIGHT}" -depth 24 -desktop "guacamole-gateway $name"
  local pid="$SPAWNED"
  wait_until "$name" "$pid" "$logf" x_ready "$display" "$colour"
  [ "$port" = -1 ] || wait_tcp "$name" "$pid" "$logf" "$port"
  # an interactive terminal of the test user: something to see and to type into
  user_cmd ":$display"
  spawn "$name-xterm" TERM "$ENV_DIR/$name-xterm.log" "${USER_CMD[@]}" \
    xterm -geometry 80x24+40+40 -title "$name" -bg black -fg white
}

start_vnc() {
  mkdir -p "$ENV_DIR/vnc"
  # VNC passwords are at most 8 characters
  VNC_PASSWORD="$(random_hex 4)"
  printf '%s\n' "$VNC_PASSWORD" | vncpasswd -f >"$ENV_DIR/vnc/passwd"
  chmod 600 "$ENV_DIR/vnc/passwd"
  VNC_DISPLAY="$(free_display)"
  start_xvnc vnc "$VNC_DISPLAY" "$VNC_PORT" steelblue
}

# A second VNC desktop whose size tests may change: guacd 1.6 resizes a VNC
# desktop to the browser's size, and the page must follow a desktop that
# changes size; the shared one (`vnc`) keeps its size for everything else.
start_vnc_scratch() {
  VNC2_DISPLAY="$(free_display "$RDP_DISPLAY")"
  start_xvnc vnc-scratch "$VNC2_DISPLAY" "$VNC2_PORT" slategray
}

start_rdp() {
  local logf="$ENV_DIR/rdp.log"
  RDP_DISPLAY="$(free_display "$VNC_DISPLAY")"
  start_xvnc rdp-x "$RDP_DISPLAY" -1 darkolivegreen
  # freerdp-shadow sends a new client its first frame only when the screen
  # next changes: a ticking clock makes that happen every second
  user_cmd ":$RDP_DISPLAY"
  spawn rdp-clock TERM "$ENV_DIR/rdp-clock.log" "${USER_CMD[@]}" \
    xterm -geometry 30x2-10+10 -title clock -e /bin/sh -c 'while :; do date +%T; sleep 1; done'
  # The shadow server authenticates through PAM (system user + password); its
  # TLS certificate is self-signed, kept in $HOME/.config/freerdp/shadow.
  mkdir -p "$ENV_DIR/rdp-home"
  spawn rdp TERM "$logf" env DISPLAY=":$RDP_DISPLAY" HOME="$ENV_DIR/rdp-home" \
    freerdp-shadow-cli "/port:$RDP_PORT" "/bind-address:$HOST" /sec:tls +auth
  wait_tcp rdp "$SPAWNED" "$logf" "$RDP_PORT"
}

start_telnet() {
  local logf="$ENV_DIR/telnet.log"
  # telnetd is an inetd service: socat accepts, forks, and (nofork) makes the
  # connected socket telnetd's stdin/stdout. telnetd then runs /bin/login.
  spawn telnet TERM "$logf" socat "TCP-LISTEN:$TELNET_PORT,bind=$HOST,reuseaddr,fork" \
    "EXEC:/usr/sbin/telnetd -h,nofork"
  wait_tcp telnet "$SPAWNED" "$logf" "$TELNET_PORT"
}

pg_ready() {
  setpriv --reuid postgres --regid postgres --init-groups \
    "$PG_BIN/pg_isready" -q -h "$PG_SOCKDIR" -p "$PG_PORT" -d postgres
}

pg_sql() {
  setpriv --reuid postgres --regid postgres --init-groups \
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKDIR" -p "$PG_PORT" -U postgres -d postgres "$@"
}

start_postgres() {
  local logf="$ENV_DIR/postgres.log"
  PG_DIR="$ENV_DIR/pg"
  # postgres must reach its data directory: not so from a checkout in /root
  if ! setpriv --reuid postgres --regid postgres --init-groups test -x "$ENV_DIR"; then
    PG_DIR="/var/tmp/guacamole-gateway-pg-$(echo "$ROOT" | sha256sum | cut -c1-12)"
    log "postgres cannot enter $ENV_DIR; using $PG_DIR"
  fi
  PG_SOCKDIR="$PG_DIR/run"
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    rm -rf "$PG_DIR"
    mkdir -p "$PG_DIR"
    chown postgres: "$PG_DIR"
    setpriv --reuid postgres --regid postgres --init-groups \
      "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >>"$logf" 2>&1 \
      || fail postgres "$logf" "initdb failed"
  fi
  install -d -o postgres -g postgres -m 700 "$PG_SOCKDIR"
  : >>"$logf"
  chown postgres: "$logf"
  spawn postgres INT "$logf" setpriv --reuid postgres --regid postgres --init-groups \
    "$PG_BIN/postgres" -D "$PG_DIR/data" -p "$PG_PORT" -k "$PG_SOCKDIR" \
    -c listen_addresses="$HOST" -c fsync=off -c synchronous_commit=off -c full_page_writes=off
  wait_until postgres "$SPAWNED" "$logf" pg_ready
  PG_PASSWORD="$(random_hex 12)"
  # a fresh, empty database on every `up`
  pg_sql >>"$logf" 2>&1 <<EOF || fail postgres "$logf" "could not create the test role and database"
SELECT format('CREATE ROLE %I LOGIN', '$TEST_USER') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$TEST_USER')\gexec
ALTER ROLE "$TEST_USER" LOGIN PASSWORD '$PG_PASSWORD';
DROP DATABASE IF EXISTS $PG_DB WITH (FORCE);
CREATE DATABASE $PG_DB OWNER "$TEST_USER";
EOF
}

write_env_json() {
  local tmp="$ENV_JSON.tmp"
  TE_ROOT="$ROOT" TE_DIR="$ENV_DIR" TE_HOST="$HOST" TE_USER="$TEST_USER" TE_HOME="$USER_HOME" \
  TE_PASSWORD="$USER_PASSWORD" TE_KEY="$KEY" TE_PIDS="$PIDS" \
  TE_GUACDS="$GUACDS" TE_GUACD_SKIPPED="$GUACD_SKIPPED" \
  TE_GUACD_PORT="$GUACD_PORT" TE_GUACD_WRAPPER="$GUACD_WRAPPER" TE_GUACD_BIN="$GUACD_BIN" TE_GUACD_LIBDIR="$GUACD_LIBDIR" \
  TE_SSH_PORT="$SSH_PORT" TE_VNC_PORT="$VNC_PORT" TE_VNC_PASSWORD="$VNC_PASSWORD" TE_VNC_DISPLAY="$VNC_DISPLAY" \
  TE_VNC2_PORT="$VNC2_PORT" TE_VNC2_DISPLAY="$VNC2_DISPLAY" \
  TE_RDP_PORT="$RDP_PORT" TE_RDP_DISPLAY="$RDP_DISPLAY" TE_TELNET_PORT="$TELNET_PORT" \
  TE_PG_PORT="$PG_PORT" TE_PG_DB="$PG_DB" TE_PG_PASSWORD="$PG_PASSWORD" TE_PG_DIR="$PG_DIR" \
  TE_WIDTH="$WIDTH" TE_HEIGHT="$HEIGHT" \
  node -e '
    const fs = require("node:fs");
    const e = process.env;
    const pids = {};
    for (const line of fs.readFileSync(e.TE_PIDS, "utf8").split("\n")) {
      const [name, pid] = line.split(" ");
      if (name) pids[name] = Number(pid);
    }
    const log = (name) => `${e.TE_DIR}/${name}.log`;
    const host = e.TE_HOST, user = e.TE_USER, password = e.TE_PASSWORD;
    const port = (v) => Number(v);
    const env = {
      version: 1,
      root: e.TE_ROOT,
      dir: e.TE_DIR,
      startedAt: new Date().toISOString(),
      host,
      guacd: {
        host, port: port(e.TE_GUACD_PORT), version: "1.3.0", pid: pids.guacd, log: log("guacd"),
        bin: e.TE_GUACD_BIN, wrapper: e.TE_GUACD_WRAPPER, ldLibraryPath: e.TE_GUACD_LIBDIR,
      },
      guacds: e.TE_GUACDS.split("\n").filter(Boolean).map((line) => {
        const [version, p, wrapper, name] = line.split(" ");
        return { version, host, port: port(p), pid: pids[name], log: log(name), wrapper, source: version === "1.3.0" ? "debian" : "upstream" };
      }),
      guacdSkipped: e.TE_GUACD_SKIPPED.split("\n").filter(Boolean).map((line) => {
        const at = line.indexOf(" ");
        return { version: line.slice(0, at), reason: line.slice(at + 1) };
      }),
      user: { username: user, password, home: e.TE_HOME, privateKeyPath: e.TE_KEY, publicKeyPath: `${e.TE_KEY}.pub` },
      ssh: {
        host, port: port(e.TE_SSH_PORT), username: user, password, privateKeyPath: e.TE_KEY, pid: pids.sshd, log: log("sshd"),
        params: { hostname: host, port: e.TE_SSH_PORT, username: user, password },
      },
      vnc: {
        host, port: port(e.TE_VNC_PORT), password: e.TE_VNC_PASSWORD, display: `:${e.TE_VNC_DISPLAY}`,
        width: port(e.TE_WIDTH), height: port(e.TE_HEIGHT), pid: pids.vnc, log: log("vnc"),
        params: { hostname: host, port: e.TE_VNC_PORT, password: e.TE_VNC_PASSWORD },
      },
      vncScratch: {
        host, port: port(e.TE_VNC2_PORT), password: e.TE_VNC_PASSWORD, display: `:${e.TE_VNC2_DISPLAY}`,
        width: port(e.TE_WIDTH), height: port(e.TE_HEIGHT), pid: pids["vnc-scratch"], log: log("vnc-scratch"),
        params: { hostname: host, port: e.TE_VNC2_PORT, password: e.TE_VNC_PASSWORD },
      },
      rdp: {
        host, port: port(e.TE_RDP_PORT), username: user, password, security: "tls", ignoreCert: true,
        display: `:${e.TE_RDP_DISPLAY}`, width: port(e.TE_WIDTH), height: port(e.TE_HEIGHT),
        pid: pids.rdp, log: log("rdp"),
        params: { hostname: host, port: e.TE_RDP_PORT, username: user, password, security: "tls", "ignore-cert": "true" },
      },
      telnet: {
        host, port: port(e.TE_TELNET_PORT), username: user, password, pid: pids.telnet, log: log("telnet"),
        params: { hostname: host, port: e.TE_TELNET_PORT, username: user, password },
      },
      postgres: {
        host, port: port(e.TE_PG_PORT), database: e.TE_PG_DB, user, password: e.TE_PG_PASSWORD,
        url: `postgres://${user}:${e.TE_PG_PASSWORD}@${host}:${e.TE_PG_PORT}/${e.TE_PG_DB}`,
        dataDir: `${e.TE_PG_DIR}/data`, pid: pids.postgres, log: log("postgres"),
      },
      pids,
    };
    fs.writeFileSync(process.argv[1], JSON.stringify(env, null, 2) + "\n", { mode: 0o600 });
  ' "$tmp"
  mv "$tmp" "$ENV_JSON"
}

# --- commands ------------------------------------------------------------------

cmd_up() {
  if all_alive; then
    log "already up ($ENV_JSON)"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || { log "run as root (it creates a user and starts sshd with PAM)"; exit 1; }
  local t0=$SECONDS
  stop_all
  # fresh logs, so a failure's tail is about this run
  rm -f "$ENV_DIR"/*.log
  ensure_system
  ensure_user
  read -r GUACD_PORT SSH_PORT VNC_PORT RDP_PORT TELNET_PORT PG_PORT VNC2_PORT < <(free_ports 7)
  : >"$PIDS"
  start_guacds
  start_sshd
  start_vnc
  start_rdp
  start_vnc_scratch
  start_telnet
  start_postgres
  write_env_json
  log "up in $((SECONDS - t0)) s: guacd $(echo "$GUACDS" | awk 'NF { printf "%s%s on %s", sep, $1, $2; sep = ", " }'), ssh $SSH_PORT, vnc $VNC_PORT (:$VNC_DISPLAY)," \
    "rdp $RDP_PORT (:$RDP_DISPLAY), vnc-scratch $VNC2_PORT (:$VNC2_DISPLAY), telnet $TELNET_PORT, postgres $PG_PORT; see $ENV_JSON"
}

cmd_down() {
  if [ ! -f "$PIDS" ]; then
    rm -f "$ENV_JSON"
    log "nothing to stop"
    return 0
  fi
  stop_all
  log "down"
}

cmd_status() {
  if [ ! -f "$PIDS" ]; then
    echo "down"
    return 1
  fi
  local name pid st sig logf rc=0
  while read -r name pid st sig logf; do
    if ours "$pid" "$st"; then
      printf '%-12s pid %-8s running\n' "$name" "$pid"
    else
      printf '%-12s pid %-8s GONE (log: %s)\n' "$name" "$pid" "$logf"
      rc=1
    fi
  done <"$PIDS"
  [ -f "$ENV_JSON" ] && echo "env: $ENV_JSON"
  return "$rc"
}

# one up/down at a time (npm test and a developer's shell, say); spawned
# services must not inherit fd 9 (see spawn)
lock() {
  mkdir -p "$ENV_DIR"
  chmod 755 "$ENV_DIR"
  exec 9>"$ENV_DIR/.lock"
  flock -w 120 9 || { log "another test-env.sh holds $ENV_DIR/.lock"; exit 1; }
}

case "${1:-}" in
  up) lock && cmd_up ;;
  down) lock && cmd_down ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
