#!/bin/bash
# Runs the whole test suite from a fresh checkout: installs the Debian
# packages that are missing, builds, runs every test suite (each test starts
# and stops the services it needs: redis-server, sshd), prints how long each
# suite took, and ends with one summary line
# "tests: N passed, N failed, N skipped".
#
#   scripts/test.sh         everything: build/, build-asan/, build-fuzz/
#   scripts/test.sh quick   build/ only, without the e2e deb-package test
#                           (which alone builds the package for minutes)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

mode=${1:-all}
case "$mode" in
  all | quick) ;;
  *)
    echo "usage: $0 [quick]" >&2
    echo "tests: 0 passed, 1 failed, 0 skipped"
    exit 2
    ;;
esac

scripts/install-deps.sh || { echo "tests: 0 passed, 1 failed"; exit 1; }

results=()   # one testlog.json per build
run_build() {  # NAME MESON-ARGS...
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"$root/.test-$(basename "$dir")-setup.log" 2>&1 ||
      { cat "$root/.test-$(basename "$dir")-setup.log"; return 1; }
  fi
  ninja -C "$dir" || return 1
  local names=()
  if [ "$mode" = quick ]; then
    # Every test by name ("project:suite / name" in the list) but the
    # package build.
    mapfile -t names < <(meson test -C "$dir" --no-rebuild --list |
      sed -n 's|^.* / ||p' | grep -vx 'deb-package')
    [ ${#names[@]} -gt 0 ] || return 1
  fi
  meson test -C "$dir" --print-errorlogs --num-processes 2 "${test_args[@]}" \
    "${names[@]}"
  results+=("$dir/meson-logs/testlog.json")
}
test_args=()

# libFuzzer smoke runs: only the fuzz targets are built (with clang), and
# each runs for fuzz_seconds (tests/fuzz/meson.build).
run_fuzz() {  # DIR
  local dir=$1
  if [ ! -f "$dir/build.ninja" ]; then
    local flags='-fsanitize=fuzzer-no-link -fno-sanitize-recover=all'
    CC=clang CXX=clang++ meson setup "$dir" -Dfuzzing=true \
      -Db_sanitize=address,undefined -Db_lundef=false \
      -Dc_args="$flags" -Dcpp_args="$flags" \
      >"$root/.test-$(basename "$dir")-setup.log" 2>&1 ||
      { cat "$root/.test-$(basename "$dir")-setup.log"; return 1; }
  fi
  ninja -C "$dir" fuzzers || return 1
  meson test -C "$dir" --no-rebuild --suite fuzz --print-errorlogs \
    --num-processes 2
  results+=("$dir/meson-logs/testlog.json")
}

# Prints the time per suite and the summary line, and exits.
finish() {
  python3 scripts/test_summary.py "${results[@]}"
  local py=$?
  [ $status -ne 0 ] && exit $status
  exit $py
}

status=0
run_build build || status=1
[ "$mode" = quick ] && finish
# The whole suite again under AddressSanitizer and UBSan: the test programs
# are sanitized and load the sanitized module (tests/meson.build sets
# DEFENDER_ASAN_PRELOAD for tests that load it into other programs). All
# suites but e2e: setuid sudo ignores LD_PRELOAD, so the sanitized module
# cannot be loaded into it, and the package test builds its own module.
# Unoptimised (-O0): the sanitizers check the same code at any level, and
# the sanitized test programs compile four to five times faster than at
# -O2 (the Store contract's test file alone: 10 s against 162 s).
test_args=(--no-suite e2e)
run_build build-asan -Db_sanitize=address,undefined -Db_lundef=false \
  -Doptimization=0 || status=1
test_args=()
run_fuzz build-fuzz || status=1

finish
