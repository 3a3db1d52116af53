#!/usr/bin/env python3
"""pam_defender.so imports no function that it binds late or defines itself.

libpam loads the module with RTLD_NOW, so the loader looks up each of its
imports in every login. The C library functions that no common login step
calls are called through common/lazy_libc.h, which looks them up at their
first call (doc/DESIGN.md §7, "Fewer imports"). This test fails when the
module imports one of them after all (code that calls fork() where it
should call lazy::fork()), or one of the system-call wrappers that
pam_defender/direct_syscalls.c defines in the module (the link took the
C library's), and when its imports exceed the budget below, so that a
new import is a decision rather than a drift. When the module
carries its C++ runtime (pam_defender/meson.build), it must also import
nothing but the C library's and libpam's versioned functions (and the
startup files' three weak names: crti.o's __gmon_start__, crtbegin.o's
two _ITM_ ones): an unversioned import, such as __cxa_pure_virtual once
was, binds to whatever library of the host defines it (the shared
libstdc++ of a C++ program), and the loader searches the host's libraries
for it in every login. (The configuration plugin, loaded only when the
configuration file has changed, is not checked: its static libstdc++
brings weak transactional-memory imports.)

Usage: imports_test.py MODULE LAZY_LIBC_H DIRECT_SYSCALLS_C
                       [--no-direct-syscalls]
                       [--sanitized | --shared-runtime]
(--no-direct-syscalls: the build does not link direct_syscalls.c, as
pam_defender/meson.build decides by target; sanitized builds import the
sanitizer's runtime: no budget there; builds with the shared C++ runtime
import it).
"""
import re
import subprocess
import sys

BUDGET = 52  # 49 at the time of writing; pam_faillock imports 50.

USAGE = (f"usage: {sys.argv[0]} MODULE LAZY_LIBC_H DIRECT_SYSCALLS_C "
         "[--no-direct-syscalls] [--sanitized | --shared-runtime]")
if len(sys.argv) < 4:
    sys.exit(USAGE)
flags = sys.argv[4:]
linked_direct = "--no-direct-syscalls" not in flags
if not linked_direct:
    flags.remove("--no-direct-syscalls")
if flags not in ([], ["--sanitized"], ["--shared-runtime"]):
    sys.exit(USAGE)
module, header, direct_source = sys.argv[1], sys.argv[2], sys.argv[3]
sanitized = flags == ["--sanitized"]
own_runtime = flags == []
# Referenced weakly by the startup files and left undefined in any shared
# object.
STARTUP_WEAK = {"__gmon_start__", "_ITM_deregisterTMCloneTable",
                "_ITM_registerTMCloneTable"}

with open(header) as f:
    lazy = set(re.findall(r"^\s+X\((\w+),", f.read(), re.M))
if len(lazy) < 40:
    sys.exit(f"FAIL: {header} names {len(lazy)} functions; expected 40+")

# The functions direct_syscalls.c defines: every definition's line starts
# with DIRECT and names the function before its "(" (the marker array
# aside).
with open(direct_source) as f:
    lines = [line for line in f.read().splitlines()
             if line.startswith("DIRECT ") and "(" in line]
direct = set()
for line in lines:
    m = re.match(r"DIRECT [\w *]+?\b(\w+)\(", line)
    if not m:
        sys.exit(f"FAIL: {direct_source}: cannot read the name in {line!r}")
    direct.add(m.group(1))
if len(direct) != len(lines) or len(direct) < 20:
    sys.exit(f"FAIL: {direct_source}: {len(direct)} names in {len(lines)} "
             "definitions; expected one each, 20+")
if not linked_direct:
    direct = set()

out = subprocess.run(["nm", "-D", "--undefined-only", module], check=True,
                     capture_output=True, text=True).stdout
versioned = [line.split()[-1] for line in out.splitlines() if line.strip()]
imports = {name.split("@")[0] for name in versioned}
bound_early = sorted(name for name in imports
                     if name in lazy or name.removesuffix("64") in lazy)
print(f"{len(imports)} imports; {len(lazy)} functions bound late")
if bound_early:
    sys.exit(f"FAIL: {module} imports {bound_early}, which "
             f"{header} binds at their first call: call lazy::NAME")
imported_direct = sorted(imports & direct)
if imported_direct:
    sys.exit(f"FAIL: {module} imports {imported_direct}, which "
             f"{direct_source} defines in the module: is it linked in?")
if own_runtime:
    foreign = sorted(name for name in versioned
                     if name not in STARTUP_WEAK and
                     not re.search(r"@@?(GLIBC|LIBPAM)_", name))
    if foreign:
        sys.exit(f"FAIL: {module} imports {foreign}: neither the C "
                 "library's nor libpam's (define it in "
                 "pam_defender/runtime.cc, or link what provides it)")
if not sanitized and len(imports) > BUDGET:
    sys.exit(f"FAIL: {len(imports)} imports, over the budget of {BUDGET}: "
             "bind the new ones late (common/lazy_libc.h) or raise the "
             "budget in this test, with the reason")
print("ok")
