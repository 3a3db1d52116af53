#!/bin/bash
# pamtester under pam_wrapper: the module in a PAM application that knows
# nothing of it. Brute force, block, refused right password, time moves on
# (testclock module), success.
set -euo pipefail
module=${DEFENDER_TEST_MODULE:?}
wrapper=$(ls /usr/lib/*/libpam_wrapper.so | head -n1)
matrix=${PAM_MATRIX_MODULE:?}
preload=$wrapper
if [ -n "${DEFENDER_ASAN_PRELOAD:-}" ]; then
  # Sanitizer build: the ASan runtime must come first in pamtester.
  preload="$DEFENDER_ASAN_PRELOAD $wrapper"
  export PAM_WRAPPER_DISABLE_DEEPBIND=1
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/services"
cat >"$dir/defender.toml" <<TOML
[lockout]
failure_limit = 2
[store]
dir = "$dir/state"
TOML
echo "alice:secret:defender-pt" >"$dir/passdb"
m="$module conf=$dir/defender.toml"
cat >"$dir/services/defender-pt" <<PAM
auth     required                    $m preauth
auth     [success=1 default=bad]     $matrix passdb=$dir/passdb
auth     [default=die]               $m authfail
auth     sufficient                  $m authsucc
auth     required                    pam_deny.so
account  required                    $m enforce
PAM

export PAM_DEFENDER_TEST_NOW=1700000000
pt() {  # PASSWORD RHOST OPERATION -> pamtester's exit code and output
  echo "$1" | LD_PRELOAD=$preload PAM_WRAPPER=1 \
    PAM_WRAPPER_SERVICE_DIR="$dir/services" \
    pamtester -I rhost="$2" defender-pt alice $3 2>&1
}
expect() {  # DESCRIPTION EXPECTED-STATUS COMMAND...
  local what=$1 want=$2 out status
  shift 2
  set +e; out=$("$@"); status=$?; set -e
  if [ "$status" != "$want" ]; then
    echo "FAIL: $what: exit $status, wanted $want"; echo "$out"; exit 1
  fi
  echo "ok: $what"
  LAST_OUTPUT=$out
}

expect "right password" 0 pt secret 192.0.2.1 authenticate
for i in 1 2 3; do
  expect "wrong password $i" 1 pt wrong 192.0.2.1 authenticate
done
expect "blocked: right password refused" 1 pt secret 192.0.2.1 authenticate
# The first success remembered 192.0.2.1 for alice (remember_hosts_days):
# there her own block does not refuse, the host's does (doc/DESIGN.md §3.14).
grep -q "Logins from your address are blocked: too many failed attempts." \
  <<<"$LAST_OUTPUT" || { echo "FAIL: no lockout message: $LAST_OUTPUT"; exit 1; }
expect "blocked: account management refused" 1 pt "" 192.0.2.1 acct_mgmt
# The module appends to the journal; defenderctl moves it into the archive.
[ -s "$dir/state/attempts.journal" ] || { echo "FAIL: no attempt journal"; exit 1; }
"$DEFENDERCTL" -c "$dir/defender.toml" attempts >/dev/null ||
  { echo "FAIL: defenderctl attempts"; exit 1; }
rows=$(sqlite3 "$dir/state/attempts.db" \
  "SELECT group_concat(result, ',') FROM (SELECT result FROM attempts ORDER BY id)")
[ "$rows" = "success,failure,failure,failure,refused,refused" ] ||
  { echo "FAIL: attempt log: $rows"; exit 1; }
echo "ok: attempt log $rows"
export PAM_DEFENDER_TEST_NOW=1700000300
expect "block over: right password" 0 pt secret 192.0.2.1 authenticate
echo "pamtester: all checks passed"
