#!/bin/bash
# End-to-end test with the real OpenSSH server and client.
#
# Starts a private sshd (own config, host key, pid file, log) on a free
# loopback port. Debian's sshd names its PAM service after its program name,
# so it runs through a symlink with a unique name and /etc/pam.d/<that name>
# stacks the built module (conf= a config in a temporary directory, the
# store there too). A throwaway user logs in with the real ssh client, the
# password typed by sshpass.
#
# Usage: sshd_test.sh SCENARIO, one of
#   password   the correct password logs in; the success is in the log
#   lockout    3 wrong passwords are counted, the 4th blocks the user and
#              127.0.0.1, then the correct password is refused and not counted
#   list       `defenderctl list` shows the blocked user and 127.0.0.1
#   unblock    `defenderctl unblock` lets the user back in
#   enforce    with `enforce` in the account stack, a public key login from
#              a blocked host is refused; a key-only user's key login
#              remembers its host, from which an attacker's block of her
#              account does not refuse her
#   message    with keyboard-interactive authentication (the PAM conversation
#              reaches the client), a blocked user sees the lockout message
#   remember   (issue 12) the owner logs in from 127.0.0.1 (remembered); an
#              attacker at 127.0.0.2 blocks the account; the owner still logs
#              in from 127.0.0.1 and is refused from 127.0.0.3
#   oracle     (issue 10, finding 2) 8 keyboard-interactive logins held at
#              the password prompt; 4 wrong answers block the user, then the
#              right and wrong answers of the other 4 conclude identically
set -uo pipefail
. "$(dirname "$0")/lib.sh"
scenario=${1:?scenario}
E2E_NAME="sshd-$scenario"

e2e_init /usr/sbin/sshd ssh sshpass ssh-keygen sqlite3 python3
if [[ $scenario == list || $scenario == unblock ]] && ! e2e_have_defenderctl; then
  e2e_skip "defenderctl is not implemented in this build"
fi

service=$(e2e_unique pdssh)
user=$(e2e_unique pdu)
password="Corr3ct-$RANDOM-horse"
e2e_config
e2e_add_user "$user" "$password"

mod=$DEFENDER_MODULE
e2e_pam_service "$service" <<PAM
# pam_defender e2e test ($service), removed when the test ends.
auth     required                 $mod preauth conf=$E2E_CONF
auth     [success=1 default=bad]  pam_unix.so nodelay
auth     [default=die]            $mod authfail conf=$E2E_CONF
auth     sufficient               $mod authsucc conf=$E2E_CONF
auth     required                 pam_deny.so
account  required                 $mod enforce conf=$E2E_CONF
account  required                 pam_unix.so
session  required                 pam_permit.so
password required                 pam_deny.so
PAM

# sshd refuses to start without its privilege separation directory, which
# systemd creates at boot (tmpfiles) and a container may not have.
[ -d /run/sshd ] || install -d -m 0755 /run/sshd

ssh-keygen -q -t ed25519 -N '' -C '' -f "$E2E_TMP/host_key" ||
  e2e_fatal "ssh-keygen failed"
mkdir -p "$E2E_TMP/keys"
ln -s /usr/sbin/sshd "$E2E_TMP/$service"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_sshd() {
  local try
  for try in 1 2 3; do
    port=$(free_port)
    cat >"$E2E_TMP/sshd_config" <<CONF
ListenAddress 127.0.0.1
HostKey $E2E_TMP/host_key
PidFile $E2E_TMP/sshd.pid
UsePAM yes
PasswordAuthentication $password_auth
KbdInteractiveAuthentication $kbdint_auth
PubkeyAuthentication yes
AuthorizedKeysFile $E2E_TMP/keys/%u
StrictModes no
PermitRootLogin no
UseDNS no
MaxAuthTries 3
LoginGraceTime 30
PrintMotd no
LogLevel VERBOSE
CONF
    : >"$E2E_TMP/sshd.log"
    "$E2E_TMP/$service" -D -f "$E2E_TMP/sshd_config" -p "$port" \
      -h "$E2E_TMP/host_key" -E "$E2E_TMP/sshd.log" &
    sshd_pid=$!
    e2e_on_exit "kill $sshd_pid; wait $sshd_pid"
    local i
    for ((i = 0; i < 100; i++)); do
      grep -q "Server listening on 127.0.0.1 port $port" "$E2E_TMP/sshd.log" &&
        return 0
      kill -0 "$sshd_pid" 2>/dev/null || break
      sleep 0.1
    done
    e2e_log "sshd did not start on port $port (try $try):"
    cat "$E2E_TMP/sshd.log" >&2
    kill "$sshd_pid" 2>/dev/null; wait "$sshd_pid" 2>/dev/null
  done
  e2e_fatal "cannot start sshd"
}
# Debian's default sshd_config authenticates passwords with
# PasswordAuthentication through PAM; keyboard-interactive also carries the
# module's messages to the client.
if [ "$scenario" = message ] || [ "$scenario" = oracle ]; then
  password_auth=no kbdint_auth=yes
