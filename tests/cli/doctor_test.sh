#!/bin/bash
# defenderctl doctor on crafted trees under a temporary root (--root): a
# good tree (Debian's PAM files with pam_defender's lines, as shipped in
# etc/pam.d) passes with exit 0; each problem gives exit 1 and its key in
# --json; notes leave the exit status at 0. Also doctor --removal (the
# package's prerm check). Needs only $DEFENDERCTL and python3.
set -euo pipefail
ctl=${DEFENDERCTL:?}
src=${DEFENDER_SOURCE_ROOT:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAILED: $*"; failures=$((failures + 1)); }

good=$tmp/good
mkdir -p "$good/etc/pam.d" "$good/etc/ssh/sshd_config.d" \
  "$good/etc/security" "$good/lib/x86_64-linux-gnu/security" \
  "$good/etc/systemd/system/timers.target.wants" "$good/var/lib/pam_defender"
cp "$src/etc/pam.d/sshd" "$src/etc/pam.d/sudo" "$good/etc/pam.d/"
cp "$src/tests/e2e/debian/common-account" "$good/etc/pam.d/"
# common-auth as pam-auth-update writes it with the three profiles enabled.
cat >"$good/etc/pam.d/common-auth" <<'PAM'
# here are the per-package modules (the "Primary" block)
auth	requisite			pam_dfndr.so preauth
auth	[success=2 default=ignore]	pam_unix.so nullok
auth	[default=die]			pam_dfndr.so authfail
# here's the fallback if no module succeeds
auth	requisite			pam_deny.so
auth	required			pam_permit.so
# and here are more per-package modules (the "Additional" block)
auth	required			pam_dfndr.so authsucc
# end of pam-auth-update config
PAM
touch "$good/lib/x86_64-linux-gnu/security/pam_defender.so"
ln -s pam_defender.so "$good/lib/x86_64-linux-gnu/security/pam_dfndr.so"
printf 'Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication yes\nUsePAM yes\n' \
  >"$good/etc/ssh/sshd_config"
printf '[lockout]\nallow_hosts = ["10.0.0.0/8"]\n' >"$good/etc/security/defender.toml"
chmod 0700 "$good/var/lib/pam_defender"
touch "$good/etc/systemd/system/timers.target.wants/defender-cleanup.timer"
export SSH_CONNECTION="10.1.2.3 50000 10.0.0.1 22"

# doctor ROOT [ARGS...]: prints "STATUS KEY..." (the keys of --json, sorted).
doctor() {
  local root=$1 status=0 out
  shift
  out=$("$ctl" --json doctor --root "$root" "$@") || status=$?
  printf '%s %s\n' "$status" "$(python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["ok"] == all(f["severity"] != "problem" for f in d["findings"])
print(" ".join(sorted(f["key"] for f in d["findings"])))' <<<"$out")"
}

# expect NAME EXPECTED-STATUS-AND-KEYS SETUP: runs SETUP in a copy of the
# good tree ($t), then doctor.
expect() {
  local name=$1 want=$2 got
  t=$tmp/$name
  cp -a "$good" "$t"
  (cd "$t" && eval "$3")
  got=$(doctor "$t")
  [ "$got" = "$want" ] || fail "$name: expected '$want', got '$got'"
}

got=$(doctor "$good")
[ "$got" = "0 " ] || fail "good tree: expected '0 ', got '$got'"

hand_stack() {  # CONTROL-PREAUTH CONTROL-PASSWORD CONTROL-AUTHFAIL CONTROL-AUTHSUCC
  cat <<PAM
auth     $1  pam_defender.so preauth
auth     $2  pam_unix.so
auth     $3  pam_defender.so authfail
auth     $4  pam_defender.so authsucc
auth     required  pam_deny.so
account  required  pam_defender.so enforce
@include common-account
PAM
}
ok_stack='requisite "[success=1 default=bad]" "[default=die]" sufficient'

expect hand-stack-good "0 " "hand_stack $ok_stack >etc/pam.d/login"
# A stack of its own configuration (conf=): missing, or not loading, it
# leaves that stack unprotected; a good one is fine.
expect conf-missing "1 pam.conf_invalid" \
  "hand_stack $ok_stack | sed 's|pam_defender.so \\([a-z]*\\)$|& conf=/etc/security/login.toml|' >etc/pam.d/login"
expect conf-invalid "1 pam.conf_invalid" \
  "hand_stack $ok_stack | sed 's|pam_defender.so \\([a-z]*\\)$|& conf=/etc/security/login.toml|' >etc/pam.d/login &&
   printf '[lockout]\\nfailure_limt = 4\\n' >etc/security/login.toml"
expect conf-good "0 " \
  "hand_stack $ok_stack | sed 's|pam_defender.so \\([a-z]*\\)$|& conf=/etc/security/login.toml|' >etc/pam.d/login &&
   printf '[lockout]\\nfailure_limit = 4\\n' >etc/security/login.toml && chmod 0600 etc/security/login.toml"
# A configuration another user can change (the file, or a directory on its
# path; a sticky one like /tmp is fine), the main one or a stack's own.
expect config-writable "1 config.writable" "chmod 0666 etc/security/defender.toml"
expect config-not-root "1 config.writable" "chown nobody etc/security/defender.toml"
expect config-dir-writable "1 config.writable" "chmod 0777 etc/security"
expect config-dir-sticky "0 " "chmod 1777 etc/security"
expect conf-writable "1 config.writable" \
  "hand_stack $ok_stack | sed 's|pam_defender.so \\([a-z]*\\)$|& conf=/etc/security/login.toml|' >etc/pam.d/login &&
   printf '[lockout]\\nfailure_limit = 4\\n' >etc/security/login.toml && chmod 0622 etc/security/login.toml"
out=$("$ctl" doctor --root "$tmp/config-dir-writable" || true)
grep -qx 'PROBLEM config.writable (/etc/security/defender.toml): the directory /etc/security can be changed by a user other than root (owner uid 0, mode 0777): that user can replace the configuration file' <<<"$out" ||
  fail "config-dir-writable: $out"
out=$("$ctl" doctor --root "$tmp/config-writable" || true)
grep -qx 'PROBLEM config.writable (/etc/security/defender.toml): the configuration file can be changed by a user other than root (owner uid 0, mode 0666): that user can raise the limits, allow-list any address or turn refusals off' <<<"$out" ||
  fail "config-writable: $out"
# Report mode set for one stack: by its own configuration, or by a module
# argument (a note each, like the main configuration's report mode).
expect conf-report "0 config.report_mode" \
  "hand_stack $ok_stack | sed 's|pam_defender.so \\([a-z]*\\)$|& conf=/etc/security/login.toml|' >etc/pam.d/login &&
   printf '[lockout]\\nmode = \"report\"\\n' >etc/security/login.toml && chmod 0600 etc/security/login.toml"
expect arg-report "0 pam.report_mode" \
  "hand_stack $ok_stack | sed 's|pam_defender.so preauth$|& mode=report|' >etc/pam.d/login"
expect arg-report-key "0 pam.report_mode" \
  "hand_stack $ok_stack | sed 's|pam_defender.so preauth$|& lockout.mode=report|' >etc/pam.d/login"
expect arg-invalid "1 pam.argument_invalid" \
  "hand_stack $ok_stack | sed 's|pam_defender.so authfail$|& failure_limit=many|' >etc/pam.d/login"
# The firewall follows the configuration file, not a stack's arguments: a
# stack in report mode (or by_user_and_host) would have its hosts dropped.
expect firewall-mismatch "1 pam.firewall_mismatch pam.report_mode" \
  "hand_stack $ok_stack | sed 's|pam_defender.so preauth$|& mode=report|' >etc/pam.d/login &&
   printf '[firewall]\\nenabled = true\\n' >>etc/security/defender.toml"
expect firewall-by-pair "1 pam.firewall_mismatch" \
  "hand_stack $ok_stack | sed 's|pam_defender.so preauth$|& by_user_and_host=true|' >etc/pam.d/login &&
   printf '[firewall]\\nenabled = true\\n' >>etc/security/defender.toml"
# Only a stack's preauth line (its first refusal) is judged for the
# firewall; an account line without enforce reads no configuration; report
# mode on every line of a stack is one note; arguments are checked even
# when the configuration file does not load.
expect firewall-authfail-only "0 " \
  "hand_stack $ok_stack | sed 's|pam_defender.so authfail$|& disable_host_lockout=true|' >etc/pam.d/login &&
   printf '[firewall]\\nenabled = true\\n' >>etc/security/defender.toml"
expect account-without-enforce "0 " \
  "hand_stack $ok_stack | sed 's|pam_defender.so enforce$|pam_defender.so mode=report failure_limit=many|' >etc/pam.d/login &&
   printf '[firewall]\\nenabled = true\\n' >>etc/security/defender.toml"
expect report-every-line "0 pam.report_mode" \
  "hand_stack $ok_stack | sed 's|pam_defender.so \\([a-z]*\\)$|& mode=report|' >etc/pam.d/login"
expect args-with-invalid-config "1 config.invalid pam.report_mode" \
  "hand_stack $ok_stack | sed 's|pam_defender.so preauth$|& mode=report|' >etc/pam.d/login &&
   echo 'failure_limt = 4' >>etc/security/defender.toml"
expect firewall-same "0 " \
  "hand_stack $ok_stack | sed 's|pam_defender.so preauth$|& failure_limit=3|' >etc/pam.d/login &&
   printf '[firewall]\\nenabled = true\\n' >>etc/security/defender.toml"
expect module-missing "1 pam.module_missing pam.module_missing pam.module_missing pam.module_missing" \
  "rm lib/x86_64-linux-gnu/security/pam_defender.so"
expect enforce-order "1 pam.enforce_order" \
  "sed -i '/pam_defender.so enforce/d' etc/pam.d/sshd &&
   echo 'account required pam_defender.so enforce' >>etc/pam.d/sshd"
expect enforce-missing "1 pam.enforce_missing" \
  "sed -i '/pam_defender.so enforce/d' etc/pam.d/sshd"
expect auth-missing "1 pam.auth_missing" \
  "cp '$src/tests/e2e/debian/common-auth' etc/pam.d/common-auth"
expect preauth-control "1 pam.preauth_control" \
  "hand_stack optional '[success=1 default=bad]' '[default=die]' sufficient >etc/pam.d/login"
expect authfail-control "1 pam.authfail_control" \
  "hand_stack requisite '[success=1 default=bad]' required sufficient >etc/pam.d/login"
expect password-control "1 pam.password_control" \
  "hand_stack requisite '[success=2 default=bad]' '[default=die]' sufficient >etc/pam.d/login"
expect authsucc-control "1 pam.authsucc_control" \
  "hand_stack requisite '[success=1 default=bad]' '[default=die]' required >etc/pam.d/login"
expect preauth-missing "1 pam.preauth_missing" \
  "hand_stack $ok_stack | sed '/preauth/d' >etc/pam.d/login"
expect authfail-missing "1 pam.authfail_missing" \
  "hand_stack $ok_stack | sed '/authfail/d' >etc/pam.d/login"
expect authfail-order "1 pam.authfail_order" \
  "hand_stack $ok_stack | sed '/pam_unix/d' >etc/pam.d/login"
expect authsucc-order "1 pam.authsucc_order" \
  "hand_stack $ok_stack | sed '/authsucc/d' >etc/pam.d/login"
expect preauth-order "1 pam.preauth_order" \
  "hand_stack $ok_stack | sed '1d' >etc/pam.d/login &&
   echo 'auth requisite pam_defender.so preauth' >>etc/pam.d/login"
expect sshd-use-pam "1 sshd.use_pam" \
  "echo 'UsePAM no' >etc/ssh/sshd_config.d/10-local.conf"
expect sshd-use-pam-default "1 sshd.use_pam" \
  "sed -i '/UsePAM/d' etc/ssh/sshd_config"
expect sshd-kbd-note "0 sshd.kbd_interactive" \
  "sed -i 's/KbdInteractiveAuthentication yes/KbdInteractiveAuthentication no/' etc/ssh/sshd_config"
expect sshd-no-passwords "0 sshd.kbd_interactive sshd.password_auth" \
  "printf 'KbdInteractiveAuthentication no\nPasswordAuthentication no\n' >etc/ssh/sshd_config.d/no.conf"
expect config-invalid "1 config.invalid" \
  "echo 'failure_limt = 4' >>etc/security/defender.toml"
expect report-mode "0 config.report_mode" \
  "sed -i 's/^\\[lockout\\]$/[lockout]\\nmode = \"report\"/' etc/security/defender.toml"
expect store-owner "1 store.owner" "chown 1 var/lib/pam_defender"
expect store-mode "1 store.mode" "chmod 0755 var/lib/pam_defender"
expect store-missing "0 store.missing" "rmdir var/lib/pam_defender"
expect store-key "1 store.key" \
  "mkdir -m 0700 var/lib/pam_defender/subjects &&
   : >var/lib/pam_defender/subjects/.key"
expect store-key-good "0 " \
  "mkdir -m 0700 var/lib/pam_defender/subjects &&
   head -c 16 /dev/urandom >var/lib/pam_defender/subjects/.key"
# pam-auth-update's checklist with one or two profiles left out.
expect profiles-no-authfail "1 pam.profiles_partial" \
  "sed -i '/pam_dfndr.so authfail/d' etc/pam.d/common-auth"
expect profiles-authsucc-only "1 pam.profiles_partial" \
  "sed -i '/pam_dfndr.so preauth/d; /pam_dfndr.so authfail/d' etc/pam.d/common-auth"
expect profiles-none "1 pam.auth_missing" \
  "sed -i '/pam_dfndr.so/d' etc/pam.d/common-auth"
expect cleanup-none "1 cleanup.none" \
  "rm etc/systemd/system/timers.target.wants/defender-cleanup.timer"
expect cleanup-cron "0 " \
  "rm etc/systemd/system/timers.target.wants/defender-cleanup.timer &&
   mkdir -p etc/cron.daily && touch etc/cron.daily/pam-defender"
# Under systemd the package's cron file does nothing: the timer disabled
# leaves no cleanup.
expect cleanup-cron-systemd "1 cleanup.none" \
  "rm etc/systemd/system/timers.target.wants/defender-cleanup.timer &&
   mkdir -p etc/cron.daily run/systemd/system &&
   touch etc/cron.daily/pam-defender"
SSH_CONNECTION="192.0.2.5 50000 10.0.0.1 22" expect admin-not-allowed \
  "1 config.admin_not_allowed" ":"
SSH_CONNECTION="::ffff:10.9.9.9 50000 10.0.0.1 22" expect admin-mapped "0 " ":"
# "sudo defenderctl doctor": sudo's env_reset drops SSH_CONNECTION, which
# sudo's own process (started in the session) still has. The real sudo.
got=$(SSH_CONNECTION="192.0.2.5 50000 10.0.0.1 22" \
  sudo "$ctl" --json doctor --root "$good"; echo "status $?")
got=$(python3 -c '
import json, sys
text = sys.stdin.read()
body, status = text.rsplit("status ", 1)
print(status.strip(), " ".join(sorted(f["key"] for f in json.loads(body)["findings"])))' <<<"$got")
[ "$got" = "1 config.admin_not_allowed" ] ||
  fail "SSH_CONNECTION under sudo: expected '1 config.admin_not_allowed', got '$got'"
# Not under sudo, a parent's SSH_CONNECTION is not looked for: a shell
# without it (the console) is not an ssh session.
got=$(SSH_CONNECTION="192.0.2.5 50000 10.0.0.1 22" bash -c \
  'env -u SSH_CONNECTION -u SUDO_USER "$1" doctor --root "$2" >/dev/null; echo "status $?"' \
  _ "$ctl" "$good")
[ "$got" = "status 0" ] ||
  fail "SSH_CONNECTION of a parent outside sudo: expected 'status 0', got '$got'"

# The text output names the fix.
out=$("$ctl" doctor --root "$tmp/enforce-missing" || true)
grep -q '^PROBLEM pam.enforce_missing (/etc/pam.d/sshd): ' <<<"$out" ||
  fail "text output: $out"
grep -q '^  fix: add "account required pam_defender.so enforce" before' <<<"$out" ||
  fail "text output fix: $out"

# A file name with an escape sequence (a tree someone else wrote, under
# --root) is shown escaped.
hostile=$tmp/hostile-name
cp -a "$good" "$hostile"
printf 'auth requisite pam_defender.so authfail\n' \
  >"$hostile/etc/pam.d/x"$'\e]0;PWNED\a'
out=$("$ctl" doctor --root "$hostile" || true)
grep -q '^PROBLEM pam.*(/etc/pam.d/x%1B\]0;PWNED%07' <<<"$out" ||
  fail "escaped file name: $out"
! grep -q $'\e' <<<"$out" || fail "raw escape in the doctor's output"

# --removal: the good tree names pam_defender.so by hand in sshd (the
# enforce line); common-auth's alias lines are pam-auth-update's.
line=$(grep -n 'pam_defender.so enforce' "$good/etc/pam.d/sshd" | cut -d: -f1)
status=0
out=$("$ctl" doctor --removal --root "$good") || status=$?
[ $status = 1 ] || fail "removal: status $status"
grep -qx "PROBLEM removal.reference (/etc/pam.d/sshd:$line): \"account    required     pam_defender.so enforce\" names the module that removing the package deletes: every login through this service would then fail" <<<"$out" ||
  fail "removal: $out"
[ "$(grep -c '^PROBLEM' <<<"$out")" = 1 ] || fail "removal: more than one line: $out"
sed -i '/pam_defender.so enforce/d' "$good/etc/pam.d/sshd"
"$ctl" doctor --removal --root "$good" >/dev/null || fail "removal after the edit"
echo 'auth required pam_dfndr.so preauth' >>"$good/etc/pam.d/sudo"
status=0
"$ctl" doctor --removal --root "$good" >/dev/null || status=$?
[ $status = 1 ] || fail "removal: the alias outside common-* is reported"
sed -i '/pam_dfndr.so preauth/d' "$good/etc/pam.d/sudo"

# Lines as libpam assembles them: a "#" ends a line (the backslash after it
# continues nothing), a comment line inside a continued line is skipped,
# and a "-" before the type still names the module.
cat >>"$good/etc/pam.d/sshd" <<'PAM'
account required pam_permit.so # see ticket 42 \
account required \
# a comment inside the line
    pam_defender.so enforce
-account required pam_defender.so enforce
PAM
n=$(wc -l <"$good/etc/pam.d/sshd")
status=0
out=$("$ctl" doctor --removal --root "$good") || status=$?
[ $status = 1 ] || fail "removal of assembled lines: status $status"
[ "$(grep '^PROBLEM' <<<"$out" | cut -d'"' -f1-2)" = "PROBLEM removal.reference (/etc/pam.d/sshd:$((n - 3))): \"account required      pam_defender.so enforce
PROBLEM removal.reference (/etc/pam.d/sshd:$n): \"-account required pam_defender.so enforce" ] ||
  fail "removal of assembled lines: $out"

# The package's prerm (its own reading, lines_naming_the_module) and
# doctor --removal on the same files. libpam reads a line in pieces of at
# most 1023 bytes and stops at a NUL byte: in a file with such a line or
# byte, every line that names the module counts, comments included.
pt=$tmp/pieces
mkdir -p "$pt/etc/pam.d"
printf 'account required pam_permit.so # pam_defender.so, a comment\n' >"$pt/etc/pam.d/a"
printf -- '-account required pam_dfndr.so enforce\n' >"$pt/etc/pam.d/b"
printf 'auth required \\\n# a comment\n   pam_defender.so preauth\n' >"$pt/etc/pam.d/c"
{
  printf '#%01022d' 0
  printf 'account required pam_dfndr.so\n# pam_defender.so, a comment\n'
} >"$pt/etc/pam.d/d"
printf 'account required \\\000 # x\n pam_dfndr.so\n' >"$pt/etc/pam.d/e"
sed -n '/^pam_dirs=/,/^}/p' "$src/packaging/debian/prerm" >"$tmp/prerm_lines.sh"
grep -q '^lines_naming_the_module()' "$tmp/prerm_lines.sh" || fail "prerm function not found"
got=$(. "$tmp/prerm_lines.sh" && pam_dirs=$pt/etc/pam.d && lines_naming_the_module |
  sed "s|^$pt||; s|#0*account|#0...account|")
want="/etc/pam.d/b:1: -account required pam_dfndr.so enforce
/etc/pam.d/c:1: auth required pam_defender.so preauth
/etc/pam.d/d:1: #0...account required pam_dfndr.so
/etc/pam.d/d:2: # pam_defender.so, a comment
/etc/pam.d/e:2: pam_dfndr.so"
[ "$got" = "$want" ] || fail "prerm lines: $got"
status=0
out=$("$ctl" doctor --removal --root "$pt") || status=$?
[ $status = 1 ] || fail "removal in pieces: status $status"
got=$(grep '^PROBLEM' <<<"$out" | sed 's/^PROBLEM removal.reference (\([^)]*\)): .*/\1/')
want='/etc/pam.d/b:1
/etc/pam.d/c:1
/etc/pam.d/d:1
/etc/pam.d/d:2
/etc/pam.d/e:2'
[ "$got" = "$want" ] || fail "removal in pieces: $got"
grep -qF '(/etc/pam.d/c:1): "auth required     pam_defender.so preauth" names' <<<"$out" ||
  fail "removal in pieces, c: $out"

[ $failures = 0 ] || exit 1
echo "doctor OK"
