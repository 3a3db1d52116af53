#!/bin/bash
# Checks the daily cleanup units (and the firewall watcher unit) with systemd-analyze verify, pointing the
# service at the built defenderctl, and runs the service's command line on
# a temporary store. Skipped (77) where systemd-analyze is missing.
set -euo pipefail
service=$1 timer=$2 firewall=${3:-}
command -v systemd-analyze >/dev/null || { echo "skipped: no systemd-analyze"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
grep -qx 'ExecStart=.*/defenderctl cleanup' "$service"
sed "s|^ExecStart=.*/defenderctl |ExecStart=$DEFENDERCTL |" "$service" \
  > "$dir/defender-cleanup.service"
cp "$timer" "$dir/defender-cleanup.timer"
grep -qx 'OnCalendar=daily' "$dir/defender-cleanup.timer"
grep -qx 'WantedBy=timers.target' "$dir/defender-cleanup.timer"
(cd "$dir" && systemd-analyze verify --man=no \
  ./defender-cleanup.service ./defender-cleanup.timer)
# The command the unit runs works on a store.
printf '[store]\ndir = "%s/state"\n' "$dir" > "$dir/defender.toml"
out=$("$DEFENDERCTL" -c "$dir/defender.toml" cleanup)
echo "$out"
[[ $out == "deleted 0 attempt row(s) older than 1d 0h"* ]]
# As the unit runs it, root with CAP_DAC_OVERRIDE alone
# (CapabilityBoundingSet=): on a store with records and an attempt archive,
# and on a Redis whose unix socket is another user's, mode 0700.
grep -qx 'CapabilityBoundingSet=CAP_DAC_OVERRIDE' "$service"
as_unit() {
  setpriv --bounding-set=-all,+dac_override --inh-caps=-all "$@"
}
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  printf '[store]\ndir = "%s/state"\n[lockout]\nfailure_limit = 1\n' "$dir" \
    > "$dir/defender.toml"
  "$DEFENDERCTL" -c "$dir/defender.toml" block --host 192.0.2.9 --for 1h
  "$DEFENDERCTL" -c "$dir/defender.toml" block --user alice --for 1h
  out=$(as_unit "$DEFENDERCTL" -c "$dir/defender.toml" cleanup)
  echo "$out"
  [[ $out == "deleted 0 attempt row(s) older than 1d 0h"* ]]
  [ "$(as_unit "$DEFENDERCTL" -c "$dir/defender.toml" --json list | python3 -c \
    'import json,sys; print(len(json.load(sys.stdin)))')" = 2 ]
  # Every system call cleanup makes is in the unit's SystemCallFilter
  # (@system-service, as this systemd expands it).
  grep -qx 'SystemCallFilter=@system-service' "$service"
  expand() {
    systemd-analyze syscall-filter "$1" | sed 's/^ *//' |
      grep -v '^#' | grep -v '^$' | tail -n +2 | while read -r s; do
        case $s in @*) expand "$s" ;; *) echo "$s" ;; esac
      done
  }
  expand @system-service | sort -u >"$dir/allowed"
  [ "$(wc -l <"$dir/allowed")" -gt 100 ]
  # LeakSanitizer (sanitizer builds) does not work under ptrace.
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
    strace -f -qq -o "$dir/trace" setpriv --bounding-set=-all,+dac_override \
    --inh-caps=-all "$DEFENDERCTL" -c "$dir/defender.toml" cleanup >/dev/null
  # From the exec of defenderctl on (setpriv's own calls are not the unit's).
  sed -n '/execve("[^"]*defenderctl[^"]*"/,$p' "$dir/trace" |
    sed -n 's/^[0-9]* *\([a-z_0-9]*\)(.*/\1/p' | sort -u >"$dir/made"
  [ "$(wc -l <"$dir/made")" -gt 10 ]
  outside=$(comm -23 "$dir/made" "$dir/allowed")
  [ -z "$outside" ] || { echo "outside the filter: $outside"; exit 1; }
  # A Redis of the redis user's kind (here nobody's), on a 0700 socket.
  if command -v redis-server >/dev/null; then
    chmod 0755 "$dir"
    mkdir "$dir/redis" && chown 65534:65534 "$dir/redis"
    setpriv --reuid=65534 --regid=65534 --clear-groups redis-server \
      --port 0 --unixsocket "$dir/redis/redis.sock" --unixsocketperm 700 \
      --dir "$dir/redis" --save '' --appendonly no >/dev/null &
    redis_pid=$!
    trap 'kill $redis_pid 2>/dev/null; rm -rf "$dir"' EXIT
    for _ in $(seq 100); do [ -S "$dir/redis/redis.sock" ] && break; sleep 0.05; done
    printf '[store]\nbackend = "redis"\ndir = "%s/state"\n[redis]\nurl = "unix://%s/redis/redis.sock"\n' \
      "$dir" "$dir" >"$dir/redis.toml"
    out=$(as_unit "$DEFENDERCTL" -c "$dir/redis.toml" cleanup)
    echo "$out"
    [[ $out == *"removed 0 expired store record(s)"* ]]
    # Without the capability, the socket is closed to root.
    status=0
    setpriv --bounding-set=-all --inh-caps=-all \
      "$DEFENDERCTL" -c "$dir/redis.toml" cleanup >/dev/null 2>&1 || status=$?
    [ "$status" = 3 ]
  fi
fi
# The firewall watcher (shipped disabled by the package).
if [ -n "$firewall" ]; then
  grep -qx 'ExecStart=.*/defenderctl firewall watch' "$firewall"
  sed "s|^ExecStart=.*/defenderctl |ExecStart=$DEFENDERCTL |" "$firewall" \
    > "$dir/defender-firewall.service"
  (cd "$dir" && systemd-analyze verify --man=no ./defender-firewall.service)
fi
echo "units OK"