else
  password_auth=yes kbdint_auth=no
fi
start_sshd
E2E_LOG_FILES+=("$E2E_TMP/sshd.log")

ssh_common=(-p "$port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
            -o ConnectTimeout=10 -o ServerAliveInterval=5)
marker="logged-in-$RANDOM"

# Password login from the loopback address $from (the client's source
# address, PAM_RHOST); prints the remote output, returns ssh's status.
from=127.0.0.1
ssh_password() {  # USER PASSWORD
  SSHPASS=$2 timeout 30 sshpass -e ssh "${ssh_common[@]}" -o LogLevel=ERROR \
    -o BindAddress="$from" \
    -o PreferredAuthentications=password,keyboard-interactive \
    -o PubkeyAuthentication=no -o NumberOfPasswordPrompts=1 \
    "$1@127.0.0.1" "echo $marker" 2>&1
}

# Public key login with $E2E_TMP/user_key from $from; prints the remote
# output.
ssh_key() {  # USER
  timeout 30 ssh "${ssh_common[@]}" -o LogLevel=ERROR -o BatchMode=yes \
    -o BindAddress="$from" \
    -o PreferredAuthentications=publickey -o IdentitiesOnly=yes \
    -i "$E2E_TMP/user_key" "$1@127.0.0.1" "echo $marker" 2>&1
}

logs_in() { [[ $("$@") == *"$marker"* ]]; }
refused() { ! logs_in "$@"; }

# Four wrong passwords for $1: the first three are counted, the fourth
# takes the user and the host above the limit of 3.
fail_four_times() {  # USER
  local i
  for i in 1 2 3; do
    e2e_check "wrong password $i refused" refused ssh_password "$1" "wrong-$i"
  done
  e2e_equal "user counter after 3 failures" "3|0" "$(e2e_subject user "$1")"
  e2e_equal "host counter after 3 failures" "3|0" "$(e2e_subject host 127.0.0.1)"
  e2e_check "wrong password 4 refused" refused ssh_password "$1" "wrong-4"
  e2e_equal "user blocked by the 4th failure" "4|1" "$(e2e_subject user "$1")"
  e2e_equal "host blocked by the 4th failure" "4|1" \
    "$(e2e_subject host 127.0.0.1)"
}

case $scenario in
  password)
    e2e_check "correct password logs in" logs_in ssh_password "$user" "$password"
    e2e_equal "attempt log" "$service|$user|127.0.0.1|success" \
      "$(e2e_attempts_sql "SELECT service, user, host, result FROM attempts")"
    e2e_equal "no counters after a success" "" \
      "$(e2e_sql "SELECT kind FROM subjects")"
    ;;
  lockout)
    fail_four_times "$user"
    e2e_check "correct password refused while blocked" \
      refused ssh_password "$user" "$password"
    e2e_equal "refused attempt not counted" "4|1" "$(e2e_subject user "$user")"
    e2e_equal "attempt log" "failure failure failure failure refused" \
      "$(e2e_attempts_sql "SELECT result FROM attempts ORDER BY id" | xargs)"
    e2e_check "sshd saw the failures" \
      grep -q "Failed password for $user from 127.0.0.1" "$E2E_TMP/sshd.log"
    ;;
  list)
    fail_four_times "$user"
    json=$("$DEFENDERCTL" --config "$E2E_CONF" --json list)
    e2e_check "defenderctl list exits 0" test $? -eq 0
    e2e_equal "defenderctl --json list" \
      "host 127.0.0.1 4 False;user $user 4 False" \
      "$(python3 -c '
