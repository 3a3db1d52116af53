#!/usr/bin/env python3
"""Every syslog line the module writes is documented in pam_defender(8).

Reads each pam_syslog() call in pam_defender/ and common/, takes the string
literals of its format argument (adjacent literals joined; the branches of
a ?: are separate formats), and requires each format to match one line of
the man page's LOG LINES section, where the format's conversions (%s, %lld,
...) stand for the page's _PLACEHOLDERS_. A new line, or a changed one,
fails here until the page lists it.

Usage: log_lines_test.py SOURCE_ROOT
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
page = (root / "doc" / "pam_defender.8.scd").read_text()
m = re.search(r"^# LOG LINES\n(.*?)^# ", page, re.S | re.M)
if not m:
    sys.exit("FAILED: pam_defender.8.scd has no LOG LINES section")
documented = [l.strip() for l in m.group(1).splitlines()
              if l.strip() and not l.startswith("\t")]


def literal(tok):
    return bytes(tok[1:-1], "utf-8").decode("unicode_escape")


def formats(call):
    """The format alternatives of one pam_syslog(...) call's text."""
    depth, args, cur = 0, [], ""
    for tok in re.findall(r'"(?:\\.|[^"\\])*"|.', call, re.S):
        if tok in "([{" and len(tok) == 1:
            depth += 1
        elif tok in ")]}" and len(tok) == 1:
            depth -= 1
        if tok == "," and depth == 0:
            args.append(cur)
            cur = ""
        else:
            cur += tok
    args.append(cur)
    fmt = args[2]
    out = []
    # Adjacent literals (only whitespace between) are one string.
    for group in re.findall(r'(?:"(?:\\.|[^"\\])*"\s*)+', fmt):
        out.append("".join(literal(t) for t in
                           re.findall(r'"(?:\\.|[^"\\])*"', group)))
    return out


failures = 0
count = 0
for path in sorted(list((root / "pam_defender").glob("*.cc")) +
                   list((root / "common").glob("*.cc"))):
    text = path.read_text()
    for call in re.finditer(r"pam_syslog\((.*?)\);", text, re.S):
        for fmt in formats(call.group(1)):
            count += 1
            pattern = "".join(
                ".+" if re.fullmatch(r"%[-0-9.]*l*[sdui]", piece) else
                re.escape(piece)
                for piece in re.split(r"(%[-0-9.]*l*[sdui])", fmt))
            # A conversion may be empty (an optional part) in the source;
            # in the page it is always written out.
            pattern = pattern.replace(".+", ".*")
            if not any(re.fullmatch(pattern, d) for d in documented):
                print(f"FAILED: {path.name}: {fmt!r} is not in "
                      "pam_defender(8) LOG LINES")
                failures += 1
if count < 10:
    sys.exit(f"FAILED: only {count} pam_syslog formats found")
if failures:
    sys.exit(1)
print(f"log lines OK: {count} formats documented")
