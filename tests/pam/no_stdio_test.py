#!/usr/bin/env python3
"""pam_defender.so and its configuration plugin cannot write to stdio.

The module runs inside sshd, sudo, su and login; their stdout and stderr
belong to them (a terminal, a pipe to a user, a log), and the module never
writes there. This test reads each object's imports and fails, naming
them, if it imports anything that writes to a stdio stream or to a file
descriptor given by number through stdio. One such path used to come in
with the C++ runtime linked into the module: libstdc++'s default terminate
handler prints the exception's type to stderr, and so does its handler of
failed _GLIBCXX_ASSERTIONS checks (pam_defender/runtime.cc replaces both).

Usage: no_stdio_test.py OBJECT...
"""
import subprocess
import sys

FORBIDDEN = {"stdout", "stderr", "printf", "fprintf", "vprintf", "vfprintf",
             "dprintf", "vdprintf", "puts", "fputs", "putchar", "putc",
             "fputc", "fwrite", "perror", "psignal", "psiginfo", "warn",
             "warnx", "err", "errx", "vwarn", "vwarnx", "verr", "verrx",
             "error", "error_at_line", "__fprintf_chk", "__printf_chk",
             "__vfprintf_chk", "__dprintf_chk",
             # assert(): prints the failed condition to stderr.
             "__assert_fail", "__assert_perror_fail"}

failed = False
for obj in sys.argv[1:]:
    out = subprocess.run(["nm", "-D", "--undefined-only", obj], check=True,
                         capture_output=True, text=True).stdout
    imports = {line.split()[-1].split("@")[0] for line in out.splitlines()
               if line.strip()}
    if not imports:
        sys.exit("FAILED: %s imports nothing; not a PAM module?" % obj)
    bad = sorted(imports & FORBIDDEN)
    if bad:
        print("FAILED: %s imports %s" % (obj, ", ".join(bad)))
        failed = True
    else:
        print("ok: %s: %d imports, none writes to stdio" % (obj, len(imports)))
sys.exit(1 if failed else 0)