import json, sys
rows = json.load(sys.stdin)
print(";".join(sorted("%s %s %d %s" % (r["kind"], r["subject"], r["failures"],
                                      r["permanent"]) for r in rows)))' \
        <<<"$json")"
    text=$("$DEFENDERCTL" --config "$E2E_CONF" list)
    e2e_check "defenderctl list names the user" grep -qw -- "$user" <<<"$text"
    e2e_check "defenderctl list names 127.0.0.1" grep -qw 127.0.0.1 <<<"$text"
    ;;
  unblock)
    fail_four_times "$user"
    e2e_check "blocked before unblock" refused ssh_password "$user" "$password"
    e2e_check "defenderctl unblock --user" \
      "$DEFENDERCTL" --config "$E2E_CONF" unblock --user "$user"
    e2e_equal "user record cleared" "absent" "$(e2e_subject user "$user")"
    e2e_check "still refused: the host is blocked" \
      refused ssh_password "$user" "$password"
    e2e_check "defenderctl unblock --host" \
      "$DEFENDERCTL" --config "$E2E_CONF" unblock --host 127.0.0.1
    e2e_equal "host record cleared" "absent" "$(e2e_subject host 127.0.0.1)"
    e2e_check "correct password logs in after unblock" \
      logs_in ssh_password "$user" "$password"
    ;;
  enforce)
    keyuser=$(e2e_unique pdk)
    e2e_add_user "$keyuser" "K3y-only-$RANDOM-$RANDOM"
    ssh-keygen -q -t ed25519 -N '' -C '' -f "$E2E_TMP/user_key" ||
      e2e_fatal "ssh-keygen failed"
    cp "$E2E_TMP/user_key.pub" "$E2E_TMP/keys/$keyuser"
    e2e_check "key login works before the block" logs_in ssh_key "$keyuser"
    e2e_equal "the key login remembered 127.0.0.1 for its user" "127.0.0.1" \
      "$(e2e_sql "SELECT host FROM remembered WHERE user = '$keyuser'")"
    fail_four_times "$user"
    e2e_equal "the key user has no record" "absent" \
      "$(e2e_subject user "$keyuser")"
    e2e_check "key login from the blocked host refused" \
      refused ssh_key "$keyuser"
    e2e_check "refused by the PAM account stack" grep -q \
      "Access denied for user $keyuser by PAM account configuration" \
      "$E2E_TMP/sshd.log"
    # A user who only logs in with a key keeps her remembered host: an
    # attacker elsewhere who blocks her account does not lock her out.
    e2e_check "defenderctl unblock --host 127.0.0.1" \
      "$DEFENDERCTL" --config "$E2E_CONF" unblock --host 127.0.0.1
    from=127.0.0.4
    for i in 1 2 3 4; do
      e2e_check "attacker's wrong password $i as the key user refused" \
        refused ssh_password "$keyuser" "wrong-$i"
    done
    e2e_equal "the attacker blocked the key user" "4|1" \
      "$(e2e_subject user "$keyuser")"
    from=127.0.0.1
    e2e_check "the key user still logs in from her remembered host" \
      logs_in ssh_key "$keyuser"
    from=127.0.0.3
    e2e_check "the key user is refused from a new host" \
      refused ssh_key "$keyuser"
    ;;
  message)
    fail_four_times "$user"
    # sshpass consumes the prompt that carries the message, so this login
    # types the password through SSH_ASKPASS, which records every prompt.
    cat >"$E2E_TMP/askpass" <<'ASKPASS'
#!/bin/sh
printf '%s\n' "$1" >>"$E2E_ASKPASS_LOG"
printf '%s\n' "$E2E_ASKPASS_PASSWORD"
ASKPASS
    chmod 0755 "$E2E_TMP/askpass"
    out=$(E2E_ASKPASS_LOG=$E2E_TMP/prompts E2E_ASKPASS_PASSWORD=$password \
      SSH_ASKPASS=$E2E_TMP/askpass SSH_ASKPASS_REQUIRE=force \
      timeout 30 ssh "${ssh_common[@]}" -o LogLevel=ERROR \
      -o PreferredAuthentications=keyboard-interactive \
      -o PubkeyAuthentication=no -o NumberOfPasswordPrompts=1 \
      "$user@127.0.0.1" "echo $marker" 2>&1 </dev/null)
    e2e_check "correct password refused while blocked" \
      test "${out/$marker/}" == "$out"
    e2e_check "the client shows the lockout message" grep -q \
      "Account locked: too many login attempts. Try again in 10 minute(s)." \
      "$E2E_TMP/prompts"
    E2E_LOG_FILES+=("$E2E_TMP/prompts")
    ;;
  oracle)
    # Each client types its password through SSH_ASKPASS, which waits at
    # the prompt until the test writes answer-N: all 8 are past preauth
    # (the prompt comes from pam_unix) before any is answered.
    held=$E2E_TMP/held
    mkdir -p "$held"
    cat >"$E2E_TMP/askpass" <<'ASKPASS'
#!/bin/sh
printf '%s\n' "$1" >>"$E2E_HELD/prompt-$E2E_ID"
i=0
while [ ! -f "$E2E_HELD/answer-$E2E_ID" ] && [ $i -lt 600 ]; do
  sleep 0.05; i=$((i + 1))
