#!/bin/bash
# Per-step instruction counts (valgrind --tool=callgrind) of pam_defender on
# SQLite and of pam_faillock: for each step, one process runs pam_start +
# pam_authenticate of a one-line service + pam_end, and only the
# instructions inside pam_sm_authenticate are counted (--toggle-collect),
# so the figure is the module's own work, repeatable on a busy machine.
#
#   bench/profile.sh BUILD_DIR OUT_TSV [WORKDIR]
#
# Steps run in the order preauth (clean subject), authfail (counter 0 -> 1),
# authsucc (counter 1 -> reset), on a store that already exists. The fsync
# column is the mean number of fsync/fdatasync calls per step over
# SYNC_CYCLES (default 20) cycles, counted with strace: the I/O cost that
# instruction counts do not show.
set -euo pipefail
build=$1
out=$2
work=${3:-$(mktemp -d /tmp/defender-profile.XXXXXX)}
bench=$build/bench/defender_bench
module=$(readlink -f "$build/pam_defender/pam_defender.so")
rm -rf "$work/steps"
# Writes the step services (and creates the stores: one warm-up round).
"$bench" run --module "$module" --workdir "$work" --out "$work/out" \
  --scenario steps --step-rounds 1 >/dev/null 2>&1
confdir=$work/steps/pam.d
count() {  # SERVICE -> instructions in pam_sm_authenticate
  local log=$work/cg-$1.log
  valgrind --tool=callgrind --toggle-collect=pam_sm_authenticate \
    --callgrind-out-file="$work/callgrind.out.$1" \
    "$bench" step --confdir "$confdir" --service "$1" >/dev/null 2>"$log"
  sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$log"
}
declare -A syncs
count_syncs() {  # STACK CYCLES: mean fsync+fdatasync calls per step
  local step n
  for step in preauth authfail authsucc; do syncs[$1-$step]=0; done
  for ((i = 0; i < $2; i++)); do
    for step in preauth authfail authsucc; do
      strace -f -c -e trace=fsync,fdatasync -o "$work/strace.txt" \
        "$bench" step --confdir "$confdir" --service "$1-$step" >/dev/null
      n=$(awk '$NF ~ /^(fsync|fdatasync)$/ {s += $(NF-1)} END {print s+0}' \
        "$work/strace.txt")
      syncs[$1-$step]=$((syncs[$1-$step] + n))
    done
  done
}
cycles=${SYNC_CYCLES:-20}
{
  printf '# stack\tstep\tinstructions\tfsyncs_per_step\n'
  for stack in defender-sqlite faillock; do
    count_syncs "$stack" "$cycles"
    for step in preauth authfail authsucc; do
      printf '%s\t%s\t%s\t%s\n' "$stack" "$step" \
        "$(count "$stack-$step")" \
        "$(awk -v t="${syncs[$stack-$step]}" -v c="$cycles" \
            'BEGIN {printf "%.2f", t / c}')"
    done
  done
} >"$out"
cat "$out"
