#!/bin/bash
# Per-step cost of pam_defender on its local store and of pam_faillock,
# counted rather than timed, so that it is repeatable on a busy machine:
#  - instructions inside pam_sm_authenticate (valgrind --tool=callgrind
#    --toggle-collect), i.e. the module's own work, not pam_start's;
#  - fsync/fdatasync calls (strace), the I/O cost instructions do not show.
# Each step is one process: pam_start + pam_authenticate of a one-line
# service + pam_end. Steps run in cycles of preauth (clean subject),
# authfail (counter 0 -> 1) and authsucc (counter 1 -> reset) on a store
# that already exists, and the figures are means over CYCLES cycles (22 by
# default).
#
#   bench/profile.sh BUILD_DIR OUT_TSV [WORKDIR]
set -euo pipefail
build=$1
out=$2
work=${3:-$(mktemp -d /tmp/defender-profile.XXXXXX)}
cycles=${CYCLES:-22}
bench=$build/bench/defender_bench
module=$(readlink -f "$build/pam_defender/pam_defender.so")
rm -rf "$work/steps"
# Writes the step services and creates the stores (one warm-up cycle).
"$bench" run --module "$module" --workdir "$work" --out "$work/out" \
  --scenario steps --step-rounds 0 >/dev/null 2>&1
confdir=$work/steps/pam.d

declare -A ir syncs
run_step() {  # SERVICE: adds its instructions and fsyncs to the totals
  strace -f -c -e trace=fsync,fdatasync -o "$work/strace.txt" \
    valgrind --tool=callgrind --toggle-collect=pam_sm_authenticate \
    --callgrind-out-file=/dev/null \
    "$bench" step --confdir "$confdir" --service "$1" \
    >/dev/null 2>"$work/cg.log"
  local n s
  n=$(sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$work/cg.log")
  s=$(awk '$NF ~ /^(fsync|fdatasync)$/ {t += $(NF-1)} END {print t+0}' \
    "$work/strace.txt")
  ir[$1]=$((${ir[$1]:-0} + n))
  syncs[$1]=$((${syncs[$1]:-0} + s))
}
{
  printf '# stack\tstep\tinstructions\tfsyncs_per_step\n'
  for stack in defender-local faillock; do
    n=$cycles
    [ "$stack" = faillock ] && n=3
    for ((i = 0; i < n; i++)); do
      for step in preauth authfail authsucc; do run_step "$stack-$step"; done
    done
    for step in preauth authfail authsucc; do
      awk -v s="$stack" -v p="$step" -v i="${ir[$stack-$step]}" \
        -v f="${syncs[$stack-$step]}" -v n="$n" \
        'BEGIN {printf "%s\t%s\t%d\t%.2f\n", s, p, i / n, f / n}'
    done
  done
} >"$out"
cat "$out"
