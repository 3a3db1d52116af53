#!/usr/bin/python3
"""Runs the real setuid su as an unprivileged user in a hostile process state.

Usage (as root): su_drive.py TARGET_USER PASSWORD STATE [NUMBER [soft|hard]]

Forks on a new pty; the child becomes nobody:nogroup, puts the process in
STATE and execs `/usr/bin/su TARGET_USER -c true`, which keeps that state
across the exec (rlimits, ignored or blocked signals, umask, closed fds). The
parent types PASSWORD once su has turned echo off on the terminal (su reads
the password there), which works even when su's prompt goes nowhere.

States: none; fsize-ignored (RLIMIT_FSIZE 0, SIGXFSZ ignored, as `ulimit -f 0;
trap '' XFSZ`); fsize-blocked (RLIMIT_FSIZE 0, SIGXFSZ blocked);
fsize-default (RLIMIT_FSIZE 0, SIGXFSZ at its default: kills); nofile,
as, data, cpu (RLIMIT_NOFILE / RLIMIT_AS / RLIMIT_DATA / RLIMIT_CPU set to
NUMBER); umask (umask 0777);
closed-fds (fds 1 and 2 closed; fd 0 is the terminal su reads from);
killed (as none: su_test.sh's PAM stack kills su after a wrong password).

Prints one line: "exit N" (su's exit status), "signal N" (killed by it) or
"noprompt exit N" when su ended without asking for a password; exits 0,
or 2 on a timeout.

A limit is set soft and hard (as `ulimit -f 0` does) with "hard", the
default; with "soft" only the soft limit (as `ulimit -S`), which setuid root
can raise back even without CAP_SYS_RESOURCE.
"""

import os
import pty
import resource
import select
import signal
import sys
import termios
import time

NOBODY, NOGROUP = 65534, 65534


def set_limit(resource_id, value, hard):
    _, old_hard = resource.getrlimit(resource_id)
    resource.setrlimit(resource_id, (value, value if hard else old_hard))


def hostile(state, number, hard):
    """Puts this process in `state`, which exec keeps."""
    limits = {
        'nofile': resource.RLIMIT_NOFILE,
        'as': resource.RLIMIT_AS,
        'data': resource.RLIMIT_DATA,
        'cpu': resource.RLIMIT_CPU,
    }
    if state.startswith('fsize-'):
        set_limit(resource.RLIMIT_FSIZE, 0, hard)
        if state == 'fsize-ignored':
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        elif state == 'fsize-blocked':
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGXFSZ})
        else:
            signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    elif state in limits:
        set_limit(limits[state], number, hard)
    elif state == 'umask':
        os.umask(0o777)
    elif state == 'closed-fds':
        os.close(1)
        os.close(2)
    elif state not in ('none', 'killed'):
        raise SystemExit('unknown state ' + state)


def main():
    user, password, state = sys.argv[1:4]
    number = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    hard = len(sys.argv) <= 5 or sys.argv[5] != 'soft'
    env = {'PATH': '/usr/bin:/bin', 'TERM': 'dumb', 'LANG': 'C'}
    pid, master = pty.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(NOGROUP)
            os.setuid(NOBODY)
            os.chdir('/')
            hostile(state, number, hard)
            os.execve('/usr/bin/su', ['su', user, '-c', 'true'], env)
        finally:
            os._exit(127)
    deadline = time.monotonic() + 30
    typed = False
    while time.monotonic() < deadline:
        if not typed:
            try:
                lflag = termios.tcgetattr(master)[3]
            except termios.error:
                lflag = termios.ECHO
            if not lflag & termios.ECHO:
                os.write(master, password.encode() + b'\n')
                typed = True
        ready, _, _ = select.select([master], [], [], 0.01)
        if ready:
            try:
                if not os.read(master, 4096):
                    break
            except OSError:  # EIO: the last slave descriptor was closed.
                break
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        print('timeout')
        return 2
    _, status = os.waitpid(pid, 0)
    prefix = '' if typed else 'noprompt '
    if os.WIFSIGNALED(status):
        print(f'{prefix}signal {os.WTERMSIG(status)}')
    else:
        print(f'{prefix}exit {os.WEXITSTATUS(status)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
