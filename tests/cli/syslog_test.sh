#!/bin/bash
# defenderctl block and unblock each log one line to syslog (authpriv,
# notice, ident defenderctl, with the pid): what was blocked or unblocked,
# for how long, and by which uid. An unblock of a subject that was not
# blocked logs nothing.
#
# The test is the syslog daemon: in a private mount namespace it mounts a
# tmpfs on /dev (with null, zero, random and urandom), binds a datagram
# socket at /dev/log and records what glibc's syslog(3) sends there, so the
# host's /dev/log is neither needed nor touched. Needs root and unshare(1);
# skipped (77) without them.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "skipped: needs root"; exit 77; }
command -v unshare >/dev/null || { echo "skipped: no unshare"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf '[store]\npath = "%s/state/defender.db"\n' "$dir" >"$dir/defender.toml"
export DIR=$dir PAM_DEFENDER_TEST_NOW=1795000000  # 2026-11-18T11:06:40Z

unshare --mount --propagation private bash -euo pipefail -c '
  mount -t tmpfs -o mode=0755 pd-test-dev /dev
  mknod -m 0666 /dev/null c 1 3
  mknod -m 0666 /dev/zero c 1 5
  mknod -m 0666 /dev/random c 1 8
  mknod -m 0666 /dev/urandom c 1 9
  python3 -c "
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(\"/dev/log\")
s.settimeout(10)
open(sys.argv[1] + \"/ready\", \"w\").close()
with open(sys.argv[1] + \"/log\", \"w\") as out:
    while True:
        msg = s.recv(65536).decode()
        if msg.endswith(\"stop\"):
            break
        out.write(msg.rstrip(\"\\n\") + \"\\n\")
" "$DIR" &
  for _ in $(seq 100); do [ -e "$DIR/ready" ] && break; sleep 0.1; done
  ctl() { "$DEFENDERCTL_TESTCLOCK" -c "$DIR/defender.toml" "$@" >/dev/null; }
  ctl block --user alice --for 15m
  ctl block --host ::ffff:10.0.0.1 --permanent
  ctl unblock --user bob
  ctl unblock --user alice
  ctl unblock --all
  logger --socket /dev/log stop
  wait
'

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
