#!/bin/bash
# The module inside a program that was not built with it: pamtester under
# pam_wrapper, as sshd or sudo would load it. In the sanitizer build the
# ASan runtime is preloaded ($DEFENDER_ASAN_PRELOAD) so that the sanitized
# module runs with its checks inside the unsanitized host.
set -euo pipefail
: "${DEFENDER_TEST_MODULE:?}" "${PAM_MATRIX_MODULE:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/pam.d"
printf 'alice:secret:login\n' >"$tmp/passdb"
printf '[lockout]\nfailure_limit = 2\n[store]\ndir = "%s"\n' \
  "$tmp/state" >"$tmp/defender.toml"
mod="$DEFENDER_TEST_MODULE"
conf="conf=$tmp/defender.toml"
cat >"$tmp/pam.d/login" <<PAM
auth     required                    $mod preauth $conf
auth     [success=1 default=bad]     $PAM_MATRIX_MODULE passdb=$tmp/passdb
auth     [default=die]               $mod authfail $conf
auth     sufficient                  $mod authsucc $conf
auth     required                    pam_deny.so
account  required                    $mod enforce $conf
PAM

preload=/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/libpam_wrapper.so
if [ -n "${DEFENDER_ASAN_PRELOAD:-}" ]; then
  preload="$DEFENDER_ASAN_PRELOAD $preload"
  export PAM_WRAPPER_DISABLE_DEEPBIND=1
  # pamtester's own allocations are not ours to judge; the in-process
  # tests run LeakSanitizer over the module.
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi
export PAM_DEFENDER_TEST_NOW=1800000000

login() {  # PASSWORD USER RHOST
  echo "$1" | LD_PRELOAD="$preload" PAM_WRAPPER=1 \
    PAM_WRAPPER_SERVICE_DIR="$tmp/pam.d" \
    pamtester -I rhost="$3" login "$2" authenticate acct_mgmt >/dev/null 2>&1
}
fail() { echo "FAIL: $*" >&2; exit 1; }

login secret alice 192.0.2.1 || fail "a good login was refused"
for i in 1 2 3; do
  if login wrong $'eve\r\n*3\r\n$3\r\nSET' '$(touch /tmp/x);'"$i"; then
    fail "a wrong password was accepted"
  fi
done
rows=$("${DEFENDERCTL_TESTCLOCK:?}" -c "$tmp/defender.toml" --json list --all |
  python3 -c 'import json, sys
for e in sorted(json.load(sys.stdin), key=lambda e: (e["kind"], e["subject"])):
    print("%s|%s|%d|%d" % (e["kind"], e["subject"], e["failures"], e["blocked"]))')
want='host|$(touch %2Ftmp%2Fx);1|1|0
host|$(touch %2Ftmp%2Fx);2|1|0
host|$(touch %2Ftmp%2Fx);3|1|0
user|eve%0D%0A*3%0D%0A$3%0D%0ASET|3|1'
[ "$rows" = "$want" ] || fail "store holds: $rows"
# alice still logs in after the attack.
login secret alice 192.0.2.1 || fail "alice was refused after the attack"
echo "ok: pamtester with ${preload%% *}"
