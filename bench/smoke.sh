#!/bin/bash
# CI smoke test of the benchmark (meson test suite 'bench'): a few dozen
# logins per stack and scenario, on a small filled store. It asserts only
# that every stack ran every scenario and gave the expected PAM results
# (defender_bench checks each login's return codes and that every login is
# in pam_defender's attempt log); it never asserts a timing.
#
#   bench/smoke.sh DEFENDER_BENCH PAM_DEFENDER_SO
set -euo pipefail
bench=$(readlink -f "$1")
module=$(readlink -f "$2")
work=$(mktemp -d /tmp/defender-bench-smoke.XXXXXX)
redis_pid=
cleanup() {
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid"
  rm -rf "$work"
}
trap cleanup EXIT

stacks=(baseline faillock defender-local)
redis_args=()
# The Redis stack runs when the module is built with the Redis store (it
# names the libhiredis it loads).
if grep -qa 'libhiredis\.so' "$module" &&
   command -v redis-server >/dev/null; then
  # A port the kernel has just handed out, not a random one that another
  # test's server may hold (the stack would then talk to that one).
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no >"$work/redis.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 100); do
    if ! kill -0 "$redis_pid" 2>/dev/null; then
      cat "$work/redis.log" >&2
      echo "smoke: redis-server on port $port did not start" >&2
      exit 1
    fi
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  redis-cli -p "$port" ping >/dev/null 2>&1 ||
    { echo "smoke: redis-server on port $port does not answer" >&2; exit 1; }
  redis_args=(--redis-port "$port")
  stacks+=(defender-redis)
fi

"$bench" run --module "$module" --workdir "$work/w" --out "$work/out" \
  --rounds 2 --batch 3 --concurrent-batch 1 --fill-subjects 1000 --fill-attempts 10000 \
  --step-rounds 2 --attack-failures 8 "${redis_args[@]}"

# Every stack ran every scenario.
status=0
for scenario in success mixed failure blocked attack concurrent8 concurrent32; do
  for stack in "${stacks[@]}"; do
    if ! awk -v sc="$scenario" -v st="$stack" \
        '$1 == sc && $2 == st && $3 > 0 {found = 1} END {exit !found}' \
        "$work/out/summary.tsv"; then
      echo "smoke: no results for $stack in $scenario" >&2
      status=1
    fi
  done
done
for stack in baseline defender-local defender-local-big; do
  awk -v st="$stack" '$1 == "bigstore" && $2 == st {f = 1} END {exit !f}' \
    "$work/out/summary.tsv" || { echo "smoke: no bigstore/$stack" >&2; status=1; }
done
for f in storeops.tsv steps.tsv; do
  [ -s "$work/out/$f" ] || { echo "smoke: $f missing" >&2; status=1; }
done
exit $status
