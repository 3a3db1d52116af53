#!/bin/bash
# End-to-end test with the real sudo.
#
# sudo (1.9.13 in Debian 12) calls pam_authenticate with PAM_SILENT, so
# the module's lockout message is not shown there; the test checks what
# sudo itself reports.
#
# sudo's PAM service is chosen per user with the sudoers option
# `pam_service`, so the test never touches /etc/pam.d/sudo: a temporary
# /etc/sudoers.d entry gives a throwaway user a rule and its own PAM service,
# /etc/pam.d/<unique name>. That service's auth lines are what the real
# pam-auth-update writes into common-auth with the three pam_defender
# profiles enabled (etc/pam-configs), pointed at the built module and a
# config in a temporary directory.
#
# Usage: sudo_test.sh SCENARIO, one of
#   profiles   pam-auth-update writes the expected stack from the profiles
#   count      failures are counted for the user, with no host subject
#   blocked    the failure above the limit blocks the user; the correct
#              password is then refused and not counted
set -uo pipefail
. "$(dirname "$0")/lib.sh"
scenario=${1:?scenario}
E2E_NAME="sudo-$scenario"

e2e_init sudo runuser sqlite3 pam-auth-update visudo

auth=$(e2e_pam_auth_update_auth) || e2e_fatal "pam-auth-update failed"

if [ "$scenario" = profiles ]; then
  normalized=$(sed -E 's/[[:space:]]+/ /g' <<<"$auth")
  e2e_equal "common-auth written by pam-auth-update" \
"auth requisite pam_dfndr.so preauth
auth [success=2 default=ignore] pam_unix.so nullok try_first_pass
auth [default=die] pam_dfndr.so authfail
auth requisite pam_deny.so
auth required pam_permit.so
auth required pam_dfndr.so authsucc" "$normalized"
  e2e_finish
fi

service=$(e2e_unique pdsudo)
user=$(e2e_unique pdu)
password="Corr3ct-$RANDOM-staple"
e2e_config
e2e_add_user "$user" "$password"

# The profiles name the module pam_dfndr.so (see pam_defender(8)); here it
# is the built module, with the test config. pam_unix's failure delay is
# turned off to keep the test fast.
stack=$(sed -E -e "s|pam_dfndr\.so ([a-z]+)|$DEFENDER_MODULE \1 conf=$E2E_CONF|" \
               -e 's|pam_unix\.so|pam_unix.so nodelay|' <<<"$auth")
e2e_pam_service "$service" <<PAM
# pam_defender e2e test ($service), removed when the test ends.
$stack
account  required  pam_unix.so
session  required  pam_permit.so
PAM

sudoers=/etc/sudoers.d/$service
e2e_on_exit "rm -f '$sudoers'"
cat >"$sudoers.tmp" <<SUDOERS
Defaults:$user pam_service=$service, passwd_tries=1, timestamp_timeout=0, lecture=never
$user ALL=(root) /usr/bin/true
SUDOERS
visudo -cqf "$sudoers.tmp" || { rm -f "$sudoers.tmp"; e2e_fatal "bad sudoers"; }
chmod 0440 "$sudoers.tmp" && mv "$sudoers.tmp" "$sudoers"

# Runs `sudo /usr/bin/true` as the test user, the password on stdin; prints
# what sudo said, returns sudo's status.
run_sudo() {  # PASSWORD
  printf '%s\n' "$1" | timeout 30 runuser -u "$user" -- \
    sudo -S -k -p 'password:' /usr/bin/true 2>&1
}
sudo_ok() { run_sudo "$1" >/dev/null; }
sudo_refused() { ! run_sudo "$1" >/dev/null; }

no_hosts() {
  e2e_equal "no host subject for a local login" "0" \
    "$(e2e_sql "SELECT count(*) FROM subjects WHERE kind = 'host'")"
  e2e_equal "no host in the attempt log" "0" \
    "$(e2e_attempts_sql "SELECT count(*) FROM attempts WHERE host != ''")"
}

case $scenario in
  count)
    e2e_check "correct password accepted" sudo_ok "$password"
    e2e_check "wrong password 1 refused" sudo_refused "wrong-1"
    e2e_equal "user counter after 1 failure" "1|0" "$(e2e_subject user "$user")"
    e2e_check "wrong password 2 refused" sudo_refused "wrong-2"
    e2e_equal "user counter after 2 failures" "2|0" "$(e2e_subject user "$user")"
    e2e_check "correct password accepted" sudo_ok "$password"
    e2e_equal "success resets the counter" "absent" \
      "$(e2e_subject user "$user")"
    e2e_equal "attempt log" \
      "$service $user success;$service $user failure;$service $user failure;$service $user success;" \
      "$(e2e_attempts_sql "SELECT service, user, result FROM attempts ORDER BY id" |
         tr '|\n' ' ;')"
    no_hosts
    ;;
  blocked)
    for i in 1 2 3; do
      e2e_check "wrong password $i refused" sudo_refused "wrong-$i"
    done
    e2e_equal "user counter after 3 failures" "3|0" "$(e2e_subject user "$user")"
    e2e_check "wrong password 4 refused" sudo_refused "wrong-4"
    e2e_equal "user blocked by the 4th failure" "4|1" \
      "$(e2e_subject user "$user")"
    out=$(run_sudo "$password")
    e2e_check "correct password refused while blocked" test $? -ne 0
    e2e_check "sudo reports a failed attempt" \
      grep -q "sudo: 1 incorrect password attempt" <<<"$out"
    e2e_equal "refused attempt not counted" "4|1" "$(e2e_subject user "$user")"
    e2e_equal "last attempt logged as refused" "refused" \
      "$(e2e_attempts_sql "SELECT result FROM attempts ORDER BY id DESC LIMIT 1")"
    no_hosts
    ;;
  *)
    e2e_fatal "unknown scenario $scenario"
    ;;
esac
e2e_finish
