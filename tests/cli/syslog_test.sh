#!/bin/bash
# defenderctl block and unblock each log one line to syslog (authpriv,
# notice, ident defenderctl, with the pid): what was blocked or unblocked,
# for how long, and by which uid. An unblock of a subject that was not
# blocked logs nothing.
#
# The test is the syslog daemon (with_fake_syslog.sh), so the host's
# /dev/log is neither needed nor touched. Needs root and unshare(1);
# skipped (77) without them.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "skipped: needs root"; exit 77; }
command -v unshare >/dev/null || { echo "skipped: no unshare"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf '[store]\ndir = "%s/state"\n' "$dir" >"$dir/defender.toml"
export DIR=$dir PAM_DEFENDER_TEST_NOW=1795000000  # 2026-11-18T11:06:40Z

inside() {
  ctl() { "$DEFENDERCTL_TESTCLOCK" -c "$DIR/defender.toml" "$@" >/dev/null; }
  ctl block --user alice --for 15m
  ctl block --host ::ffff:10.0.0.1 --permanent
  ctl unblock --user bob
  ctl unblock --user alice
  ctl unblock --all
}
export -f inside
"$(dirname "$0")/with_fake_syslog.sh" "$dir/log" bash -euo pipefail -c inside

# The timestamp glibc puts in front is the real time; the pid varies.
actual=$(sed -E -e 's/^(<[0-9]+>)[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} /\1/' \
                -e 's/^(<[0-9]+>defenderctl)\[[0-9]+\]:/\1[PID]:/' "$dir/log")
expected="<85>defenderctl[PID]: blocked user alice until 2026-11-18T11:21:40Z by administrator (uid 0)
<85>defenderctl[PID]: blocked host 10.0.0.1 permanently by administrator (uid 0)
<85>defenderctl[PID]: unblocked user alice by administrator (uid 0)
<85>defenderctl[PID]: unblocked host 10.0.0.1 by administrator (uid 0)"
if [ "$actual" != "$expected" ]; then
  printf 'FAILED: syslog lines\nexpected:\n%s\ngot:\n%s\n' "$expected" "$actual"
  exit 1
fi
echo "syslog OK: $(wc -l <"$dir/log") lines"
