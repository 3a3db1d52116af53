#!/bin/bash
# What an attack on a blocked account costs the server, with the documented
# stack's first line as `required` (doc/DESIGN.md §7) and as `requisite`.
#
# A real user with a real password hash (Debian's default, yescrypt) is
# checked by the real pam_unix through pamtester, which runs
# pam_authenticate with PAM_RHOST set. The user and host are blocked first;
# then ATTEMPTS logins (half with the right password, half wrong) are
# refused under each form, and the CPU time (user + system, of pamtester and
# everything it runs) and the wall time are reported per refused attempt.
#
#   sudo bench/attack_cost.sh [MODULE]      # default: build/pam_defender/pam_defender.so
#
# Needs root (it adds a throwaway user and two /etc/pam.d files, all removed
# at exit). Environment: ATTEMPTS (100).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
module=$(realpath "${1:-$root/build/pam_defender/pam_defender.so}")
attempts=${ATTEMPTS:-100}
[ "$(id -u)" -eq 0 ] || { echo "attack_cost: needs root" >&2; exit 2; }
command -v pamtester >/dev/null || { echo "attack_cost: needs pamtester" >&2; exit 2; }

work=$(mktemp -d /tmp/defender-attack.XXXXXX)
chmod 0755 "$work"
user=pdatk$$
password="Right-$RANDOM-$RANDOM"
services=()
cleanup() {
  local s
  for s in "${services[@]}"; do rm -f "/etc/pam.d/$s"; done
  userdel -r -f "$user" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
useradd -m -s /bin/sh "$user"
printf '%s:%s\n' "$user" "$password" | chpasswd

run() {  # FORM
  local form=$1 svc=pdatk-$1-$$
  local conf=$work/$form.toml
  printf '[lockout]\nfailure_limit = 3\ncooloff_time = 3600\n[store]\ndir = "%s"\n' \
    "$work/$form-state" >"$conf"
  services+=("$svc")
  cat >"/etc/pam.d/$svc" <<PAM
auth     $form                    $module preauth conf=$conf
auth     [success=1 default=bad]  pam_unix.so nodelay
auth     [default=die]            $module authfail conf=$conf
auth     sufficient               $module authsucc conf=$conf
auth     required                 pam_deny.so
account  required                 pam_permit.so
PAM
  local i
  for i in 1 2 3 4; do
    echo wrong | pamtester -I rhost=192.0.2.66 "$svc" "$user" authenticate \
      >/dev/null 2>&1 || true
  done
  local t0 t1
  t0=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
  local start=$EPOCHREALTIME
  for ((i = 0; i < attempts; i++)); do
    if ((i % 2)); then p=$password; else p=wrong-$i; fi
    echo "$p" | pamtester -I rhost=192.0.2.66 "$svc" "$user" authenticate \
      >/dev/null 2>&1 && { echo "attack_cost: attempt $i was allowed" >&2; exit 1; }
  done
  local end=$EPOCHREALTIME
  t1=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
  local hz
  hz=$(getconf CLK_TCK)
  python3 - "$form" "$attempts" "$t0" "$t1" "$hz" "$start" "$end" <<'PY'
import sys
form, n, t0, t1, hz, start, end = sys.argv[1:]
n = int(n)
cpu_ms = (int(t1) - int(t0)) * 1000.0 / int(hz) / n
wall_ms = (float(end) - float(start)) * 1000.0 / n
print(f"{form}\t{n}\t{cpu_ms:.2f}\t{wall_ms:.2f}")
PY
}

printf 'preauth\trefused attempts\tCPU ms per attempt\twall ms per attempt\n'
run required
run requisite
