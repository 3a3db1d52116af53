#!/bin/bash
# The quick-start demo: installs what is missing, builds, and brute-forces a
# throwaway PAM service with the built module on the default local store
# (in a temporary directory). Changes nothing on the system outside it but
# the compiled copy of its configuration that the module keeps in
# /var/lib/pam_defender/config/, which it removes at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

module=$PWD/build/pam_defender/pam_defender.so
ctl=$PWD/build/defenderctl/defenderctl
wrapper=$(ls /usr/lib/*/libpam_wrapper.so | head -n1)
matrix=$(ls /usr/lib/*/pam_wrapper/pam_matrix.so | head -n1)
dir=$(mktemp -d)
cleanup() {
  # The module's compiled copy of this demo's configuration.
  grep -lsF "$dir/defender.toml" /var/lib/pam_defender/config/*.snapshot |
    xargs -r rm -f
  rm -rf "$dir"
}
trap cleanup EXIT
mkdir "$dir/pam.d"
cat >"$dir/defender.toml" <<TOML
[lockout]
failure_limit = 3
cooloff_time = 300
[store]
dir = "$dir/state"
TOML
echo "alice:correct-horse:demo" >"$dir/passdb"
m="$module conf=$dir/defender.toml"
cat >"$dir/pam.d/demo" <<PAM
auth     required                    $m preauth
auth     [success=1 default=bad]     $matrix passdb=$dir/passdb
auth     [default=die]               $m authfail
auth     sufficient                  $m authsucc
auth     required                    pam_deny.so
account  required                    $m enforce
PAM

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
login() {  # PASSWORD
  printf '  alice from 203.0.113.7, password %-15s -> ' "\"$1\""
  local out
  if out=$(echo "$1" | LD_PRELOAD=$wrapper PAM_WRAPPER=1 \
      PAM_WRAPPER_SERVICE_DIR="$dir/pam.d" \
      pamtester -I rhost=203.0.113.7 demo alice authenticate 2>&1); then
    echo "logged in"
  else
    echo "denied"
  fi
  grep -o 'Account locked.*' <<<"$out" | sed 's/^/      the user sees: /' || true
}
ctl() { echo "  # defenderctl $*"; "$ctl" -c "$dir/defender.toml" "$@" | sed 's/^/  /'; }

bold "pam_defender demo: failure_limit = 3, cool-off 300 s, local store in $dir"
bold "1. An attacker guesses alice's password"
for pw in 123456 password qwerty letmein; do login "$pw"; done
bold "2. alice and her host are now blocked: even the correct password is refused"
login correct-horse
ctl list
ctl check --user alice --host 203.0.113.7 || true
bold "3. The administrator unblocks them"
ctl unblock --user alice
ctl unblock --host 203.0.113.7
login correct-horse
bold "4. Every attempt was logged"
ctl attempts
