#!/usr/bin/env python3
"""Turns the benchmark's TSV files into results.md and the chart data.

    report.py RESULTS_DIR
"""
import os
import sys

d = sys.argv[1]


def rows(name):
    path = os.path.join(d, name)
    if not os.path.exists(path):
        # The committed profile of the code before the optimisations.
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "results", name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [l.rstrip("\n").split("\t") for l in f
                if l.strip() and not l.startswith("#")]


summary = rows("summary.tsv")


def option(name, default):
    """A '# name=value' line of summary.tsv (defender_bench's options)."""
    path = os.path.join(d, "summary.tsv")
    if os.path.exists(path):
        for l in open(path):
            if l.startswith(f"# {name}="):
                return l.split("=", 1)[1].strip()
    return default


attack_failures = int(option("attack_failures", "1024"))


# 95% intervals of the ratios to pam_faillock, by resampling rounds: every
# stack ran a batch in each round, interleaved, so a resampled round brings
# the logins of every stack (the machine's noise of that moment with them).
# Fixed seed: the same files give the same report.
B = 2000


def by_round(name, value_cols):
    out = {}
    for r in rows(name):
        if len(r) < 3 + len(value_cols):
            return {}  # An older file, without rounds.
        key = (r[0], r[1])
        vals = tuple(float(r[c]) for c in value_cols)
        out.setdefault(key, {}).setdefault(int(r[2]), []).append(vals)
    return out


