#!/bin/bash
# defenderctl firewall against the real kernel firewall (doc/DESIGN.md §15),
# entirely inside private network namespaces made here (never the
# machine's own network), with real libpam logins (pamtester, pam_wrapper,
# pam_matrix) and a real redis-server on a unix socket.
#
#   local  one host, local store, the module's hooks run `firewall add|del`:
#          a blocking login makes its source address unreachable on port 22
#          (the delay to the first dropped SYN is printed), another source
#          still connects; unblock and expiry open it again.
#   fleet  hosts A and B, each with `firewall watch`, one Redis: a block
#          from a login on A is dropped on B within 1 s; Redis restarted:
#          both re-sync; forged events ignored; IPv6 /64, permanent,
#          loopback, own and allow-listed hosts; an unblock on B clears
#          both; `flush` leaves `nft list ruleset` as it was.
#   silent a watcher's subscription cut without a word (every packet of
#          that one connection dropped, as when the server's machine or a
#          NAT on the way vanishes): the unanswered PING gives it up and the
#          watcher subscribes again on a new connection; a foreign table is
#          logged once; a server that floods pongs cannot make the watcher
#          deaf to SIGHUP and SIGTERM.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
scenario=${1:?usage: firewall_test.sh local|fleet|silent}
E2E_NAME="firewall-$scenario"
e2e_init ip nft pamtester redis-server redis-cli python3
: "${DEFENDERCTL:?}"
PROBE="python3 $(dirname "$(readlink -f "$0")")/firewall_probe.py"
WRAPPER=$(ls /usr/lib/*/libpam_wrapper.so 2>/dev/null | head -n1)
[ -n "$WRAPPER" ] || e2e_fatal "libpam_wrapper is missing"
: "${PAM_MATRIX_MODULE:?}"
D=$E2E_TMP
tag=$(printf '%04x' $((RANDOM)))

# Namespaces: C (the clients) linked to A (10.77.1.0/24, fd77:1::/64 and
# fd77:c1::/64) and to B (10.77.2.0/24, fd77:b::/64 and fd77:2::/64).
NS_C=fwc$$$tag NS_A=fwa$$$tag NS_B=fwb$$$tag
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
for ns in "$NS_C" "$NS_A" "$NS_B"; do
  ip netns add "$ns" || e2e_skip "cannot create network namespaces"
  e2e_on_exit "ip netns del $ns"
  in_ns "$ns" ip link set lo up
done
link() {  # HOST-NS N: veth pair C <-> host
  local ns=$1 n=$2
  ip link add "c$n$tag" netns "$NS_C" type veth peer name "h$n$tag" netns "$ns"
  in_ns "$NS_C" ip addr add "10.77.$n.2/24" dev "c$n$tag"
  in_ns "$NS_C" ip addr add "10.77.$n.3/24" dev "c$n$tag"
  in_ns "$NS_C" ip -6 addr add "fd77:$n::2/64" dev "c$n$tag" nodad
  in_ns "$ns" ip addr add "10.77.$n.1/24" dev "h$n$tag"
  in_ns "$ns" ip -6 addr add "fd77:b$n::1/64" dev "h$n$tag" nodad
  in_ns "$NS_C" ip link set "c$n$tag" up
  in_ns "$ns" ip link set "h$n$tag" up
  in_ns "$NS_C" ip -6 route add "fd77:b$n::/64" dev "c$n$tag"
  in_ns "$ns" ip -6 route add "fd77:$n::/64" dev "h$n$tag"
}
link "$NS_A" 1
link "$NS_B" 2
for ns in "$NS_A" "$NS_B"; do
  ip netns exec "$ns" $PROBE serve 22 >"$D/serve-$ns.log" 2>&1 &
  e2e_on_exit "kill $!"
done
for ns in "$NS_A" "$NS_B"; do
  for _ in $(seq 100); do
    grep -q listening "$D/serve-$ns.log" 2>/dev/null && break
    sleep 0.02
  done
done
probe() { in_ns "$NS_C" $PROBE probe "$@"; }  # SRC DST PORT
e2e_equal "before: 10.77.1.2 reaches A:22" open "$(probe 10.77.1.2 10.77.1.1 22)"
e2e_equal "before: fd77:2::2 reaches B:22" open "$(probe fd77:2::2 fd77:b2::1 22)"

# A PAM service under pam_wrapper whose module reads CONF.
pam_service() {  # DIR CONF
  mkdir -p "$1/services"
  echo "alice:secret:defender-fw" >"$1/passdb"
  local m="$DEFENDER_MODULE conf=$2"
  cat >"$1/services/defender-fw" <<PAM
auth     required                    $m preauth
auth     [success=1 default=bad]     $PAM_MATRIX_MODULE passdb=$1/passdb
auth     [default=die]               $m authfail
auth     sufficient                  $m authsucc
auth     required                    pam_deny.so
account  required                    $m
PAM
}
login() {  # NS DIR PASSWORD RHOST: one real libpam login
  echo "$3" | in_ns "$1" env LD_PRELOAD="${DEFENDER_ASAN_PRELOAD:+$DEFENDER_ASAN_PRELOAD }$WRAPPER" \
    PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$2/services" \
    pamtester -I rhost="$4" defender-fw alice authenticate >/dev/null 2>&1
}
now() { date +%s.%N; }
ms() { python3 -c "print(round(($2 - $1) * 1000))"; }
set_of() {  # NS: the elements of both sets, one per line: ADDR [timeout SECS]
  in_ns "$1" nft -j list table inet pam_defender 2>/dev/null | $PROBE elements
}
has() { grep -qxF -- "$1" <<<"$2"; }  # ELEMENT SET_OF-OUTPUT
lacks() { ! grep -q -- "^$1\( \|$\)" <<<"$2"; }  # ADDRESS SET_OF-OUTPUT
# Waits up to 2 s for CMD's output to contain (or, with !, not contain) TEXT;
# prints the milliseconds it took.
wait_for() {  # [!] TEXT CMD...
  local neg=0 text start
  [ "$1" = "!" ] && { neg=1; shift; }
  text=$1; shift
  start=$(now)
  for _ in $(seq 200); do
    if grep -qF -- "$text" <<<"$("$@")"; then [ $neg = 0 ] && break
    else [ $neg = 1 ] && break; fi
    sleep 0.01
  done
  ms "$start" "$(now)"
}

scenario_local() {
  mkdir -p "$D/a"
  cat >"$D/a/defender.toml" <<TOML
[lockout]
failure_limit = 2
lockout_cooloff_time = 4
disable_user_lockout = true  # Only the host is blocked (and unblocked).
[store]
path = "$D/a/state/defender.db"
[hooks]
on_block = ["$DEFENDERCTL", "-c", "$D/a/defender.toml", "firewall", "add"]
on_unblock = ["$DEFENDERCTL", "-c", "$D/a/defender.toml", "firewall", "del"]
[firewall]
enabled = true
ports = [22]
TOML
  pam_service "$D/a" "$D/a/defender.toml"
  local ctl=("$DEFENDERCTL" -c "$D/a/defender.toml")
  in_ns "$NS_A" "${ctl[@]}" firewall sync >/dev/null
  login "$NS_A" "$D/a" wrong 10.77.1.2
  login "$NS_A" "$D/a" wrong 10.77.1.2
  e2e_equal "two failures: still reachable" open "$(probe 10.77.1.2 10.77.1.1 22)"
  in_ns "$NS_C" $PROBE first-drop 10.77.1.2 10.77.1.1 22 3 >"$D/drop" &
  local prober=$!
  sleep 0.05
  local t0 t1 drop
  t0=$(now)
  login "$NS_A" "$D/a" wrong 10.77.1.2  # Blocks 10.77.1.2.
  t1=$(now)
  wait "$prober"
  drop=$(cat "$D/drop")
  e2e_check "the blocked source is dropped" test "$drop" != none
  if [ "$drop" != none ]; then
    local delay
    delay=$(ms "$t0" "$drop")
    e2e_log "delay from the blocking login to the first dropped SYN: ${delay} ms (the login itself took $(ms "$t0" "$t1") ms)"
    e2e_check "dropped within 1 s of the login" test "$delay" -lt 1000
  fi
  e2e_equal "blocked: 10.77.1.2 dropped" dropped "$(probe 10.77.1.2 10.77.1.1 22)"
  e2e_equal "another source still connects" open "$(probe 10.77.1.3 10.77.1.1 22)"
  e2e_equal "another port is not filtered" refused "$(probe 10.77.1.2 10.77.1.1 23)"
  # The block's remaining time when the hook ran: 4 s, or 3 s once a
  # second boundary has passed since the block.
  e2e_check "one element with the block's remaining time" \
    grep -qxE '10\.77\.1\.2 timeout [34]' <<<"$(set_of "$NS_A")"
  in_ns "$NS_A" "${ctl[@]}" unblock --host 10.77.1.2 >/dev/null
  local opened
  opened=$(in_ns "$NS_C" $PROBE first-open 10.77.1.2 10.77.1.1 22 2)
  e2e_check "unblock: reachable again" test "$opened" != none
  e2e_equal "unblock: set empty" "" "$(set_of "$NS_A")"
  # Blocked again; the 4 s block then ends by itself in the kernel too.
  for _ in 1 2 3; do login "$NS_A" "$D/a" wrong 10.77.1.2; done
  e2e_equal "blocked again: dropped" dropped "$(probe 10.77.1.2 10.77.1.1 22)"
  opened=$(in_ns "$NS_C" $PROBE first-open 10.77.1.2 10.77.1.1 22 6)
  e2e_check "after the cool-off: reachable again" test "$opened" != none
  in_ns "$NS_A" "${ctl[@]}" firewall flush >/dev/null
}

scenario_fleet() {
  redis_start() {
    redis-server --port 0 --unixsocket "$D/redis.sock" --unixsocketperm 700 \
      --dir "$D" --dbfilename dump.rdb --save "" --appendonly no \
      --daemonize yes --pidfile "$D/redis.pid" --logfile "$D/redis.log"
    for _ in $(seq 100); do
      redis-cli -s "$D/redis.sock" ping 2>/dev/null | grep -q PONG && return
      sleep 0.02
    done
    e2e_fatal "redis-server did not start"
  }
  redis_start
  e2e_on_exit "redis-cli -s '$D/redis.sock' shutdown nosave"
  # A table of someone else's in B, which must stay as it is.
  in_ns "$NS_B" nft add table inet theirs
  in_ns "$NS_B" nft add chain inet theirs input '{ type filter hook input priority 0; }'
  in_ns "$NS_B" nft add rule inet theirs input tcp dport 9 counter accept
  local before
  before=$(in_ns "$NS_B" nft list ruleset)
  local conf=$D/fleet.toml
  cat >"$conf" <<TOML
[lockout]
failure_limit = 2
cooloff_time = 300
allow_hosts = ["10.77.2.128/25"]
[store]
backend = "redis"
path = "$D/fleet/state/defender.db"
[redis]
url = "unix://$D/redis.sock"
[firewall]
enabled = true
resync_seconds = 3600
TOML
  pam_service "$D/fleet" "$conf"
  local ctl=("$DEFENDERCTL" -c "$conf")
  declare -A watcher
  for ns in "$NS_A" "$NS_B"; do
    E2E_LOG_FILES+=("$D/watch-$ns.log")
    # Not through a function: $! is then `ip`, which execs defenderctl.
    ip netns exec "$ns" "${ctl[@]}" firewall watch >"$D/watch-$ns.log" 2>&1 &
    watcher[$ns]=$!
    e2e_on_exit "kill $!"
  done
  for ns in "$NS_A" "$NS_B"; do
    wait_for "subscribed" cat "$D/watch-$ns.log" >/dev/null
  done
  login "$NS_A" "$D/fleet" wrong 10.77.2.2
  login "$NS_A" "$D/fleet" wrong 10.77.2.2
  # The SYNs go to B; the login happens on A.
  in_ns "$NS_C" $PROBE first-drop 10.77.2.2 10.77.2.1 22 3 >"$D/drop" &
  local prober=$! t0 drop delay
  sleep 0.05
  t0=$(now)
  login "$NS_A" "$D/fleet" wrong 10.77.2.2  # Blocks 10.77.2.2 fleet-wide.
  wait "$prober"
  drop=$(cat "$D/drop")
  e2e_check "B drops the host blocked on A" test "$drop" != none
  if [ "$drop" != none ]; then
    delay=$(ms "$t0" "$drop")
    e2e_log "delay from the blocking login on A to the first SYN dropped by B: ${delay} ms"
    e2e_check "enforced on B within 1 s" test "$delay" -lt 1000
  fi
  e2e_check "B's element" has "10.77.2.2 timeout 300" "$(set_of "$NS_B")"
  e2e_equal "B drops 10.77.2.2" dropped "$(probe 10.77.2.2 10.77.2.1 22)"
  e2e_equal "B still lets 10.77.2.3 in" open "$(probe 10.77.2.3 10.77.2.1 22)"
  wait_for "10.77.2.2 timeout" set_of "$NS_A" >/dev/null
  e2e_check "A has it too" has "10.77.2.2 timeout 300" "$(set_of "$NS_A")"

  # IPv6: the /64 subject is one interval element.
  "${ctl[@]}" block --host fd77:2::2 --for 600 >/dev/null
  wait_for "fd77:2::/64 timeout" set_of "$NS_B" >/dev/null
  e2e_check "IPv6 /64 as one element" has "fd77:2::/64 timeout 600" "$(set_of "$NS_B")"
  e2e_equal "B drops fd77:2::2" dropped "$(probe fd77:2::2 fd77:b2::1 22)"

  # Loopback, B's own address, an allow-listed host: blocked in the store,
  # never in a set (B's own address is no address of A's).
  "${ctl[@]}" block --host 127.0.0.1 --for 600 >/dev/null
  "${ctl[@]}" block --host 10.77.2.1 --for 600 >/dev/null
  "${ctl[@]}" block --host 10.77.2.200 --for 600 >/dev/null
  wait_for "10.77.2.1 timeout" set_of "$NS_A" >/dev/null
  local set_b
  set_b=$(set_of "$NS_B")
  e2e_check "loopback never added" lacks 127.0.0.1 "$set_b"
  e2e_check "own address never added" lacks 10.77.2.1 "$set_b"
  e2e_check "own address of B is added on A" has "10.77.2.1 timeout 600" "$(set_of "$NS_A")"
  e2e_check "allow-listed never added" lacks 10.77.2.200 "$set_b"

  # Forged events: a host that is not blocked, a /8, an allow-listed
  # address, garbage, wrong types, a huge message. All ignored; the
  # watchers live on.
  local r=(redis-cli -s "$D/redis.sock")
  "${r[@]}" publish defender:events '{"event":"block","kind":"host","subject":"10.77.2.3","until":0}' >/dev/null
  "${r[@]}" publish defender:events '{"event":"block","kind":"host","subject":"10.0.0.0/8","until":0}' >/dev/null
  "${r[@]}" publish defender:events '{"event":"block","kind":"host","subject":"0.0.0.0/0","until":0}' >/dev/null
  "${r[@]}" publish defender:events '{"event":"block","kind":"host","subject":"10.77.2.200","until":0}' >/dev/null
  "${r[@]}" publish defender:events '{"event":"block","kind":"host","subject":["x"]}' >/dev/null
  "${r[@]}" publish defender:events '{"event":' >/dev/null
  head -c 200000 /dev/zero | tr '\0' '[' | "${r[@]}" -x publish defender:events >/dev/null
  wait_for "ignored event: malformed (longer than" cat "$D/watch-$NS_B.log" >/dev/null
  set_b=$(set_of "$NS_B")
  e2e_check "forged: not-blocked host ignored" lacks 10.77.2.3 "$set_b"
  e2e_check "forged: no /8 added" lacks 10.0.0.0/8 "$set_b"
  e2e_check "forged: no 0.0.0.0/0 added" lacks 0.0.0.0/0 "$set_b"
  e2e_equal "forged: B's set unchanged" "10.77.2.2 timeout 300
fd77:2::/64 timeout 600" "$set_b"
  e2e_check "forged events logged" grep -q "ignored event: host 10.77.2.3 is not blocked" "$D/watch-$NS_B.log"
  e2e_check "forged /8 logged" grep -q "ignored event: host 10.0.0.0/8: a network" "$D/watch-$NS_B.log"
  e2e_check "watcher on A alive" kill -0 "${watcher[$NS_A]}"
  e2e_check "watcher on B alive" kill -0 "${watcher[$NS_B]}"

  # A burst: 300 hosts blocked and their events published back to back,
  # as a distributed attack does. Each watcher applies them in batches
  # (one listing of the sets for many events), and every one lands.
  local burst=$D/burst.redis i t_burst
  for i in $(seq 1 300); do
    printf 'HSET defender:{host:10.77.%d.%d}:s f 0 b 1 e 0\n' $((3 + i / 250)) $((i % 250 + 1))
    printf 'PUBLISH defender:events "{\\"event\\":\\"block\\",\\"kind\\":\\"host\\",\\"subject\\":\\"10.77.%d.%d\\",\\"until\\":0}"\n' $((3 + i / 250)) $((i % 250 + 1))
  done >"$burst"
  t_burst=$(now)
  "${r[@]}" <"$burst" >/dev/null
  burst_count() { set_of "$1" | grep -c '^10\.77\.[34]\.' || true; }
  for ns in "$NS_A" "$NS_B"; do
    for _ in $(seq 300); do
      [ "$(burst_count "$ns")" = 300 ] && break
      sleep 0.1
    done
  done
  e2e_log "300 block events applied by both watchers in $(ms "$t_burst" "$(now)") ms"
  e2e_equal "burst: all 300 on A" 300 "$(burst_count "$NS_A")"
  e2e_equal "burst: all 300 on B" 300 "$(burst_count "$NS_B")"
  e2e_equal "burst: each logged once on B" 300 \
    "$(grep -c '^defenderctl: firewall: + 10\.77\.[34]\.' "$D/watch-$NS_B.log")"
  e2e_check "burst: watcher on B alive" kill -0 "${watcher[$NS_B]}"
  # They go again (a full sync keeps the sets as the store has them).
  for i in $(seq 1 300); do
    printf 'DEL defender:{host:10.77.%d.%d}:s\n' $((3 + i / 250)) $((i % 250 + 1))
  done | "${r[@]}" >/dev/null
  for ns in "$NS_A" "$NS_B"; do
    in_ns "$ns" "${ctl[@]}" firewall sync >/dev/null
  done
  e2e_equal "burst: cleared on B" 0 "$(burst_count "$NS_B")"

  # A permanent block written without an event (as while a watcher is
  # disconnected), then Redis restarted: the watchers reconnect and re-sync.
  "${r[@]}" hset 'defender:{host:10.77.2.3}:s' f 0 b 1 e 0 >/dev/null
  "${r[@]}" shutdown save >/dev/null 2>&1
  sleep 0.2
  redis_start
  e2e_log "Redis restarted after $(wait_for "10.77.2.3" set_of "$NS_B") ms B had re-synced"
  e2e_check "after the restart: re-synced on B, permanent: no timeout" \
    has "10.77.2.3" "$(set_of "$NS_B")"
  wait_for "10.77.2.3" set_of "$NS_A" >/dev/null
  e2e_check "after the restart: re-synced on A" has "10.77.2.3" "$(set_of "$NS_A")"
  e2e_check "reconnect logged" grep -q "lost the subscription" "$D/watch-$NS_B.log"

  # Another block written without an event: SIGHUP (systemctl reload)
  # makes B sync at once (resync_seconds is an hour here); A, not told,
  # does not have it, and both watchers live on.
  "${r[@]}" hset 'defender:{host:10.77.2.4}:s' f 0 b 1 e 0 >/dev/null
  kill -HUP "${watcher[$NS_B]}"
  wait_for "10.77.2.4" set_of "$NS_B" >/dev/null
  e2e_check "SIGHUP: B synced at once" has "10.77.2.4" "$(set_of "$NS_B")"
  e2e_check "SIGHUP: logged" grep -q "SIGHUP: syncing now" "$D/watch-$NS_B.log"
  e2e_check "no SIGHUP: A has not synced" lacks "10.77.2.4" "$(set_of "$NS_A")"
  e2e_check "SIGHUP: watcher on B alive" kill -0 "${watcher[$NS_B]}"

  # An unblock on B clears both.
  in_ns "$NS_B" "${ctl[@]}" unblock --host 10.77.2.2 >/dev/null
  wait_for ! "10.77.2.2" set_of "$NS_A" >/dev/null
  wait_for ! "10.77.2.2" set_of "$NS_B" >/dev/null
  e2e_check "unblock on B: gone from A" lacks 10.77.2.2 "$(set_of "$NS_A")"
  e2e_check "unblock on B: gone from B" lacks 10.77.2.2 "$(set_of "$NS_B")"
  e2e_equal "unblocked: B reachable" open "$(probe 10.77.2.2 10.77.2.1 22)"

  # sync is idempotent; flush leaves the ruleset exactly as it was.
  local out
  out=$(in_ns "$NS_B" "${ctl[@]}" firewall sync)
  e2e_check "sync after the watcher: no change" bash -c "! grep -q '^[+~-]' <<<'$out'"
  kill "${watcher[$NS_A]}" "${watcher[$NS_B]}"
  local rc_a=0 rc_b=0
  wait "${watcher[$NS_A]}" || rc_a=$?
  wait "${watcher[$NS_B]}" || rc_b=$?
  e2e_equal "SIGTERM: the watchers exit 0" "0 0" "$rc_a $rc_b"
  e2e_equal "SIGTERM: logged" "defenderctl: firewall: stopped" \
    "$(tail -n1 "$D/watch-$NS_B.log")"
  in_ns "$NS_B" "${ctl[@]}" firewall flush >/dev/null
  e2e_equal "flush: ruleset as before" "$before" "$(in_ns "$NS_B" nft list ruleset)"
}

scenario_silent() {
  # Redis on TCP inside B, so that nft in B can cut one connection.
  local port=6399 r=(ip netns exec "$NS_B" redis-cli -p 6399)
  in_ns "$NS_B" redis-server --port "$port" --bind 127.0.0.1 --dir "$D" \
    --save "" --appendonly no --daemonize yes --pidfile "$D/redis-b.pid" \
    --logfile "$D/redis-b.log"
  e2e_on_exit "ip netns exec $NS_B redis-cli -p $port shutdown nosave"
  for _ in $(seq 100); do
    "${r[@]}" ping 2>/dev/null | grep -q PONG && break
    sleep 0.02
  done
  local conf=$D/silent.toml
  cat >"$conf" <<TOML
[store]
backend = "redis"
dir = "$D/silent"
[redis]
url = "redis://127.0.0.1:$port"
[firewall]
enabled = true
resync_seconds = 1
TOML
  local ctl=("$DEFENDERCTL" -c "$conf") log=$D/watch-silent.log
  E2E_LOG_FILES+=("$log")
  ip netns exec "$NS_B" "${ctl[@]}" firewall watch >"$log" 2>&1 &
  local watcher=$!
  e2e_on_exit "kill $watcher"
  wait_for "subscribed" cat "$log" >/dev/null
  # The port of the subscribed client (CLIENT LIST: "addr=IP:PORT ... sub=1").
  sub_port() {
    "${r[@]}" client list | sed -n 's/.* addr=[^ ]*:\([0-9]*\) .* sub=1 .*/\1/p'
  }
  local cut
  cut=$(sub_port)
  e2e_check "one subscribed client" test -n "$cut"
  in_ns "$NS_B" nft add table inet cut
  in_ns "$NS_B" nft add chain inet cut out '{ type filter hook output priority 0; }'
  in_ns "$NS_B" nft add rule inet cut out tcp sport "$cut" drop
  in_ns "$NS_B" nft add rule inet cut out tcp dport "$cut" drop
  local t0 now_port="" waited
  t0=$(now)
  for _ in $(seq 100); do
    now_port=$(sub_port | grep -vx "$cut" | head -n1)
    [ -n "$now_port" ] && break
    sleep 0.1
  done
  waited=$(ms "$t0" "$(now)")
  e2e_log "subscribed again ${waited} ms after the cut"
  e2e_check "subscribed again on a new connection" test -n "$now_port"
  e2e_check "gave up the silent subscription" grep -q \
    "lost the subscription: nothing received within 1 s of a PING" "$log"
  e2e_equal "subscribed twice" 2 "$(grep -c 'firewall: subscribed to' "$log")"
  # Syncs go on: a block reaches the set (by its event or the re-sync).
  in_ns "$NS_B" "${ctl[@]}" block --host 203.0.113.9 --for 600 >/dev/null
  wait_for "203.0.113.9 timeout" set_of "$NS_B" >/dev/null
  e2e_check "a block after the cut reaches B" grep -qxE \
    "203\.0\.113\.9 timeout (599|600)" <<<"$(set_of "$NS_B")"
  e2e_check "watcher alive" kill -0 "$watcher"
  kill "$watcher"
  wait "$watcher"
  in_ns "$NS_B" "${ctl[@]}" firewall flush >/dev/null

  # firewall.table naming another program's table: every sync fails, and
  # the watcher says so once (not once a second), and the events it cannot
  # apply are rate-limited like forged ones.
  in_ns "$NS_B" nft add table inet theirs
  in_ns "$NS_B" nft add chain inet theirs forward '{ type filter hook forward priority 0; }'
  sed 's/^resync_seconds = 1$/resync_seconds = 1\ntable = "theirs"/' "$conf" >"$D/theirs.toml"
  local log2=$D/watch-theirs.log
  E2E_LOG_FILES+=("$log2")
  ip netns exec "$NS_B" "$DEFENDERCTL" -c "$D/theirs.toml" firewall watch >"$log2" 2>&1 &
  local w2=$!
  e2e_on_exit "kill $w2"
  wait_for "subscribed" cat "$log2" >/dev/null
  for i in $(seq 30); do
    "${r[@]}" publish defender:events "{\"event\":\"block\",\"kind\":\"host\",\"subject\":\"203.0.113.$i\",\"until\":0}" >/dev/null
  done
  sleep 3
  e2e_equal "foreign table: one sync failure logged in 3 s" 1 \
    "$(grep -c 'sync failed: table inet theirs holds chain forward' "$log2")"
  e2e_equal "foreign table: 10 of 30 events logged" 10 \
    "$(grep -c 'ignored event: host 203.0.113.*cannot apply it' "$log2")"
  kill "$w2"
  wait "$w2"
  e2e_check "foreign table untouched" in_ns "$NS_B" nft list chain inet theirs forward

  # A server that answers SUBSCRIBE and then sends nothing but pongs, as
  # fast as it can: the watcher still stops at once on SIGTERM (it read
  # them all in one batch and never came back to look).
  cat >"$D/pongs.py" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
