#!/usr/bin/env python3
"""pam_defender.so runs no code of its own when it is loaded but one hook.

libpam loads the module in every login process (each login is a process of
its own; the module stays loaded until the process ends: -z nodelete),
so whatever runs at load (a constructor of a global std::string or
std::vector, an __attribute__((constructor)) function) runs, and pages in
its code and data, in every login whether or not the login needs it. This
test reads the module's .init_array, the functions the loader calls, and
allows only:
  - frame_dummy, which the toolchain puts in every shared object;
  - RegisterRuntimeCleanup (pam_defender/runtime.cc), which registers what
    the C++ runtime linked in must free when its object is unloaded (the
    configuration plugin, which shares runtime.cc, is unloaded after each use), in
    release builds (libsupc++'s exception buffer, which it malloc'd at
    load, is not linked in: runtime.cc allocates exceptions).
and, with --sanitized (an ASan/UBSan build), the constructors the
sanitizers add to every object file (GCC names them _sub_I_00099_N).
Anything else, the module's or a part of the C++ runtime newly linked in,
fails the test with its name.

It also checks, outside sanitizer builds, that the module has no
thread-local storage (a TLS segment costs every login about 5 µs;
pam_defender/runtime.cc keeps the C++ runtime's without one) and that its
zero-filled data (.bss) ends in the last page its data segment maps from
the file: a .bss that outgrows that page makes the loader map anonymous
memory as well, in every login (5-10 µs; runtime.cc's reserve); and that
what the loader relocates, and so writes, at load (the GNU_RELRO segment:
vtables, .got, .dynamic) fits one page: each page written costs every
login about 1.8 µs (the configuration key table's pointers once made it
two, config_keys.h); not in unoptimized builds (--unoptimized), which
keep that table. On other
machines than x86-64, runtime.cc leaves libsupc++'s exception buffer, and
its constructor, in place.

Usage: load_time_code_test.py MODULE [--sanitized] [--unoptimized]
"""
import platform
import re
import subprocess
import sys

ALLOWED = {"frame_dummy",
           "defender::(anonymous namespace)::RegisterRuntimeCleanup()"}
if platform.machine() != "x86_64":
    ALLOWED.add("_GLOBAL__sub_I_eh_alloc.cc")


def run(*args):
    return subprocess.run(args, check=True, capture_output=True,
                          text=True).stdout


module = sys.argv[1]
sanitized = "--sanitized" in sys.argv[2:]
# Unoptimized builds keep the configuration key table, which optimized ones
# only read at compile time (common/config.cc), with its pointers.
optimized = "--unoptimized" not in sys.argv[2:]
start = size = None
for line in run("readelf", "-SW", module).splitlines():
    m = re.search(r"\]\s+\.init_array\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+"
                  r"([0-9a-f]+)", line)
    if m:
        start, size = int(m.group(1), 16), int(m.group(2), 16)
if start is None:
    sys.exit("FAILED: " + module + " has no .init_array section")
# Position-independent code: each entry is a relative relocation whose
# addend is the function's address.
targets = []
for line in run("readelf", "-rW", module).splitlines():
    f = line.split()
    if len(f) >= 4 and f[2].endswith("_RELATIVE"):
        if start <= int(f[0], 16) < start + size:
            targets.append(int(f[3], 16))
if len(targets) != size // 8:
    sys.exit("FAILED: %d .init_array entries, %d relocated" %
             (size // 8, len(targets)))
names = {}
for line in run("nm", "-C", module).splitlines():
    f = line.split(None, 2)
    if len(f) == 3 and f[1] in "tT":
        names.setdefault(int(f[0], 16), f[2])
found = [names.get(t, hex(t)) for t in targets]
bad = [n for n in found if n not in ALLOWED and
       not (sanitized and re.fullmatch(r"_sub_I_\d+_\d+", n))]
if bad:
    sys.exit("FAILED: " + module + " runs at load time: " + ", ".join(bad) +
             " (make globals constexpr or build them on first use)")
print("ok: load-time functions:", ", ".join(found))

if not sanitized:
    writable = 0
    for line in run("readelf", "-lW", module).splitlines():
        f = line.split()
        if f and f[0] == "TLS":
            sys.exit("FAILED: %s has a TLS segment (thread_local, or a part "
                     "of the C++ runtime that uses one)" % module)
        if len(f) >= 8 and f[0] == "LOAD" and "W" in "".join(f[6:-1]):
            writable += 1
            vaddr, filesz, memsz = (int(x, 16) for x in (f[2], f[4], f[5]))
            file_end, mem_end = vaddr + filesz, vaddr + memsz
            last_page_end = (file_end + 4095) // 4096 * 4096
            if mem_end > last_page_end:
                sys.exit("FAILED: %s: .bss ends at %#x, past %#x, the end of "
                         "the last page mapped from the file" %
                         (module, mem_end, last_page_end))
            print("ok: .bss ends at %#x, within %#x" %
                  (mem_end, last_page_end))
    if writable == 0:
        sys.exit("FAILED: %s: no writable LOAD segment found" % module)
    relro = 0
    for line in run("readelf", "-lW", module).splitlines() if optimized else []:
        f = line.split()
        if f and f[0] == "GNU_RELRO":
            relro += 1
            # lld rounds the segment's size up to a page; its file size is
            # what the sections take.
            vaddr, size = int(f[2], 16), int(f[4], 16)
            pages = (vaddr + size - 1) // 4096 - vaddr // 4096 + 1
            if pages > 1:
                sys.exit("FAILED: %s: the data the loader relocates "
                         "(.data.rel.ro, .got, .dynamic) is %d bytes on %d "
                         "pages; each is written in every login. Keep "
                         "pointers out of constant tables (config_keys.h)" %
                         (module, size, pages))
            print("ok: relocated data: %d bytes, one page" % size)
    if not optimized:
        print("relocated data not checked: unoptimized build")
    elif relro != 1:
        sys.exit("FAILED: %s: %d GNU_RELRO segments, expected one (linked "
                 "with -z relro)" % (module, relro))
