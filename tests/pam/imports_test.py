#!/usr/bin/env python3
"""pam_defender.so imports no function that common/lazy_libc.h binds late.

libpam loads the module with RTLD_NOW, so the loader looks up each of its
imports in every login. The C library functions that no common login step
calls are called through common/lazy_libc.h, which looks them up at their
first call (doc/DESIGN.md §7, "Fewer imports"). This test fails when the
module imports one of them after all (code that calls fork() where it
should call lazy::fork()), and when its imports exceed the budget below,
so that a new import is a decision rather than a drift.

Usage: imports_test.py MODULE LAZY_LIBC_H [--sanitized]
(sanitized builds import the sanitizer's runtime: no budget there).
"""
import re
import subprocess
import sys

BUDGET = 75  # 72 at the time of writing; pam_faillock imports about 50.

module, header = sys.argv[1], sys.argv[2]
sanitized = sys.argv[3:] == ["--sanitized"]

with open(header) as f:
    lazy = set(re.findall(r"^\s+X\((\w+),", f.read(), re.M))
if len(lazy) < 40:
    sys.exit(f"FAIL: {header} names {len(lazy)} functions; expected 40+")

out = subprocess.run(["nm", "-D", "--undefined-only", module], check=True,
                     capture_output=True, text=True).stdout
imports = {line.split()[-1].split("@")[0] for line in out.splitlines()
           if line.strip()}
bound_early = sorted(name for name in imports
                     if name in lazy or name.removesuffix("64") in lazy)
print(f"{len(imports)} imports; {len(lazy)} functions bound late")
if bound_early:
    sys.exit(f"FAIL: {module} imports {bound_early}, which "
             f"{header} binds at their first call: call lazy::NAME")
if not sanitized and len(imports) > BUDGET:
    sys.exit(f"FAIL: {len(imports)} imports, over the budget of {BUDGET}: "
             "bind the new ones late (common/lazy_libc.h) or raise the "
             "budget in this test, with the reason")
print("ok")
