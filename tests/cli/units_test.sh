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
# The firewall watcher (shipped disabled by the package).
if [ -n "$firewall" ]; then
  grep -qx 'ExecStart=.*/defenderctl firewall watch' "$firewall"
  sed "s|^ExecStart=.*/defenderctl |ExecStart=$DEFENDERCTL |" "$firewall" \
    > "$dir/defender-firewall.service"
  (cd "$dir" && systemd-analyze verify --man=no ./defender-firewall.service)
fi
echo "units OK"
