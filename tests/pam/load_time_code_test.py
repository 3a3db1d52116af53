#!/usr/bin/env python3
"""pam_defender.so runs none of its own code when it is loaded.

libpam loads the module in every login process and unloads it at pam_end,
so a constructor of the module's own (a global std::string, std::vector,
...) runs, and touches its code and data pages, in every login, whether or
not the login needs it. The compiler names such a constructor
_GLOBAL__sub_I_<source file>; this test fails if the module has one for a
file of this project (those of the C++ runtime linked into release builds,
eh_alloc.cc and system_error.cc, are not ours to change).

Usage: load_time_code_test.py MODULE SOURCE_ROOT
"""
import pathlib
import re
import subprocess
import sys

module, root = sys.argv[1], pathlib.Path(sys.argv[2])
ours = {p.name for d in ("common", "pam_defender")
        for p in (root / d).glob("*.cc")}
symbols = subprocess.run(["nm", module], check=True, capture_output=True,
                         text=True).stdout
found = set(re.findall(r"\b_GLOBAL__sub_I_(\S+)", symbols))
bad = sorted(found & ours)
if bad:
    sys.exit("FAILED: " + module + " constructs globals at load time in: " +
             ", ".join(bad) + " (make them constexpr or build them on use)")
print("ok:", len(ours), "source files, load-time constructors:",
      ", ".join(sorted(found)) or "none")
