#!/usr/bin/env python3
"""The shipped pam.d examples are Debian 12's own files plus our lines.

etc/pam.d/sshd and etc/pam.d/sudo, with every block between a
"# --- pam_defender" line and the next "# --- end pam_defender ---" line
taken out, must equal Debian 12's /etc/pam.d/sshd and /etc/pam.d/sudo (kept
in tests/e2e/debian, from openssh-server 1:9.2p1-2+deb12u10 and sudo
1.9.13p3-1+deb12u4) byte for byte: nothing of Debian's dropped or changed.
Inside the blocks, only comments and pam_defender lines.

Usage: example_stacks_test.py SOURCE_ROOT
"""
import pathlib
import sys

root = pathlib.Path(sys.argv[1])
failures = 0
for name in ("sshd", "sudo"):
    ours = (root / "etc" / "pam.d" / name).read_text().splitlines(True)
    debian = (root / "tests" / "e2e" / "debian" / name).read_text()
    kept, added, inside = [], [], False
    for line in ours:
        if line.startswith("# --- pam_defender"):
            inside = True
        if inside:
            added.append(line)
        else:
            kept.append(line)
        if line.startswith("# --- end pam_defender ---"):
            inside = False
    if inside:
        print(f"FAILED: {name}: unterminated pam_defender block")
        failures += 1
    if "".join(kept) != debian:
        print(f"FAILED: {name}: Debian's lines are not all kept as they are")
        failures += 1
    for line in added:
        s = line.strip()
        if s and not s.startswith("#") and "pam_defender.so" not in s:
            print(f"FAILED: {name}: not a pam_defender line: {s!r}")
            failures += 1
if failures:
    sys.exit(1)
print("example stacks OK")
