#!/bin/bash
# The whole benchmark from one command: builds a release build of the
# module and the driver, starts a loopback redis-server (when the module has
# the Redis store), runs every scenario with the stacks interleaved round by
# round, profiles each PAM step with callgrind, times the administrative
# operations on a store of 100,000 subjects and 1,000,000 attempt rows, and
# writes tables (TSV and Markdown) and SVG charts to bench/results/.
#
#   bench/run.sh                 # full run (about 5 minutes on 2 cores)
#   ROUNDS=5 bench/run.sh        # shorter
#
# Environment: ROUNDS (40), BATCH (5), CONCURRENT_BATCH (2), BUILD_DIR
# (build-bench), RESULTS (bench/results), REDIS_PORT (6391).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${BUILD_DIR:-$root/build-bench}
results=${RESULTS:-$here/results}
port=${REDIS_PORT:-6391}
work=$(mktemp -d /tmp/defender-bench.XXXXXX)
redis_pid=
cleanup() {
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Tools the full run needs beyond the build (installed when missing).
need=()
for pkg in gnuplot-nox valgrind strace redis-server redis-tools \
           libpam-wrapper python3; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" ||
    need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
"$root/scripts/install-deps.sh" >/dev/null

# The benchmark is built with the tests (meson.build); only what the run
# uses is compiled. -O2, as the Debian package is built (dpkg-buildflags):
# the module's logins cost less than at -O3 (smaller code to fault in).
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$root" --buildtype=release -Doptimization=2 \
    -Dtests=true >/dev/null
else
  meson configure "$build" -Doptimization=2 -Dtests=true >/dev/null
fi
ninja -C "$build" -j2 pam_defender/pam_defender.so \
  pam_defender/pam_defender.d/config.so defenderctl/defenderctl \
  bench/defender_bench bench/load_module bench/lock_waits bench/login_phases \
  bench/pam_defender_shared_runtime.so >/dev/null
bench=$build/bench/defender_bench
module=$(readlink -f "$build/pam_defender/pam_defender.so")
mkdir -p "$results"

redis_args=()
# The module names the libhiredis it loads for the Redis store.
if grep -qa 'libhiredis\.so' "$module"; then
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no >"$work/redis.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 50); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  redis_args=(--redis-port "$port")
else
  echo "run.sh: pam_defender has no Redis store in this build:" \
       "the Redis stack is left out" >&2
fi

# The machine, for the README.
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo -)"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc)"
  echo "memory: $(free -g | awk '/^Mem:/ {print $2}') GiB"
  echo "kernel: $(uname -r)"
  echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "filesystem of /tmp: $(df -T /tmp | awk 'NR == 2 {print $2}')"
  echo "sqlite (defenderctl's archive): $(dpkg-query -W -f='${Version}' libsqlite3-0)," \
       "libpam: $(dpkg-query -W -f='${Version}' libpam0g)," \
       "redis: $(dpkg-query -W -f='${Version}' redis-server)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$results/machine.txt"

status=0
"$bench" run --module "$module" --workdir "$work/w" --out "$results" \
  --rounds "${ROUNDS:-40}" --batch "${BATCH:-5}" \
  --concurrent-batch "${CONCURRENT_BATCH:-2}" "${redis_args[@]}" \
  2>&1 | tee "$results/run.log" || status=1

