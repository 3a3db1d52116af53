#!/usr/bin/env python3
"""The functions a login runs are placed together in pam_defender.so.

pam_defender/hot_functions.txt (made by bench/hot_functions.sh) lists the
module's functions that a login on the local store runs; optimized builds
compile one section per function and link with lld, which places them, in
that order, at the start of .text (doc/DESIGN.md §7). This test checks, in
such a build:
  - at least 90% of the functions the list names are still defined in the
    module, so that renames and new code on the login path do not quietly
    leave the list behind (when this fails, run bench/hot_functions.sh);
  - those functions lie together at the start of .text: from its first
    byte to the end of the last of them is no more than their own size,
    plus 10% and a page for alignment;
  - the code every login runs outside .text (.init, .plt, .fini: load,
    calls into other libraries, unload) lies just before it
    (pam_defender/code_layout.ld), not after its 140 KB of cold code;
  - from the start of the code segment (.init) to the end of the last of
    them is at most 64 KB: the first page fault in the segment, at .init
    when the module is loaded, maps the 16 pages from there (fault-around),
    so a login like the profiled ones takes no further fault in the
    module's code;
  - what the loader runs at each load and unload (crtbegin's code and
    runtime.cc's constructor and unload handler, first in the list) lies
    in the page of .init, so that a load touches one page of code;
  - .text is the module's only code section of its name, so that tools
    that name functions by it (valgrind) see them all.
With --unordered (unoptimized and sanitizer builds, and builds without
lld, which link without the list) it checks only the last point.

Usage: hot_functions_test.py MODULE HOT_FUNCTIONS_TXT [--unordered]
"""
import re
import subprocess
import sys


def run(*args):
    return subprocess.run(args, check=True, capture_output=True,
                          text=True).stdout


module, listing = sys.argv[1], sys.argv[2]
unordered = sys.argv[3:] == ["--unordered"]

sections = []
for line in run("readelf", "-SW", module).splitlines():
    m = re.search(r"\]\s+(\.\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+"
                  r"([0-9a-f]+)", line)
    if m:
        sections.append((m.group(1), int(m.group(2), 16), int(m.group(3), 16)))
texts = [s for s in sections if s[0].startswith(".text")]
if [t[0] for t in texts] != [".text"]:
    sys.exit(f"FAIL: {module}: code sections {[t[0] for t in texts]}, "
             "expected one .text")
if unordered:
    print("ok: one .text; this build does not order functions")
    sys.exit(0)
text_start = texts[0][1]

# .init, .plt and .fini end where .text starts, give or take alignment.
around = {name: (addr, size) for name, addr, size in sections
          if name in (".init", ".plt", ".fini")}
if sorted(around) != [".fini", ".init", ".plt"]:
    sys.exit(f"FAIL: {module}: found {sorted(around)} of .init, .plt, .fini")
first = min(addr for addr, _ in around.values())
last = max(addr + size for addr, size in around.values())
if last > text_start or text_start - first > sum(
        size for _, size in around.values()) + 64:
    sys.exit(f"FAIL: .init, .plt and .fini span {first:#x}..{last:#x}; "
             f"expected them just before .text at {text_start:#x}")

with open(listing) as f:
    listed = [line.strip() for line in f
              if line.strip() and not line.startswith("#")]
if len(listed) < 100:
    sys.exit(f"FAIL: {listing} lists {len(listed)} functions; expected the "
             "few hundred a login runs")

defined = {}
for line in run("nm", "--defined-only", "-S", module).splitlines():
    parts = line.split()
    if len(parts) == 3:  # No size (crtbegin's symbols).
        parts.insert(1, "0")
    if len(parts) == 4 and parts[2] in "tTwW":
        defined.setdefault(parts[3], []).append(
            (int(parts[0], 16), int(parts[1], 16)))

present = [name for name in listed if name in defined]


def base(name):
    """The nested name of a mangled _ZN...E function, without its
    parameters (and abi tags), or None."""
    m = re.match(r"_ZN((?:\d+|B\d+|[KLS]|St)*)", name)
    if not m:
        return None
    i, out = 3, []
    while i < len(name):
        if name[i] == "B" or name[i].isdigit():
            j = i + 1 if name[i] == "B" else i
            k = j
            while k < len(name) and name[k].isdigit():
                k += 1
            if k == j:
                return None
            n = int(name[j:k])
            if name[i] != "B":
                out.append(name[k:k + n])
            i = k + n
        elif name[i] in "KL":
            i += 1
        elif name[i] == "E":
            return "::".join(out)
        else:
            return None
    return None


# A listed function whose signature changed is no longer placed: fail
# rather than let the login's code leave the first 64 KB unseen.
defined_bases = {base(d) for d in defined} - {None}
changed = [n for n in listed
           if n not in defined and base(n) and base(n) in defined_bases]
if changed:
    sys.exit("FAIL: listed functions no longer defined under that name, but "
             "defined with another signature (update " + listing + "): " +
             ", ".join(changed))
share = len(present) / len(listed)
if share < 0.9:
    sys.exit(f"FAIL: only {len(present)} of the {len(listed)} functions "
             f"{listing} lists are defined in the module: run "
             "bench/hot_functions.sh")
spans = {span for name in present for span in defined[name]}
own_size = sum(size for _, size in spans)
end = max(addr + size for addr, size in spans)
print(f"{len(listed)} listed, {len(present)} defined ({share:.0%}), "
      f"{own_size} bytes, ending {end - text_start} bytes into .text")
if end - text_start > own_size * 1.1 + 4096:
    sys.exit(f"FAIL: the listed functions span {end - text_start} bytes "
             f"from the start of .text, for {own_size} bytes of their own")

# The fault at .init maps fault_around_bytes (64 KB by default) from the
# start of the segment.
if end - first > 65536:
    sys.exit(f"FAIL: the code a login runs ends {end - first} bytes from the "
             f"start of the code segment ({first:#x}), beyond the 65536 "
             "bytes its first page fault maps: make it smaller")

# crtbegin's four are in every module GCC links; runtime.cc's two in every
# module with the static C++ runtime, which GCC builds without sanitizers
# have (pam_defender/meson.build), the ordered ones among them.
loader_run = ["frame_dummy", "register_tm_clones", "__do_global_dtors_aux",
              "deregister_tm_clones",
              "_ZN8defender12_GLOBAL__N_122RegisterRuntimeCleanupEv",
              "_ZN8defender12_GLOBAL__N_118FreeRuntimeBuffersEPv"]
if sorted(listed[:len(loader_run)]) != sorted(loader_run):
    sys.exit(f"FAIL: {listing} does not start with {loader_run}: run "
             "bench/hot_functions.sh")
for name in loader_run:
    if name not in defined:
        sys.exit(f"FAIL: {name} is not defined in {module}")
# The page of .init, which the loader's first call into the module maps.
init_page = around[".init"][0] // 4096
for name in loader_run:
    for addr, _ in defined[name]:
        if addr // 4096 != init_page:
            sys.exit(f"FAIL: {name} at {addr:#x}, not in the page of .init "
                     f"({init_page * 4096:#x})")
print("ok")
