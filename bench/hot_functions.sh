#!/bin/bash
# Regenerates pam_defender/hot_functions.txt, the list of the module's
# functions that a login on the local store runs, which the linker (lld,
# --symbol-ordering-file) places together at the start of the module's
# code (doc/DESIGN.md §7, "Hot code first").
#
# A login runs the module once, in a process that has never run it: what a
# step costs is mostly the code pages and cache lines it touches for the
# first time. Spread over the module's 210 KB of code, the 260 functions a
# login runs touch four 64 KB fault-around windows and twice as many pages
# as packed together.
#
# The functions are those callgrind sees run, in the whole process, for a
# successful login with its account step, a failed one and a refused one
# (the bench's success and blocked scenarios, their defender-local stack).
# Run it after a change that adds, renames or un-inlines functions on the
# login path; tests/pam/hot_functions_test.py fails when too many listed
# names are gone, and `--check` (meson test hot-functions-current) when a
# login runs a function the list lacks.
#
#   bench/hot_functions.sh [--check] [BUILD_DIR]   (default build-bench)
#
# With --check the list is not written: the names the three logins run
# that it lacks (but for rare_run below) are printed, and the exit status
# is 1 if there are any.
set -euo pipefail
check=false
if [ "${1:-}" = --check ]; then
  check=true
  shift
fi
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-bench}
bench=$build/bench/defender_bench
module=$(readlink -f "$build/pam_defender/pam_defender.so")
out=$root/pam_defender/hot_functions.txt
# The module keeps its compiled configuration in /var/lib/pam_defender,
# which only root may write: elsewhere every login would compile the
# configuration again, code no login runs on a server.
if [ "$(id -u)" != 0 ]; then
  echo "hot_functions.sh: needs root (the module's state directory)" >&2
  exit 77
fi
snapshots=/var/lib/pam_defender/config
work=$(mktemp -d /tmp/defender-hot-functions.XXXXXX)
ls -A "$snapshots" 2>/dev/null | sort >"$work/snapshots.before" || true
cleanup() {
  set +e
  # The compiled configurations of this run's files (their paths are new
  # each run), not those of anything else.
  ls -A "$snapshots" 2>/dev/null | sort |
    comm -13 "$work/snapshots.before" - |
    while read -r f; do rm -f "$snapshots/$f"; done
  rm -rf "$work"
}
trap cleanup EXIT

if ! "$bench" run --module "$module" --workdir "$work" --out "$work/out" \
  --rounds 1 --scenario success blocked >"$work/run.log" 2>&1; then
  echo "hot_functions.sh: defender_bench run failed:" >&2
  cat "$work/run.log" >&2
  exit 1
fi

profile() {  # NAME DIR RESULT ARGS...: one login under callgrind
  local name=$1 dir=$2 want=$3
  shift 3
  if ! (cd "$work/$dir" &&
    valgrind --tool=callgrind --demangle=no \
      --callgrind-out-file="$work/$name.cg" "$bench" step --confdir pam.d \
      --service defender-local --user nobody "$@" >"$work/$name.out" \
      2>"$work/$name.log") || [ "$(cat "$work/$name.out")" != "$want" ]; then
    echo "hot_functions.sh: the $name login gave \"$(cat "$work/$name.out")\"," \
      "not \"$want\":" >&2
    cat "$work/$name.log" >&2
    exit 1
  fi
  python3 "$root/bench/callgrind_functions.py" "$work/$name.cg" "$module" |
    sort -u >"$work/$name.list"
  # A login that compiled the configuration did not read the compiled one,
  # as every login on a server does.
  if grep -q CompileConfigWithPlugin "$work/$name.list"; then
    echo "hot_functions.sh: the $name login compiled its configuration" \
      "(is $snapshots writable and trusted?)" >&2
    exit 1
  fi
}
profile success success Success --password correct-horse --account
profile failure success "Authentication failure" --password wrong
profile blocked blocked "Authentication failure" --password correct-horse \
  --account
# What the loader runs at every load of the module (and at exit), listed
# first so that it lies in the page after .init, .plt and .fini: crtbegin's
# code (valgrind gives it no names: its symbols have no size) and
# runtime.cc's constructor and unload handler. At the end of the list it
# was 70 KB from .init, one more 64 KB fault-around window in each load.
loader_run='frame_dummy register_tm_clones __do_global_dtors_aux
deregister_tm_clones _ZN8defender12_GLOBAL__N_122RegisterRuntimeCleanupEv
_ZN8defender12_GLOBAL__N_118FreeRuntimeBuffersEPv'
# What the failed login runs that a login rarely does: a counter's
# generation is drawn when the counter starts (its first failure), with
# getrandom looked up at its first call (common/lazy_libc.h). Left out, so
# that the code of every login fits the first 64 KB (from the failed
# login's functions only: the other two must not run them).
rare_run='_ZN8defender14DrawGenerationEv
_ZN8defender4lazy6LookupEPSt6atomicIPvEPKc'
for list in "$work"/{success,failure,blocked}.list; do
  if [ "$(wc -l <"$list")" -lt 100 ]; then
    echo "hot_functions.sh: only $(wc -l <"$list") functions seen in" \
      "$(basename "$list" .list); is $module a build with symbols?" >&2
    exit 1
  fi
done

grep -vxF -f <(printf '%s\n' $rare_run) "$work/failure.list" |
  sort -u - "$work/success.list" "$work/blocked.list" >"$work/placed"
if $check; then
  missing=$(grep -vxF -f <(grep -v '^#' "$out") "$work/placed" || true)
  if [ -n "$missing" ]; then
    echo "hot_functions.sh: a login runs $(wc -l <<<"$missing") function(s)" \
      "that $out lacks (run bench/hot_functions.sh $build):" >&2
    printf '%s\n' "$missing" >&2
    exit 1
  fi
  echo "ok: the $(wc -l <"$work/placed") functions the three logins run" \
    "(but for rare_run) are listed"
  exit 0
fi

{
  cat <<'EOF'
# The module's functions that a login on the local store runs, placed
# together at the start of its code by lld (--symbol-ordering-file;
# doc/DESIGN.md §7). Generated by bench/hot_functions.sh; names a function
# no longer has are ignored.
EOF
  printf '%s\n' $loader_run
  # Grouped by the logins that run them, so that each kind of login runs
  # code in as few pages as it can (every first touch of a page costs a
  # fault, or on a VM with shadow page tables an exit to the host): what
  # all three run (49 of the 64 KB), then what a refused login runs besides
  # it (together: one span), then what the successful and the failed share,
  # what only the successful runs and what only the failed runs.
  grep -vxF -f <(printf '%s\n' $loader_run) "$work/placed" |
    awk -v order="111 011 101 001 110 100 010" '
      FNR == 1 { file++ }
      file <= 3 { seen[file, $0] = 1; next }
      {
        key = (seen[1, $0] ? 1 : 0) (seen[2, $0] ? 1 : 0) (seen[3, $0] ? 1 : 0)
        group[key] = group[key] $0 "\n"
      }
      END { n = split(order, o, " "); for (i = 1; i <= n; i++) printf "%s", group[o[i]] }
    ' "$work/success.list" "$work/failure.list" "$work/blocked.list" -
} >"$work/hot_functions.txt"
mv "$work/hot_functions.txt" "$out"
echo "$out: $(grep -vc "^#" "$out") functions"
