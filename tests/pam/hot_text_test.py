#!/usr/bin/env python3
"""The functions a login runs are placed together in pam_defender.so.

pam_defender/hot_text.ld (made by bench/hot_text.sh) lists the module's
functions that a login on the local store runs; optimized builds compile
one section per function and link those first, in the output section
.text.defender_hot (doc/DESIGN.md §7). This test checks, in such a build:
  - the module has that section;
  - at least 90% of the functions the list names are still defined in the
    module, so that renames and new code on the login path do not quietly
    leave the list behind (when this fails, run bench/hot_text.sh);
  - every listed function the module defines lies inside the section.
With --unordered (unoptimized and sanitizer builds, which link without
the list) the module must not have the section.

Usage: hot_text_test.py MODULE HOT_TEXT_LD [--unordered]
"""
import re
import subprocess
import sys


def run(*args):
    return subprocess.run(args, check=True, capture_output=True,
                          text=True).stdout


module, script = sys.argv[1], sys.argv[2]
unordered = sys.argv[3:] == ["--unordered"]

section = None
for line in run("readelf", "-SW", module).splitlines():
    m = re.search(r"\]\s+\.text\.defender_hot\s+\S+\s+([0-9a-f]+)\s+"
                  r"[0-9a-f]+\s+([0-9a-f]+)", line)
    if m:
        section = (int(m.group(1), 16), int(m.group(2), 16))
if unordered:
    if section is not None:
        sys.exit(f"FAIL: {module} has .text.defender_hot in a build that "
                 "links without hot_text.ld")
    print("ok: no .text.defender_hot in this build")
    sys.exit(0)
if section is None or section[1] == 0:
    sys.exit(f"FAIL: {module} has no .text.defender_hot section")

listed = []
with open(script) as f:
    for line in f:
        m = re.match(r"\s+\*\(\.text\.(\S+) ", line)
        if m:
            listed.append(m.group(1))
if len(listed) < 100:
    sys.exit(f"FAIL: {script} lists {len(listed)} functions; expected the "
             "few hundred a login runs")

defined = {}
for line in run("nm", "--defined-only", module).splitlines():
    parts = line.split()
    if len(parts) == 3 and parts[1] in "tTwW":
        defined.setdefault(parts[2], []).append(int(parts[0], 16))

start, end = section[0], section[0] + section[1]
present = [name for name in listed if name in defined]
outside = [name for name in present
           if not all(start <= a < end for a in defined[name])]
share = len(present) / len(listed)
print(f"{len(listed)} listed, {len(present)} defined ({share:.0%}), "
      f"section {section[1]} bytes at {start:#x}")
if share < 0.9:
    sys.exit(f"FAIL: only {len(present)} of the {len(listed)} functions "
             f"{script} lists are defined in the module: run "
             "bench/hot_text.sh")
if outside:
    sys.exit("FAIL: listed functions outside .text.defender_hot:\n  " +
             "\n  ".join(outside[:20]))
print("ok")
