#!/usr/bin/env python3
"""Summary of the test runs of scripts/test.sh.

Arguments: one meson testlog.json per build (BUILD/meson-logs/testlog.json).
Prints, per build, how long each suite took (the sum of its tests'
durations; a test in several suites is shown under their joined name, as
meson lists it, e.g. "hardening+redis"), then, as the very last line,
"tests: N passed, N failed, N skipped". A missing or unreadable log counts
as one failure, and so does no log at all. Exits 1 when anything failed.
"""
import json
import os
import sys


def suite_of(name):
    # meson: "project:suite1+suite2 / test".
    left = name.split(" / ", 1)[0] if " / " in name else ""
    return left.split(":", 1)[-1] or "(none)"


def main(paths):
    passed = failed = skipped = 0
    lines_out = []
    for path in paths:
        build = os.path.basename(os.path.dirname(os.path.dirname(path)))
        try:
            with open(path, encoding="utf-8") as f:
                records = [json.loads(l) for l in f if l.strip()]
        except (OSError, ValueError) as e:
            lines_out.append(f"{build}: no test log ({e})")
            failed += 1
            continue
        suites = {}  # suite -> [seconds, tests]
        for r in records:
            result = r.get("result")
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
            s = suites.setdefault(suite_of(r.get("name", "")), [0.0, 0])
            s[0] += float(r.get("duration") or 0)
            s[1] += 1
        total = sum(s[0] for s in suites.values())
        lines_out.append(f"{build}: {total:.1f} s in {len(records)} tests")
        for name, (seconds, count) in sorted(suites.items(),
                                             key=lambda kv: -kv[1][0]):
            lines_out.append(f"  {name:<20} {seconds:8.1f} s  "
                             f"({count} test{'s' if count != 1 else ''})")
    if not paths:
        failed += 1
    if lines_out:
        print("time per suite (sum of test durations):")
        print("\n".join(lines_out))
    print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