# The sequential scenarios' stacks again, each login forked from a small C
# program linked only with libpam (login_phases), as sshd (which executes
# itself anew for each connection), su and sudo run PAM: no C++ runtime
# and no large heap inherited, as defender_bench's children have. In the
# stores the scenarios left (in failure, pam_faillock's tally keeps
# growing: a failure costs it more as the run goes on). One password for
# every login: no mixed.
{
  printf '# scenario\tservice\tround\tstart\tauthenticate\tend\ttotal\n'
  for sc in success failure blocked; do
    [ -d "$work/w/$sc/pam.d" ] || continue
    password=correct-horse
    [ "$sc" = failure ] && password=wrong-password
    (cd "$work/w/$sc" && PHASES_PASSWORD=$password \
      PHASES_SAMPLES="$work/phases.tsv" "$build/bench/login_phases" pam.d \
        "${PHASE_ROUNDS:-400}" baseline faillock defender-local >/dev/null) ||
      { echo "run.sh: FAILED: login_phases in $sc" >&2; status=1; continue; }
    grep -v '^#' "$work/phases.tsv" | sed "s/^/$sc\t/"
  done
} >"$results/phases.tsv"
# Every login gave its scenario's result: success 0 (PAM_SUCCESS); failure
# 7 (PAM_AUTH_ERR); blocked: refused (7) but by the baseline, which has no
# lockout.
if ! awk -F'\t' '!/^#/ {
      want = ($1 == "failure" || ($1 == "blocked" && $2 != "baseline")) ? 7 : 0
      if ($8 != want) { print FILENAME ": " $0 " (want " want ")"; bad = 1 }
    } END { exit bad }' "$results/phases.tsv" >&2; then
  echo "run.sh: FAILED: a login_phases login gave the wrong result" >&2
  status=1
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" \
  >>"$results/machine.txt"

# What loading the module costs a C program (sshd, sudo and login are C;
# the driver above is C++, so its children have the C++ runtime mapped
# already): fork, dlopen, dlclose, exit, median CPU time of 300 children.
# The same module linked with the shared libstdc++ shows what linking the
# C++ runtime in saves.
faillock=
for dir in "/lib/$(gcc -print-multiarch 2>/dev/null)" /lib64 /usr/lib64 \
           /lib; do
  if [ -f "$dir/security/pam_faillock.so" ]; then
    faillock=$dir/security/pam_faillock.so
    break
  fi
done
shared=$(readlink -f "$build/bench/pam_defender_shared_runtime.so")
if [ -n "$faillock" ]; then
  {
    printf '# module\tcpu_median_us\n'
    "$build/bench/load_module" 300 "$faillock" "$module" "$shared" |
      sed -e "s|^$faillock\t|pam_faillock.so\t|" \
          -e "s|^$module\t|pam_defender.so\t|" \
          -e "s|^$shared\t|pam_defender.so, shared libstdc++\t|" \
          -e 's|^-\t|no module\t|'
  } >"$results/load.tsv"
else
  echo "# pam_faillock.so not found" >"$results/load.tsv"
fi

# How a bounded lock wait should wait: 8 and 32 processes taking one
# file's lock in turn, with each way of waiting (lock_waits.cc).
"$build/bench/lock_waits" "$work" 300 >"$results/lock_waits.tsv"

# `defenderctl list` (100,000 subjects) and `defenderctl cleanup` (the
# 1,000,000 archive rows, all older than attempts.expiration_hours) on a
# copy of the filled store, with the release build's CLI.
ctl=$build/defenderctl/defenderctl
big=$work/w/bigstore/defender-local-big
if "$ctl" --version >/dev/null 2>&1 && [ -d "$big" ]; then
  rm -rf "$work/ctl"
  cp -a "$big" "$work/ctl"
  sed "s|^dir = .*|dir = \"$work/ctl\"|" \
    "$work/w/bigstore/defender-local-big.toml" >"$work/ctl.toml"
  {
    printf '# command\tseconds\toutput_lines\n'
    for cmd in "list --all" "cleanup"; do
      start=$(date +%s.%N)
      # shellcheck disable=SC2086
      "$ctl" -c "$work/ctl.toml" $cmd >"$work/ctl.out" 2>&1
      end=$(date +%s.%N)
      printf 'defenderctl %s\t%s\t%s\n' "$cmd" \
        "$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f", b - a}')" \
        "$(wc -l <"$work/ctl.out")"
      if [ "$cmd" = cleanup ]; then sed 's/^/  /' "$work/ctl.out"; fi
    done
  } >"$results/defenderctl.tsv"
  cat "$results/defenderctl.tsv"
else
  echo "# defenderctl not built: see storeops.tsv" >"$results/defenderctl.tsv"
fi

