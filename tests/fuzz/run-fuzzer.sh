#!/bin/sh
# Runs one libFuzzer target for a fixed time: FUZZER SECONDS WORKDIR SEEDS...
# New inputs go to WORKDIR/corpus (never into the source tree); a crash
# leaves WORKDIR/crash-* to be copied into tests/fuzz/regressions/<target>/.
set -eu
fuzzer=$1 seconds=$2 work=$3
shift 3
mkdir -p "$work/corpus"
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -error_exitcode=1 -timeout_exitcode=1 -rss_limit_mb=2048 \
  -max_len=8192 -print_final_stats=1 -artifact_prefix="$work/" \
  "$work/corpus" "$@"
