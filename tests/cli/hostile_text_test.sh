#!/bin/bash
# Untrusted text never reaches a terminal, a log or a hook raw (Issue 10).
#
#   hostile_text_test.sh redis   Finding 5: a key planted in a real
#       redis-server whose subject decodes to ESC sequences, BEL, C1, RLO
#       and a newline followed by a forged line. `defenderctl list` shows
#       it escaped, `list --json` is valid JSON with the characters as
#       \uXXXX, and `unblock --all` passes it escaped to the on_unblock
#       hook (DEFENDER_SUBJECT) and to syslog.
#   hostile_text_test.sh pam     Finding 6: a user name with C1 CSI
#       (\xc2\x9b), C1 OSC (\xc2\x9d) and U+202E (RLO) fails through
#       pamtester and real libpam (pam_wrapper) until blocked; the module's
#       syslog lines, `list`, `attempts` and `list --json` show it escaped.
#       Then a local user named "bob from 198.51.100.9" fails until blocked:
#       the syslog lines write its blanks as %20, so that no line reads as
#       bob refused from that host, and the name copied from the line
#       unblocks it with `unblock --shown --user`; the debug line (the
#       preauth step's `debug` argument) writes it the same way.
#
# The test is the syslog daemon (with_fake_syslog.sh): every message sent
# to /dev/log is recorded raw. Needs root and unshare(1); skipped (77)
# without them.
set -euo pipefail
mode=${1:?usage: hostile_text_test.sh redis|pam}
[ "$(id -u)" = 0 ] || { echo "skipped: needs root"; exit 77; }
command -v unshare >/dev/null || { echo "skipped: no unshare"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export TZ=UTC PAM_DEFENDER_TEST_NOW=1795000000

# Fails unless every file given holds only valid UTF-8 with no C0 control
# but newline, no DEL, and no C1, bidi or invisible format character.
check_clean() {
  python3 - "$@" <<'PY'
import sys, unicodedata
bad = False
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        print(f"FAILED: {path}: invalid UTF-8: {e}"); bad = True; continue
    for ch in text:
        cp = ord(ch)
        if (cp < 0x20 and ch != "\n") or 0x7F <= cp <= 0x9F or \
                unicodedata.category(ch) in ("Cf", "Zl", "Zp"):
            print(f"FAILED: {path}: U+{cp:04X} in {text!r}"); bad = True
            break
sys.exit(1 if bad else 0)
PY
}

fail() { printf 'FAILED: %s\n' "$*"; exit 1; }

# expect_line FILE LINE: FILE has LINE as one of its lines, exactly.
expect_line() {
  grep -qxF -- "$2" "$1" || fail "$1 lacks the line: $2
--- $1:
$(cat -v "$1")"
}

cat >"$dir/hook.sh" <<'SH'
#!/bin/sh
d=$(dirname "$0")
env >"$d/hook.$$.tmp"
mv "$d/hook.$$.tmp" "$d/hook.$$.env"
SH
chmod 0755 "$dir/hook.sh"
cat >"$dir/defender.toml" <<TOML
[hooks]
on_block = ["$dir/hook.sh"]
on_unblock = ["$dir/hook.sh"]
[store]
dir = "$dir/state"
TOML

if [ "$mode" = redis ]; then
  command -v redis-server >/dev/null || { echo "skipped: no redis-server"; exit 77; }
  redis-server --port 0 --unixsocket "$dir/redis.sock" --save '' \
    --appendonly no --dir "$dir" --daemonize no >"$dir/redis.log" 2>&1 &
  redis_pid=$!
  trap 'kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; rm -rf "$dir"' EXIT
  for _ in $(seq 100); do
    [ "$(redis-cli -s "$dir/redis.sock" ping 2>/dev/null)" = PONG ] && break
    sleep 0.1
  done
  # Issue 10 finding 5: a planted record, blocked for good, whose subject is
  # ESC ] 0 ; pwned BEL (set the window title), ESC [ 2 J (clear the
  # screen), C1 CSI, RLO, then a newline and a line of the attacker's.
  redis-cli -s "$dir/redis.sock" HSET \
    'defender:{user:x%1B%5D0%3Bpwned%07%1B%5B2J%C2%9B%E2%80%AE%0Afake-line}:s' \
    f 5 b 1 e 0 >/dev/null
  printf 'backend = "redis"\n[redis]\nurl = "unix://%s/redis.sock"\n' "$dir" \
    >>"$dir/defender.toml"
else
  wrapper=$(ls /usr/lib/*/libpam_wrapper.so | head -n1)
  matrix=${PAM_MATRIX_MODULE:?}
  mkdir -p "$dir/services"
  printf '[lockout]\nfailure_limit = 2\n' >>"$dir/defender.toml"
  m="${DEFENDER_TEST_MODULE:?} conf=$dir/defender.toml"
  cat >"$dir/services/defender-ht" <<PAM
auth  requisite                    $m preauth debug
auth  [success=done default=bad]   $matrix passdb=$dir/passdb
auth  [default=die]                $m authfail
PAM
  : >"$dir/passdb"
  preload=$wrapper
  if [ -n "${DEFENDER_ASAN_PRELOAD:-}" ]; then
    # Sanitizer build: the ASan runtime must come first in pamtester.
    preload="$DEFENDER_ASAN_PRELOAD $wrapper"
    export PAM_WRAPPER_DISABLE_DEEPBIND=1
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
  fi
fi

# Runs inside with_fake_syslog.sh: what writes to syslog.
inside() {
  ctl() { "$DEFENDERCTL_TESTCLOCK" -c "$dir/defender.toml" "$@"; }
  if [ "$mode" = redis ]; then
    ctl list >"$dir/list.out"
    ctl --json list >"$dir/list.json"
    ctl unblock --all >"$dir/unblock.out"
  else
    # CSI 2 J, OSC 0 ; t, RLO: what the attacker types as the user name.
    local user
    user=$(printf "x\xc2\x9b2J\xc2\x9d0;t\xe2\x80\xaey")
    # Three failures block the user; the fourth attempt is refused.
    for _ in 1 2 3 4; do
      echo wrong | LD_PRELOAD=$preload PAM_WRAPPER=1 PAM_WRAPPER_USE_SYSLOG=1 \
        PAM_WRAPPER_SERVICE_DIR="$dir/services" \
        pamtester -I rhost=192.0.2.9 defender-ht "$user" authenticate \
        >/dev/null 2>&1 || true
    done
    # A local user whose name reads, in a line that does not delimit it,
    # as user bob from another host.
    for _ in 1 2 3 4; do
      echo wrong | LD_PRELOAD=$preload PAM_WRAPPER=1 PAM_WRAPPER_USE_SYSLOG=1 \
        PAM_WRAPPER_SERVICE_DIR="$dir/services" \
        pamtester defender-ht "bob from 198.51.100.9" authenticate \
        >/dev/null 2>&1 || true
    done
    ctl list --all >"$dir/list.out"
    ctl --json list --all >"$dir/list.json"
    ctl attempts >"$dir/attempts.out"
    # What an administrator copies from the log line.
    ctl unblock --shown --user 'bob%20from%20198.51.100.9' >"$dir/unblock.out"
    ctl --json list --all >"$dir/after.json"
  fi
}
export -f inside
export dir mode preload
"$(dirname "$0")/with_fake_syslog.sh" "$dir/log" bash -euo pipefail -c inside

# The hooks run detached: wait for the files they rename into place (one
# unblock, or the hostile user's and its host's block, bob's block and
# unblock).
hooks=$([ "$mode" = redis ] && echo 1 || echo 4)
hook_files() { find "$dir" -maxdepth 1 -name 'hook.*.env' | wc -l; }
for _ in $(seq 100); do [ "$(hook_files)" -ge "$hooks" ] && break; sleep 0.1; done
[ "$(hook_files)" = "$hooks" ] || fail "$(hook_files) hook runs, wanted $hooks"
cat "$dir"/hook.*.env >"$dir/hook.env"
grep '^DEFENDER_SUBJECT=' "$dir/hook.env" | sort -u >"$dir/hook.subject"

check_clean "$dir/list.out" "$dir/list.json" "$dir/log" "$dir/hook.subject"
# The forged line is never a line of its own.
if grep -n '^fake-line' "$dir/list.out" "$dir/log" "$dir/hook.env"; then
  fail "a forged line got through"
fi
# The timestamp glibc puts in front is the real time; the pid varies.
sed -E -e 's/^(<[0-9]+>)[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} /\1/' \
  -e 's/^(<[0-9]+>[a-z]+)\[[0-9]+\]:/\1[PID]:/' "$dir/log" >"$dir/log.txt"

if [ "$mode" = redis ]; then
  shown='x%1B]0;pwned%07%1B[2J%C2%9B%E2%80%AE%0Afake-line'
  expect_line "$dir/list.out" "user  $shown  5         -      permanent  -"
  expect_line "$dir/unblock.out" "unblocked user $shown"
  expect_line "$dir/hook.subject" "DEFENDER_SUBJECT=$shown"
  expect_line "$dir/log.txt" \
    "<85>defenderctl[PID]: unblocked user $shown by administrator (uid 0)"
  [ "$(wc -l <"$dir/log.txt")" = 1 ] || fail "not one syslog line: $(cat -v "$dir/log.txt")"
  # JSON: the exact subject, with the hidden characters as \u escapes.
  python3 - "$dir/list.json" <<'PY'
import json, sys
text = open(sys.argv[1], encoding="utf-8").read()
entries = json.loads(text)
want = "x\x1b]0;pwned\x07\x1b[2J\u009b\u202e\nfake-line"
assert [e["subject"] for e in entries] == [want], entries
for esc in ("\\u001b", "\\u0007", "\\u009b", "\\u202e", "\\n"):
    assert esc in text, (esc, text)
PY
else
  shown='x%C2%9B2J%C2%9D0;t%E2%80%AEy'
  expect_line "$dir/list.out" \
    "user  $shown  3         2026-11-18 11:11:40  5m 0s  defender-ht from 192.0.2.9"
  # What blocked the host: the hostile name, escaped the same way.
  expect_line "$dir/list.out" \
    "host  192.0.2.9                     3         2026-11-18 11:11:40  5m 0s  defender-ht as $shown"
  expect_line "$dir/hook.subject" "DEFENDER_SUBJECT=$shown"
  check_clean "$dir/attempts.out"
  expect_line "$dir/attempts.out" \
    "2026-11-18 11:06:40  defender-ht  $shown  192.0.2.9  -    failure"
  head='<85>pamtester: pam_defender_testclock(defender-ht:auth)'
  expect_line "$dir/log.txt" "$head: blocked user $shown until \
2026-11-18T11:11:40Z after 3 failure(s)"
  expect_line "$dir/log.txt" "$head: refused user $shown from 192.0.2.9: \
user $shown is blocked for 5m 0s"
  python3 - "$dir/list.json" "$shown" <<'PY'
import json, sys
entries = json.loads(open(sys.argv[1], encoding="utf-8").read())
assert sorted(e["subject"] for e in entries) == \
    ["192.0.2.9", "bob from 198.51.100.9", sys.argv[2]], entries
PY
  bob='bob%20from%20198.51.100.9'
  expect_line "$dir/list.out" \
    "user  $bob     3         2026-11-18 11:11:40  5m 0s  defender-ht"
  expect_line "$dir/log.txt" "$head: blocked user $bob until \
2026-11-18T11:11:40Z after 3 failure(s)"
  expect_line "$dir/log.txt" "$head: refused user $bob: \
user $bob is blocked for 5m 0s"
  expect_line "$dir/log.txt" \
    "<85>defenderctl[PID]: unblocked user $bob by administrator (uid 0)"
  # The debug line (preauth's): no blank and no quote of the name's own.
  expect_line "$dir/log.txt" \
    "<87>pamtester: pam_defender_testclock(defender-ht:auth): user=$bob host=: allowed"
  # No line reads as user bob, or as an attempt from 198.51.100.9.
  if grep -E 'user bob |from 198\.51\.100\.9' "$dir/log.txt"; then
    fail "a line reads as user bob from 198.51.100.9"
  fi
  expect_line "$dir/unblock.out" "unblocked user $bob"
  python3 - "$dir/after.json" "$shown" <<'PY'
import json, sys
entries = json.loads(open(sys.argv[1], encoding="utf-8").read())
assert sorted(e["subject"] for e in entries) == ["192.0.2.9", sys.argv[2]], entries
PY
fi
echo "hostile text ($mode) OK"
