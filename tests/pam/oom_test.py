#!/usr/bin/env python3
"""Memory running out inside pam_defender, at every allocation of a step.

A login process can run out of memory at any point. The module must then
neither crash its host (an exception escaping, std::terminate, a broken
exception state) nor let anyone in whom it should keep out: it follows its
failure policy. fail_malloc.so (LD_PRELOAD) fails every allocation the
module makes from the k-th on; for each k from 1 to the number of
allocations a step makes, oom_step runs one pam_authenticate through the
real libpam with the test module, and this checks:
  - the process exits normally, having printed pam_authenticate's result;
  - preauth with fail_closed, for a user who is blocked: PAM_AUTH_ERR at
    every k (refused, or failing closed), as without the failure; also
    with the configuration compiled in each run, so that memory runs out
    in the configuration plugin as well;
  - preauth without fail_closed, for the same user: PAM_AUTH_ERR, or
    PAM_IGNORE (failing open; libpam then returns PAM_PERM_DENIED for the
    one-line stack), never PAM_SUCCESS; and PAM_AUTH_ERR when the last
    allocation fails, after the store has refused (memory running out in
    a log line or the message keeps the refusal);
  - authsucc with fail_closed, for a user who is not blocked:
    PAM_SUCCESS or PAM_AUTH_ERR, never PAM_IGNORE; PAM_AUTH_ERR at some k.

Usage: oom_test.py OOM_STEP FAIL_MALLOC_SO
(environment: DEFENDER_TEST_MODULE, PAM_DEFENDER_TEST_STATEDIR, from meson)
"""
import os
import subprocess
import sys
import tempfile

PAM_SUCCESS, PAM_AUTH_ERR = 0, 7
# What pam_authenticate returns when every module of the stack returned
# PAM_IGNORE (each stack here has one line): the module failed open.
IGNORED = 6  # PAM_PERM_DENIED

step, preload = sys.argv[1], sys.argv[2]
module = os.environ["DEFENDER_TEST_MODULE"]
failures = []


def run(confdir, service, user, fail_at=None, count_file=None,
        statedir=None):
    env = dict(os.environ)
    if statedir is not None:
        env["PAM_DEFENDER_TEST_STATEDIR"] = statedir
    env.pop("PD_FAIL_MALLOC_AT", None)
    if fail_at is not None:
        env["LD_PRELOAD"] = preload
        env["PD_FAIL_MALLOC_AT"] = str(fail_at)
    if count_file is not None:
        env["LD_PRELOAD"] = preload
        env["PD_MALLOC_COUNT_FILE"] = count_file
    host = "192.0.2.66" if user == "mallory" else "192.0.2.10"
    p = subprocess.run([step, confdir, service, user, host], env=env,
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        failures.append(f"{service} {user} k={fail_at}: exit status "
                        f"{p.returncode}, stderr {p.stderr!r}")
        return None
    return int(p.stdout.strip())


with tempfile.TemporaryDirectory() as work:
    confdir = os.path.join(work, "pam.d")
    os.mkdir(confdir, 0o700)
    conf = os.path.join(work, "defender.toml")
    with open(conf, "w") as f:
        f.write("[lockout]\nfailure_limit = 1\ncooloff_time = 3600\n\n"
                f"[store]\ndir = \"{work}/store\"\n")
    os.chmod(conf, 0o600)
    # Every run at a time well after the file's last change: a file changed
    # within a second of a login is parsed, not compiled (doc/DESIGN.md
    # §11.1), and the "compiling" cases must see a snapshot written.
    os.environ["PAM_DEFENDER_TEST_NOW"] = str(int(os.stat(conf).st_ctime) + 60)
    for name, args in [("fail", "authfail"),
                       ("pre-closed", "preauth fail_closed"),
                       ("pre-open", "preauth"),
                       ("succ-closed", "authsucc fail_closed")]:
        with open(os.path.join(confdir, name), "w") as f:
            f.write(f"auth required {module} {args} conf={conf}\n")

    # Two failures block mallory and 192.0.2.66, mallory's host (limit 1);
    # alice, from 192.0.2.10, is never blocked.
    for _ in range(2):
        assert run(confdir, "fail", "mallory") == PAM_AUTH_ERR
    assert run(confdir, "pre-closed", "mallory") == PAM_AUTH_ERR
    assert run(confdir, "succ-closed", "alice") == PAM_SUCCESS

    # (service, user, allowed results, compile): with compile, each run has
    # a state directory of its own, so the configuration is compiled by
    # the plugin (pam_defender.d/config.so) in every run, and memory runs
    # out in the plugin too.
    cases = [("pre-closed", "mallory", {PAM_AUTH_ERR}, False),
             ("pre-closed", "mallory", {PAM_AUTH_ERR}, True),
             ("pre-open", "mallory", {PAM_AUTH_ERR, IGNORED}, False),
             ("succ-closed", "alice", {PAM_SUCCESS, PAM_AUTH_ERR}, False)]
    for service, user, allowed, compile_ in cases:
        label = f"{service} {user}" + (" (compiling)" if compile_ else "")

        def statedir():
            return tempfile.mkdtemp(dir=work) if compile_ else None

        count_file = os.path.join(work, "count")
        first_statedir = statedir()
        assert run(confdir, service, user, count_file=count_file,
                   statedir=first_statedir) in allowed
        if compile_ and not any(name.endswith(".snapshot")
                                for _, _, names in os.walk(first_statedir)
                                for name in names):
            failures.append(f"{label}: no configuration was compiled")
        with open(count_file) as f:
            n = int(f.read())
        if n < 20:
            failures.append(f"{label}: only {n} allocations counted")
        results = []
        for k in range(1, n + 1):
            rc = run(confdir, service, user, fail_at=k, statedir=statedir())
            results.append(rc)
            if rc is not None and rc not in allowed:
                failures.append(f"{label}: allocation {k} of {n} failing: "
                                f"result {rc}, expected one of "
                                f"{sorted(allowed)}")
        seen = {rc: results.count(rc) for rc in set(results)}
        print(f"{label}: {n} allocations, results {seen}")
        if service == "succ-closed" and PAM_AUTH_ERR not in seen:
            failures.append("succ-closed: no allocation failure failed "
                            "closed")
        if service == "pre-open":
            # Once the store has refused mallory, memory running out in the
            # log lines or the message must not turn the refusal into
            # failing open: the last allocation failing gives PAM_AUTH_ERR
            # (the run of them at the end is printed).
            tail = len(results)
            while tail > 0 and results[tail - 1] == PAM_AUTH_ERR:
                tail -= 1
            if tail == len(results):
                failures.append("pre-open: the last allocation failing "
                                f"gave {results[-1]}, not a refusal")
            else:
                print(f"pre-open: refused from allocation {tail + 1} on")

if failures:
    print("FAIL:\n  " + "\n  ".join(failures[:20]))
    sys.exit(1)
print("ok")
