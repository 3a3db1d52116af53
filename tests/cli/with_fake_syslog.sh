#!/bin/bash
# with_fake_syslog.sh LOG COMMAND [ARG...]: runs COMMAND in a private mount
# namespace in which this script is the syslog daemon, and writes every
# message sent to /dev/log in the meantime to LOG, raw bytes, one a line
# (a trailing newline of the message dropped). It mounts a tmpfs on /dev
# (with null, zero, random and urandom) and binds a datagram socket at
# /dev/log there, so the host's /dev/log is neither needed nor touched.
# Exits with COMMAND's status. Needs root and unshare(1).
set -euo pipefail
log=${1:?usage: with_fake_syslog.sh LOG COMMAND [ARG...]}
shift
exec unshare --mount --propagation private bash -euo pipefail -c '
  log=$1
  shift
  mount -t tmpfs -o mode=0755 pd-test-dev /dev
  mknod -m 0666 /dev/null c 1 3
  mknod -m 0666 /dev/zero c 1 5
  mknod -m 0666 /dev/random c 1 8
  mknod -m 0666 /dev/urandom c 1 9
  ready=$(mktemp -u)
  python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(\"/dev/log\")
s.settimeout(20)
open(sys.argv[2], \"w\").close()
with open(sys.argv[1], \"wb\") as out:
    while True:
        msg = s.recv(65536)
        if msg.endswith(b\"\\0stop\\0\"):
            break
        out.write(msg.rstrip(b\"\\n\") + b\"\\n\")
" "$log" "$ready" &
  for _ in $(seq 100); do [ -e "$ready" ] && break; sleep 0.1; done
  rm -f "$ready"
  status=0
  "$@" || status=$?
  python3 -c "
import socket
socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b\"\\0stop\\0\", \"/dev/log\")"
  wait
  exit $status
' with_fake_syslog "$log" "$@"