while True:
    c, _ = s.accept()
    data = c.recv(65536)
    if b"SUBSCRIBE" in data:
        c.sendall(b"*3\r\n$9\r\nsubscribe\r\n$15\r\ndefender:events\r\n:1\r\n")
        try:
            while True:
                c.sendall(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n" * 10000)
        except OSError:
            pass
    else:
        try:
            c.sendall(b"-ERR not a real server\r\n")
        except OSError:
            pass
    c.close()
PY
  # Not through a function: $! is then `ip`, which execs python3.
  ip netns exec "$NS_B" python3 "$D/pongs.py" 6398 >"$D/pongs.log" 2>&1 &
  local pongs=$!
  e2e_on_exit "kill $pongs"
  sed 's/^url = .*/url = "redis:\/\/127.0.0.1:6398"/' "$conf" >"$D/pongs.toml"
  local log3=$D/watch-pongs.log
  E2E_LOG_FILES+=("$log3")
  sleep 0.5
  ip netns exec "$NS_B" "$DEFENDERCTL" -c "$D/pongs.toml" firewall watch >"$log3" 2>&1 &
  local w3=$!
  e2e_on_exit "kill -9 $w3"
  wait_for "subscribed" cat "$log3" >/dev/null
  sleep 1
  kill -HUP "$w3"
  wait_for "SIGHUP: syncing now" cat "$log3" >/dev/null
  e2e_check "a flood of pongs: SIGHUP still heard" grep -q "SIGHUP: syncing now" "$log3"
  kill "$w3"
  local stopped=no
  for _ in $(seq 30); do
    kill -0 "$w3" 2>/dev/null || { stopped=yes; break; }
    sleep 0.1
  done
  e2e_equal "a flood of pongs: stopped within 3 s of SIGTERM" yes "$stopped"
  kill -9 "$w3" 2>/dev/null
  kill "$pongs"
}

"scenario_$scenario"
e2e_finish
