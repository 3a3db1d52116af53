# Shared helpers for the end-to-end tests (sourced, not run).
#
# The tests drive the real services (sshd, sudo, dpkg) on this machine and so
# need root on Debian; elsewhere they exit 77, which meson reports as SKIP.
# They install no package: scripts/packages.txt lists what they use. Every
# change to the system (users, /etc/pam.d and /etc/sudoers.d files) has a
# unique name and is undone by the EXIT trap set in e2e_init.

E2E_NAME=${0##*/}
E2E_CLEANUP=()   # commands run in reverse order on exit
E2E_FAILED=0
E2E_LOG_FILES=()  # printed when a check failed

e2e_log() { printf '%s: %s\n' "$E2E_NAME" "$*" >&2; }

# Exits 77 (skip) with a reason.
e2e_skip() { e2e_log "SKIP: $*"; exit 77; }

# Exits 1 with a reason.
e2e_fatal() { e2e_log "FAIL: $*"; exit 1; }

# Records one assertion: e2e_check "what" command...
e2e_check() {
  local what=$1; shift
  if "$@"; then
    e2e_log "ok: $what"
  else
    e2e_log "FAILED: $what"
    E2E_FAILED=1
  fi
}

# Asserts that two values are equal: e2e_equal "what" expected actual.
e2e_equal() {
  if [ "$2" == "$3" ]; then
    e2e_log "ok: $1 ($3)"
  else
    e2e_log "FAILED: $1: expected [$2], got [$3]"
    E2E_FAILED=1
  fi
}

e2e_on_exit() { E2E_CLEANUP+=("$*"); }

e2e_run_cleanup() {
  local i
  for ((i = ${#E2E_CLEANUP[@]} - 1; i >= 0; i--)); do
    eval "${E2E_CLEANUP[i]}" >/dev/null 2>&1 || true
  done
}

# Checks the common preconditions and creates $E2E_TMP.
e2e_init() {
  [ "$(id -u)" -eq 0 ] || e2e_skip "needs root"
  [ -f /etc/debian_version ] || e2e_skip "needs Debian"
  : "${DEFENDER_MODULE:?set by meson test}"
  [ -f "$DEFENDER_MODULE" ] || e2e_fatal "module not built: $DEFENDER_MODULE"
  for tool in "$@"; do
    command -v "$tool" >/dev/null ||
      e2e_fatal "$tool is missing (scripts/install-deps.sh installs it)"
  done
  E2E_TMP=$(mktemp -d /tmp/pam-defender-e2e.XXXXXX)
  chmod 0755 "$E2E_TMP"
  trap 'e2e_run_cleanup' EXIT
  trap 'exit 130' INT TERM
  e2e_on_exit "rm -rf '$E2E_TMP'"
}

# Ends the test: exit 0 if every check passed.
e2e_finish() {
  if [ "$E2E_FAILED" -ne 0 ]; then
    e2e_log "some checks failed"
    local f
    for f in "${E2E_LOG_FILES[@]}"; do
      [ -f "$f" ] || continue
      echo "---- $f" >&2
      tail -n 60 "$f" >&2
    done
    exit 1
  fi
  e2e_log "all checks passed"
  exit 0
}

# A unique lower-case name with the given prefix (valid as a user name, a
# PAM service name and a sudoers.d file name).
e2e_unique() { printf '%s%s%04x' "$1" "$$" "$RANDOM"; }

# Creates a user with a home directory and the given password; removed on
# exit.
e2e_add_user() {  # NAME PASSWORD
  useradd -m -s /bin/sh "$1" || e2e_fatal "useradd $1 failed"
  e2e_on_exit "userdel -r -f '$1'"
  printf '%s:%s\n' "$1" "$2" | chpasswd || e2e_fatal "chpasswd failed"
}

# Writes /etc/pam.d/NAME from stdin; removed on exit.
e2e_pam_service() {  # NAME
  [ ! -e "/etc/pam.d/$1" ] || e2e_fatal "/etc/pam.d/$1 exists"
  e2e_on_exit "rm -f '/etc/pam.d/$1'"
  cat >"/etc/pam.d/$1"
}

# Writes a defender.toml for the test into $E2E_TMP/defender.toml, with the
# store in $E2E_TMP. Extra TOML lines for [lockout] come from the arguments.
e2e_config() {
  {
    echo '[lockout]'
    echo 'failure_limit = 3'
    echo 'cooloff_time = 600'
    printf '%s\n' "$@"
    echo
    echo '[store]'
    echo "dir = \"$E2E_TMP/state\""
  } >"$E2E_TMP/defender.toml"
  E2E_CONF=$E2E_TMP/defender.toml
  E2E_DB=$E2E_TMP/state/attempts.db
}

# Runs SQL against the test store (its record files as the tables subjects
# and blocks, and the attempt log) and prints the rows ("|"-separated).
e2e_sql() { "$(dirname "${BASH_SOURCE[0]}")/store_sql.py" "$E2E_TMP/state" "$1"; }

# Runs SQL on the attempt archive beside $E2E_DB after `defenderctl
# attempts` has moved the module's journal into it.
e2e_attempts_sql() {
  "$DEFENDERCTL" --config "$E2E_CONF" attempts >/dev/null &&
    sqlite3 -batch "$(dirname "$E2E_DB")/attempts.db" "$1"
}

# "failures|blocked" of a live subject, or "absent".
e2e_subject() {  # KIND NAME
  local row
  row=$(e2e_sql "SELECT failures || '|' || blocked FROM subjects WHERE
                 kind = '$1' AND subject = '$2' AND
                 (expires = 0 OR expires > strftime('%s', 'now'));")
  echo "${row:-absent}"
}

# True when $DEFENDERCTL is the real CLI (not the placeholder that only
# prints "not implemented").
e2e_have_defenderctl() {
  [ -n "${DEFENDERCTL:-}" ] && [ -x "$DEFENDERCTL" ] &&
    "$DEFENDERCTL" --version >/dev/null 2>&1
}

# Writes to stdout the auth lines that the real pam-auth-update generates
# for /etc/pam.d/common-auth with Debian's unix profile and the three
# pam_defender profiles of this tree enabled. It runs on a private root
# (--root) with a private debconf database, so the system's PAM files and
# debconf answers are not touched.
e2e_pam_auth_update_auth() {
  local root=$E2E_TMP/pam-auth-update
  mkdir -p "$root/etc/pam.d" "$root/var/lib/pam" "$root/usr/share/pam-configs"
  cp /usr/share/pam-configs/unix "$DEFENDER_SOURCE_ROOT"/etc/pam-configs/* \
    "$root/usr/share/pam-configs/" || return 1
  cp /usr/share/pam/common-auth "$root/etc/pam.d/" || return 1
  DEBIAN_FRONTEND=noninteractive DEBCONF_DB_REPLACE="File{$root/debconf.dat}" \
    pam-auth-update --root "$root" --force --enable unix pam_defender \
    pam_defender_authfail pam_defender_authsucc \
    >"$root/log" 2>&1 </dev/null || { cat "$root/log" >&2; return 1; }
  grep -E '^auth[[:space:]]' "$root/etc/pam.d/common-auth"
}