# Redis round trips per PAM step: the commands clients send (MONITOR lines
# from a client address; the calls a script makes inside the server are
# left out), over ten runs of each step, connection setup included.
redis_commands() {
  redis-cli -p "$port" info stats |
    sed -n 's/^total_commands_processed:\([0-9]*\).*/\1/p'
}
if [ -n "$redis_pid" ]; then
  "$bench" run --module "$module" --workdir "$work/rs" --out "$work/rs-out" \
    --scenario steps --step-rounds 0 --redis-port "$port" >/dev/null 2>&1
  {
    printf '# step\tclient_commands_per_step\tserver_commands_per_step\n'
    for step in preauth authfail authsucc; do
      redis-cli -p "$port" monitor >"$work/monitor.txt" &
      monitor_pid=$!
      sleep 0.5
      before=$(redis_commands)
      for _ in $(seq 10); do
        "$bench" step --confdir "$work/rs/steps/pam.d" \
          --service "defender-redis-$step" >/dev/null
      done
      # The first INFO is counted once it has run.
      calls=$(($(redis_commands) - before - 1))
      sleep 0.5
      kill "$monitor_pid" 2>/dev/null || true
      wait "$monitor_pid" 2>/dev/null || true
      # Lines from a client address; the INFO calls are not the steps'.
      client=$(grep -E '^[0-9.]+ \[[0-9]+ [0-9.]+:[0-9]+\]' \
        "$work/monitor.txt" | grep -vc '"info"' || true)
      printf '%s\t%s\t%s\n' "$step" \
        "$(awk -v c="$client" 'BEGIN {printf "%.1f", c / 10}')" \
        "$(awk -v c="$calls" 'BEGIN {printf "%.1f", c / 10}')"
    done
  } >"$results/redis-commands.tsv"
else
  echo "# no Redis store in this build" >"$results/redis-commands.tsv"
fi

# The local files a Redis login writes: opened for writing, created,
# renamed, removed or linked (strace -f), for a successful and for a failed
# login through the whole stack (pam_authenticate, then pam_acct_mgmt). The
# attempt journal must be the only one.
if [ -n "$redis_pid" ]; then
  journal=$work/rs/steps/defender-redis/attempts.journal
  {
    printf '# login\tPAM result\tlocal files written\tonly the journal\n'
    for password in correct-horse wrong-password; do
      result=$(strace -f -qq -y -o "$work/files.txt" \
        -e trace=open,openat,creat,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat,link,linkat,symlink,symlinkat,truncate \
        "$bench" step --account --confdir "$work/rs/steps/pam.d" \
        --service defender-redis --password "$password")
      # Calls that succeeded and write: open* with a write flag, and the
      # others (first path argument).
      written=$(grep -v ' = -1 ' "$work/files.txt" |
        grep -E 'open(at)?\(.*(O_WRONLY|O_RDWR|O_CREAT|O_TRUNC)|creat\(|rename|unlink|mkdir|link|truncate' |
        sed -n -e 's/^[0-9]* *[a-z0-9]*([0-9]*<\([^>]*\)>, "\([^/"][^"]*\)".*/\1\/\2/p' \
          -e 's/^[0-9]* *[a-z0-9]*(\(AT_FDCWD, \)\{0,1\}"\([^"]*\)".*/\2/p' |
        sort -u | paste -sd' ' -)
      login=success
      [ "$password" = correct-horse ] || login=failure
      only=no
      [ "$written" = "$journal" ] && only=yes
      printf '%s\t%s\t%s\t%s\n' "$login" "$result" "${written:-(none)}" "$only"
    done
  } >"$results/redis-files.tsv"
  sed "s|$work|\$WORK|g" "$results/redis-files.tsv"
  if grep -q $'\tno$' "$results/redis-files.tsv"; then
    echo "run.sh: FAILED: a Redis login writes a local file other than" \
         "its journal (redis-files.tsv)" >&2
    status=1
  fi
  sed -i "s|$work|\$WORK|g" "$results/redis-files.tsv"
else
  echo "# no Redis store in this build" >"$results/redis-files.tsv"
fi

CYCLES=${CYCLES:-22} "$here/profile.sh" "$build" "$results/profile-after.tsv" \
  "$work/profile" >/dev/null
python3 "$here/report.py" "$results"
(cd "$results" && gnuplot "$here/charts.gp")
echo "run.sh: results in $results"
exit $status