done
cat "$E2E_HELD/answer-$E2E_ID"
ASKPASS
    chmod 0755 "$E2E_TMP/askpass"
    for id in 1 2 3 4 5 6 7 8; do
      (
        E2E_HELD=$held E2E_ID=$id SSH_ASKPASS=$E2E_TMP/askpass \
          SSH_ASKPASS_REQUIRE=force timeout 60 ssh "${ssh_common[@]}" \
          -o PreferredAuthentications=keyboard-interactive \
          -o PubkeyAuthentication=no -o NumberOfPasswordPrompts=1 \
          "$user@127.0.0.1" "echo $marker" >"$held/out-$id" 2>&1 </dev/null
        echo $? >"$held/rc-$id"
      ) &
    done
    wait_for() {  # FILE
      local i
      for ((i = 0; i < 600; i++)); do [ -f "$1" ] && return 0; sleep 0.05; done
      return 1
    }
    for id in 1 2 3 4 5 6 7 8; do
      e2e_check "login $id held at the password prompt" \
        wait_for "$held/prompt-$id"
    done
    answer() {  # ID PASSWORD
      printf '%s\n' "$2" >"$held/answer-$1.tmp"
      mv "$held/answer-$1.tmp" "$held/answer-$1"
      wait_for "$held/rc-$1"
    }
    for id in 1 2 3 4; do answer $id "wrong-$id"; done
    e2e_equal "the 4th wrong answer blocked the user" "4|1" \
      "$(e2e_subject user "$user")"
    answer 5 "$password"
    answer 6 wrong-6
    answer 7 "$password"
    answer 8 wrong-8
    for id in 5 6 7 8; do
      e2e_check "held login $id did not log in" \
        eval "! grep -q '$marker' '$held/out-$id'"
    done
    e2e_check "the client shows the lockout message after the answer" grep -qx \
      "Account locked: too many login attempts. Try again in 10 minute(s)." \
      "$held/out-5"
    e2e_equal "right and wrong answers: same exit status" \
      "$(cat "$held/rc-5")" "$(cat "$held/rc-6")"
    e2e_equal "right and wrong answers: same exit status (2)" \
      "$(cat "$held/rc-7")" "$(cat "$held/rc-8")"
    e2e_equal "right and wrong answers: same client output" \
      "$(cat "$held/out-5")" "$(cat "$held/out-6")"
    e2e_equal "right and wrong answers: same client output (2)" \
      "$(cat "$held/out-7")" "$(cat "$held/out-8")"
    e2e_equal "the refused answers were not counted" "4|1" \
      "$(e2e_subject user "$user")"
    e2e_equal "attempt log" \
      "failure failure failure failure refused refused refused refused" \
      "$(e2e_attempts_sql "SELECT result FROM attempts ORDER BY id" | xargs)"
    E2E_LOG_FILES+=("$held/out-5" "$held/out-6")
    ;;
  remember)
    e2e_check "the owner logs in from 127.0.0.1" \
      logs_in ssh_password "$user" "$password"
    e2e_equal "127.0.0.1 is remembered for the owner" "127.0.0.1" \
      "$(e2e_sql "SELECT host FROM remembered WHERE user = '$user'")"
    from=127.0.0.2
    for i in 1 2 3 4; do
      e2e_check "attacker's wrong password $i refused" \
        refused ssh_password "$user" "wrong-$i"
    done
    e2e_equal "the attacker blocked the user" "4|1" "$(e2e_subject user "$user")"
    e2e_equal "and its own host" "4|1" "$(e2e_subject host 127.0.0.2)"
    e2e_check "the attacker's correct guess is refused" \
      refused ssh_password "$user" "$password"
    from=127.0.0.1
    e2e_check "the owner still logs in from her remembered host" \
      logs_in ssh_password "$user" "$password"
    e2e_equal "her user block stays" "4|1" "$(e2e_subject user "$user")"
    from=127.0.0.3
    e2e_check "the owner is refused from a new host" \
      refused ssh_password "$user" "$password"
    e2e_equal "attempt log" \
      "127.0.0.1 success 127.0.0.2 failure 127.0.0.2 failure 127.0.0.2 failure 127.0.0.2 failure 127.0.0.2 refused 127.0.0.1 success 127.0.0.3 refused" \
      "$(e2e_attempts_sql "SELECT host, result FROM attempts ORDER BY id" | tr '|' ' ' | xargs)"
    ;;
  *)
    e2e_fatal "unknown scenario $scenario"
    ;;
esac
e2e_finish
