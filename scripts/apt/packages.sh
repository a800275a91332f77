# Sourced by scripts/install.sh, scripts/provision-guacd.sh and
# scripts/test-env.sh: install Debian packages that are missing, and only those,
# so a second run asks apt nothing.

export DEBIAN_FRONTEND=noninteractive

# Root runs apt itself; anyone else goes through sudo (non-interactive).
if [ "$(id -u)" -eq 0 ]; then
  AS_ROOT=()
else
  AS_ROOT=(sudo -n)
fi

# pkg_list FILE... prints the package names in list files (comments dropped).
pkg_list() {
  sed -e 's/#.*//' -e 's/[[:space:]]//g' "$@" | grep -v '^$' || true
}

# missing_packages PKG... prints the ones dpkg does not have installed.
missing_packages() {
  local p
  for p in "$@"; do
    if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
      echo "$p"
    fi
  done
}

apt_update() {
  echo "apt-get update" >&2
  "${AS_ROOT[@]}" apt-get update -q >&2
}

# ensure_packages PKG... installs the missing ones. Without package lists (a
# fresh image) or when the install fails on stale lists, it runs apt-get
# update first / once more.
ensure_packages() {
  local missing
  mapfile -t missing < <(missing_packages "$@")
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    apt_update
  fi
  with_quiet_services "${AS_ROOT[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
    || { apt_update && with_quiet_services "${AS_ROOT[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; }
}

# with_quiet_services CMD... runs CMD with a policy-rc.d that forbids package
# scripts to start daemons (postgresql, nginx, ssh, telnetd): the project starts
# its own instances on free loopback ports and wants no system-wide ones. An
# existing policy-rc.d is left as it is.
with_quiet_services() {
  local policy=/usr/sbin/policy-rc.d rc=0
  if [ -e "$policy" ]; then
    "$@" || rc=$?
    return "$rc"
  fi
  printf '#!/bin/sh\n# temporary, from guacamole-gateway scripts/apt/packages.sh\nexit 101\n' \
    | "${AS_ROOT[@]}" tee "$policy" >/dev/null
  "${AS_ROOT[@]}" chmod 755 "$policy"
  "$@" || rc=$?
  "${AS_ROOT[@]}" rm -f "$policy"
  return "$rc"
}
