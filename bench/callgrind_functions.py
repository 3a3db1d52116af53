#!/usr/bin/env python3
"""Prints the names of the functions a callgrind run saw run in one object.

Usage: callgrind_functions.py CALLGRIND_OUT OBJECT_PATH

Reads callgrind's output file itself: callgrind_annotate merges functions
of the same name in different objects and shows them under one of them, so
a std::string member that both defender_bench and the module define (each
its own copy) would be listed under defender_bench only. Functions without
a name (shown as an address) are left out.
"""
import re
import sys

out_file, wanted = sys.argv[1], sys.argv[2]
objects, functions = {}, {}
current, seen = None, set()
with open(out_file) as f:
    for line in f:
        # "ob=(ID) NAME" names an object the first time, "ob=(ID)" later;
        # "fn=" likewise for functions. "cob=" and "cfn=" (a call's target)
        # name them too, without changing the current ones.
        m = re.match(r"(c?ob|c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not m:
            continue
        key, ident, name = m.groups()
        table = objects if key.endswith("ob") else functions
        if name:
            table[ident] = name
        if key == "ob":
            current = objects.get(ident)
        elif key == "fn" and current == wanted:
            seen.add(functions[ident])
for name in sorted(seen):
    if not name.startswith("0x"):
        print(name)