def median(v):
    v = sorted(v)
    return v[(len(v) - 1) // 2] if v else 0.0  # Nearest rank, as stats.h.


def interval(stat, n_rounds):
    """2.5th and 97.5th percentiles of stat(rounds) over B resamplings."""
    import random
    rng = random.Random(11)
    vals = sorted(stat([rng.randrange(n_rounds) for _ in range(n_rounds)])
                  for _ in range(B))
    return vals[int(0.025 * B)], vals[int(0.975 * B) - 1]


samples_r = by_round("samples.tsv", [4])  # CPU µs per login.
batches_r = by_round("batches.tsv", [3, 4])  # (logins, wall µs) per round.


def cpu_ratio_interval(sc, stack):
    """(low, high) of CPU overhead over the baseline ÷ pam_faillock's."""
    st = {k: samples_r.get((sc, k)) for k in ("baseline", "faillock", stack)}
    if not all(st.values()):
        return None
    n = min(len(v) for v in st.values())

    def stat(pick):
        med = {k: median([x[0] for r in pick for x in v[r]])
               for k, v in st.items()}
        fl = med["faillock"] - med["baseline"]
        return (med[stack] - med["baseline"]) / fl if fl > 0 else float("inf")
    return interval(stat, n)


def throughput_ratio_interval(sc, stack):
    """(low, high) of logins/s ÷ pam_faillock's."""
    fl, st = batches_r.get((sc, "faillock")), batches_r.get((sc, stack))
    if not (fl and st):
        return None
    n = min(len(fl), len(st))

    def tput(v, pick):
        return (sum(v[r][0][0] for r in pick) /
                sum(v[r][0][1] for r in pick))
    return interval(lambda pick: tput(st, pick) / tput(fl, pick), n)


def interval_text(iv):
    if iv is None:
        return ""
    hi = "unbounded" if iv[1] == float("inf") else f"{iv[1]:.2f}×"
    return f" (95% interval {iv[0]:.2f}–{hi})"


def verdict(iv, point, limit, at_most):
    """Met when the whole interval is on the target's side of `limit`."""
    if iv is None:
        return "yes" if (point <= limit if at_most else point >= limit) \
            else "no"
    lo, hi = iv
    if (hi <= limit) if at_most else (lo >= limit):
        return "yes"
    if lo <= limit <= hi:
        return "cannot be told from parity (interval holds %.1f×)" % limit
    return "no"
by = {(r[0], r[1]): r for r in summary}
scenarios = []
for r in summary:
    if r[0] not in scenarios:
        scenarios.append(r[0])
lockout = ["faillock", "defender-local", "defender-redis"]
has_redis = any(r[1] == "defender-redis" for r in summary)
if not has_redis:
    lockout.remove("defender-redis")

out = []
out.append("| scenario | stack | logins | median µs | p99 µs | overhead "
           "(median) µs | overhead (p99) µs | ÷ faillock's overhead | "
           "logins/s | CPU µs (median) | CPU overhead µs | ÷ faillock's "
           "CPU overhead |")
out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in summary:
    sc, st, n, med, p99, over, over99, ratio, tput, _, cpu, cpu_over = r
    base = st == "baseline"
    over = "—" if base else f"{int(float(over)):+d}"
    over99 = "—" if base else f"{int(float(over99)):+d}"
    cpu_over = "—" if base else f"{int(float(cpu_over)):+d}"
    ratio = "—" if ratio == "-" else ratio
    fl = by.get((sc, "faillock"))
    cpu_ratio = "—"
    if ratio != "—" and fl and float(fl[11]) > 0:
        cpu_ratio = f"{float(r[11]) / float(fl[11]):.2f}"
    out.append(f"| {sc} | {st} | {n} | {med} | {p99} | {over} | {over99} | "
               f"{ratio} | {tput} | {cpu} | {cpu_over} | {cpu_ratio} |")
tables = {"logins": "\n".join(out)}

# Targets (issue 11). Overheads are over the baseline stack (password
# only); "CPU" is the median CPU time of a login process (wait4's rusage).
t = ["| target | result | met |", "|---|---|---|"]


def met(ok):
    return "yes" if ok else "no"


def ratio(a, b):
    return a / b if b > 0 else float("inf")


for sc in ["success", "mixed", "failure", "blocked"]:
    fl = by.get((sc, "faillock"))
    lo = by.get((sc, "defender-local"))
    if not (fl and lo):
        continue
    cpu = ratio(float(lo[11]), float(fl[11]))
    lat = ratio(float(lo[5]), float(fl[5]))
    iv = cpu_ratio_interval(sc, "defender-local")
    ivs = interval_text(iv)
    v = verdict(iv, cpu, 1.0, True)
    if v == "no":
        v = "no, within 1.5×" if verdict(iv, cpu, 1.5, True) == "yes" \
            else "no"
    t.append(f"| {sc}: CPU overhead ≤ 1.0× pam_faillock's (bar 1.5×) | "
             f"{float(lo[11]):+.0f} µs vs {float(fl[11]):+.0f} µs = "
             f"**{cpu:.2f}×**{ivs} (latency {float(lo[5]):+.0f} vs "
             f"{float(fl[5]):+.0f} µs = {lat:.2f}×) | {v} |")
fl, lo = by.get(("attack", "faillock")), by.get(("attack", "defender-local"))
if fl and lo:
    # No target: what a failure costs once pam_faillock's tally is full.
    cpu = ratio(float(lo[11]), float(fl[11]))
    t.append(f"| attack (failures after {attack_failures:,} on the user; no "
             f"target): CPU "
             f"overhead ÷ pam_faillock's | {float(lo[11]):+.0f} µs vs "
             f"{float(fl[11]):+.0f} µs = **{cpu:.2f}×**"
             f"{interval_text(cpu_ratio_interval('attack', 'defender-local'))}"
             f" | — |")
for sc in ["concurrent8", "concurrent32"]:
    fl = by.get((sc, "faillock"))
    for st in ["defender-local", "defender-redis"]:
        lo = by.get((sc, st))
        if not (fl and lo):
            continue
        r = ratio(float(lo[8]), float(fl[8]))
        iv = throughput_ratio_interval(sc, st)
        ivs = interval_text(iv)
        t.append(f"| {sc}: {st} throughput ≥ pam_faillock's | {lo[8]} vs "
                 f"{fl[8]} logins/s = **{r:.2f}×**{ivs} | "
                 f"{verdict(iv, r, 1.0, False)} |")
ld = rows("load.tsv")
loads = {r[0]: float(r[1]) for r in ld if len(r) == 2}
if "no module" in loads and "pam_faillock.so" in loads \
        and "pam_defender.so" in loads:
    fl = loads["pam_faillock.so"] - loads["no module"]
    de = loads["pam_defender.so"] - loads["no module"]
    r = ratio(de, fl)
    t.append(f"| load_module: loading ≤ 1.5× pam_faillock's | {de:+.0f} µs vs "
             f"{fl:+.0f} µs CPU over fork + exit = **{r:.2f}×** "
             f"(process totals {loads['pam_defender.so']:.0f} vs "
             f"{loads['pam_faillock.so']:.0f} µs) | {met(r <= 1.5)} |")
e = by.get(("bigstore", "defender-local"))
b = by.get(("bigstore", "defender-local-big"))
if e and b:
    ch = (float(b[3]) - float(e[3])) / float(e[3]) * 100
    cc = (float(b[10]) - float(e[10])) / float(e[10]) * 100
    t.append(f"| login cost flat within 10% (empty → 100,000 subjects + "
             f"1,000,000 archive rows) | median {e[3]} → {b[3]} µs "
             f"({ch:+.1f}%), CPU {e[10]} → {b[10]} µs ({cc:+.1f}%) | "
             f"{met(abs(ch) <= 10)} |")
ctl = {" ".join(r[0].split()[:2]): r for r in rows("defenderctl.tsv")
       if len(r) >= 2}
for cmd, what, limit in [("defenderctl list", "of 100,000 subjects", 1.0),
                         ("defenderctl cleanup", "of 1,000,000 archive rows",
                          2.0)]:
    if cmd in ctl:
        sec = float(ctl[cmd][1])
        t.append(f"| `{cmd}` {what} < {limit:.0f} s | {sec:.2f} s | "
                 f"{met(sec < limit)} |")
if has_redis:
    r32 = by.get(("concurrent32", "defender-redis"))
    added = float(r32[6]) if r32 else float("nan")
    cmds = [c for c in rows("redis-commands.tsv") if len(c) == 3]
    cmd_text = ", ".join(f"{s} {c} ({n} inside the server)"
                         for s, c, n in cmds)
    one = bool(cmds) and all(float(c) <= 1.0 for _, c, _ in cmds)
    t.append(f"| Redis: p99 added at 32 concurrent < 1 ms | {added / 1000:.2f}"
             f" ms | {met(added < 1000)} |")
    t.append(f"| Redis: one round trip per step | commands sent per step "
             f"(connection setup included): {cmd_text} | {met(one)} |")
    files = [f for f in rows("redis-files.tsv") if len(f) == 4]
    if files:
        text = "; ".join(f"{lg} login ({res}): {w}" for lg, res, w, _ in files)
        t.append(f"| Redis: the journal is the only local file a login writes "
                 f"(strace) | {text} | "
                 f"{met(all(o == 'yes' for *_, o in files))} |")
else:
    t.append("| Redis targets | Redis store not in this build | not measured |")
tables["targets"] = "\n".join(t)

# The same stacks in a C host (login_phases, run.sh): CPU time of the login
# process over the baseline's, ÷ pam_faillock's, with its interval.
phases = {}
for r in rows("phases.tsv"):
    if len(r) == 8:
        phases.setdefault((r[0], r[1]), {}).setdefault(int(r[2]), []).append(
            (float(r[6]), float(r[4])))
ph = ["| scenario | pam_faillock: CPU over the baseline µs (of it, "
      "pam_authenticate) | pam_defender | ÷ pam_faillock's |",
      "|---|---:|---:|---|"]
for sc in ["success", "failure", "blocked"]:
    st = {k: phases.get((sc, k)) for k in ("baseline", "faillock",
                                             "defender-local")}
    if not all(st.values()):
        continue
    n = min(len(v) for v in st.values())

    def over(pick, col, st=st):
        med = {k: median([x[col] for r in pick for x in v[r]])
               for k, v in st.items()}
        return {k: med[k] - med["baseline"] for k in med}

    def stat(pick):
        o = over(pick, 0)
        return (o["defender-local"] / o["faillock"] if o["faillock"] > 0
                else float("inf"))
    every = list(range(n))
    tot, auth = over(every, 0), over(every, 1)
    ph.append(f"| {sc} | {tot['faillock']:+.0f} ({auth['faillock']:+.0f}) | "
              f"{tot['defender-local']:+.0f} ({auth['defender-local']:+.0f}) "
              f"| **{stat(every):.2f}×**{interval_text(interval(stat, n))} |")
tables["phases"] = "\n".join(ph)

ops = rows("storeops.tsv")
o = ["| operation (store of 100,000 subjects, 1,000,000 attempts) | rows | ms |",
     "|---|---:|---:|"]
o += [f"| {a} | {b} | {c} |" for a, b, c in ops]
for r in rows("defenderctl.tsv"):
    if len(r) == 3:
        o.append(f"| `{r[0]}` (the command; {r[2]} output lines) | | "
                 f"{float(r[1]) * 1000:.0f} |")
tables["storeops"] = "\n".join(o)

before = {(r[0], r[1]): r for r in rows("profile-before.tsv")}
after = {(r[0], r[1]): r for r in rows("profile-after.tsv")}
steps = {(r[0], r[1]): r for r in rows("steps.tsv")}
p = ["| step | pam_defender before: instructions | fsyncs | pam_defender "
     "after: instructions | fsyncs | time µs (CPU µs; page faults) | "
     "pam_faillock: instructions | fsyncs | time µs (CPU µs; page faults) |",
     "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
dat = []
for step in ["preauth", "authfail", "authsucc"]:
    bf = before.get(("defender-local", step), ["", "", "?", "?"])
    af = after.get(("defender-local", step), ["", "", "?", "?"])
    fl = after.get(("faillock", step), ["", "", "?", "?"])
    ts = steps.get(("defender-local", step), ["", "", "", "?", "", "?", "?"])
    tf = steps.get(("faillock", step), ["", "", "", "?", "", "?", "?"])
    ts += ["?"] * (7 - len(ts))
    tf += ["?"] * (7 - len(tf))
    p.append(f"| {step} | {int(bf[2]):,} | {bf[3]} | {int(af[2]):,} | "
             f"{af[3]} | {ts[3]} ({ts[5]}; {ts[6]}) | {int(fl[2]):,} | "
             f"{fl[3]} | {tf[3]} ({tf[5]}; {tf[6]}) |")
    dat.append(f"{step} {bf[2]} {af[2]} {fl[2]}")
tables["profile"] = "\n".join(p)
ld = rows("load.tsv")
base_load = next((float(v) for m, v in ld if m == "no module"), None)
tables["load"] = "\n".join(
    ["| module | CPU µs (median) | added µs |", "|---|---:|---:|"] +
    [f"| {m} | {v} | "
     f"{'—' if m == 'no module' or base_load is None else f'{float(v) - base_load:+.0f}'} |"
     for m, v in ld])
pt = rows("pagetouch.tsv")
tables["pagetouch"] = "\n".join(
    ["| memory access | µs per page |", "|---|---:|"] +
    [f"| {w} | {v} |" for w, v in pt])
lw = rows("lock_waits.tsv")
tables["lockwaits"] = "\n".join(
    ["| waiters | way | locks/s | wait median µs | p99 µs | max µs |",
     "|---:|---|---:|---:|---:|---:|"] +
    [f"| {n} | {w} | {l} | {m} | {p} | {x} |" for n, w, l, m, p, x in lw])
with open(os.path.join(d, "profile.dat"), "w") as f:
    f.write("# step before after faillock\n" + "\n".join(dat) + "\n")

with open(os.path.join(d, "overhead.dat"), "w") as f:
    f.write("scenario " + " ".join(lockout) + "\n")
    for sc in ["success", "mixed", "failure", "blocked"]:
        vals = [by[(sc, s)][5] if (sc, s) in by else "0" for s in lockout]
        f.write(sc + " " + " ".join(vals) + "\n")
stacks = ["baseline"] + lockout
with open(os.path.join(d, "concurrency.dat"), "w") as f:
    f.write("concurrency " + " ".join(f"{s} {s}" for s in stacks) + "\n")
    for sc, c in [("mixed", 1), ("concurrent8", 8), ("concurrent32", 32)]:
        vals = []
        for s in stacks:
            r = by.get((sc, s))
            vals += [r[8], f"{float(r[4]) / 1000:.2f}"] if r else ["0", "0"]
        f.write(f"{c} " + " ".join(vals) + "\n")
with open(os.path.join(d, "bigstore.dat"), "w") as f:
    f.write("# stack median_ms p99_ms\n")
    for s in ["baseline", "defender-local", "defender-local-big"]:
        r = by.get(("bigstore", s))
        if r:
            f.write(f"{s} {float(r[3]) / 1000:.2f} {float(r[4]) / 1000:.2f}\n")

with open(os.path.join(d, "ncols.gp"), "w") as f:
    f.write(f"cols = {len(lockout) + 1}\nccols = {2 * len(stacks) + 1}\n")

machine = open(os.path.join(d, "machine.txt")).read().strip()
with open(os.path.join(d, "results.md"), "w") as f:
    f.write("## Machine\n\n```\n" + machine + "\n```\n\n")
    f.write("## Targets\n\n" + tables["targets"] + "\n\n")
    f.write("## Logins (fork to waitpid, per login)\n\n" + tables["logins"]
            + "\n\n")
    if len(tables["phases"].splitlines()) > 2:
        f.write("## The same logins in a C host (login_phases)\n\n" +
                tables["phases"] + "\n\n")
    f.write("## Per step\n\n" + tables["profile"] + "\n\n")
    f.write("## Loading the module into a C program\n\n" + tables["load"]
            + "\n\n")
    f.write("## Cost of a page on this machine\n\n" + tables["pagetouch"]
            + "\n\n")
    f.write("## Lock waits (lock_waits.cc)\n\n" + tables["lockwaits"]
            + "\n\n")
    f.write("## Administrative operations\n\n" + tables["storeops"] + "\n")
print(open(os.path.join(d, "results.md")).read())
