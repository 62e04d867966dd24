#!/usr/bin/env python3
"""Runs the balancer under valgrind through a short black-box scenario and
fails on any memory error or leak, in the parent and in every worker.

    python3 tests/valgrind/run.py BUILD/pumpkinlb

valgrind --leak-check=full --error-exitcode=99 --trace-children=yes, one
log per process (forked workers and the name-resolver helper included).
Scenario (127.0.0.1 only, bounded, about 20-40 s under valgrind):
  * listener A: backends = a refused port, then an echo backend; 12
    sequential clients, so about half start on the refused backend and are
    retried on the echo one ("Retrying request ... connection refused");
  * listener B (pre_resolve_workers = 0 with the name "localhost"): 4 clients
    through the per-connection resolver helper process;
  * one more client on A is left idle and open, then SIGTERM with
    graceful_shutdown_timeout = 1: that connection is cut at the deadline.
Checks: the balancer exits 0 (a worker exiting 99 would make it 1), every
valgrind log has "ERROR SUMMARY: 0 errors" and "definitely lost" /
"indirectly lost" of 0 bytes (or "All heap blocks were freed"), and there is
a log for the parent, the worker(s) and the resolver helper. The helper
is SIGKILLed by its worker at stop (by design: it may be stuck in DNS), so
valgrind writes no leak summary for it: its log is only checked for
errors.
"""

import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.dont_write_bytecode = True
import lbtest  # noqa: E402


def fail(msg):
    print("valgrind: FAIL: " + msg)
    sys.exit(1)


def echo_round(port, i):
    payload = lbtest.pattern_bytes(20000 + i, 700 + i)
    with lbtest.connect(port, timeout=30) as c:
        c.sendall(payload)
        c.shutdown(socket.SHUT_WR)
        got = lbtest.drain(c)
    if got != payload:
        fail("client %d on port %d: echo mismatch (%d of %d bytes)"
             % (i, port, len(got), len(payload)))


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    binary = os.path.abspath(argv[1])
    if not shutil.which("valgrind"):
        fail("valgrind not installed (apt-get install valgrind)")
    work = tempfile.mkdtemp(prefix="lbvalgrind-")
    echo = lbtest.Backend(lbtest.echo)
    # Three distinct ports: picked apart, the refused one could come back
    # as a listener's (seen: a balancer relaying to itself, no retry).
    refused, pa, pb = lbtest.free_ports(3)  # nothing listens on refused
    cfg = os.path.join(work, "vg.cfg")
    with open(cfg, "w") as f:
        f.write("[options]\n"
                "pre_resolve_workers = 0\n"
                "graceful_shutdown_timeout = 1\n"
                "connect_timeout = 10\n"
                "[mappings]\n"
                "127.0.0.1:%d = 127.0.0.1:%d, 127.0.0.1:%d\n"
                "127.0.0.1:%d = localhost:%d\n"
                % (pa, refused, echo.port, pb, echo.port))
    log_pattern = os.path.join(work, "vg.%p.log")
    out = open(os.path.join(work, "stdout"), "wb")
    err = open(os.path.join(work, "stderr"), "wb")
    t0 = time.monotonic()
    proc = subprocess.Popen(
        ["valgrind", "--leak-check=full", "--error-exitcode=99",
         "--trace-children=yes", "--errors-for-leak-kinds=definite,indirect",
         "--log-file=" + log_pattern, binary, cfg],
        stdin=subprocess.DEVNULL, stdout=out, stderr=err,
        start_new_session=True)
    idle = None
    try:
        for port in (pa, pb):
            if not lbtest.wait_until(lambda: lbtest.is_listening(port), 60,
                                     0.1):
                fail("balancer not listening on %d under valgrind" % port)
        for i in range(12):
            echo_round(pa, i)
        for i in range(4):
            echo_round(pb, 100 + i)
        idle = lbtest.connect(pa, timeout=30)
        idle.sendall(b"x")
        idle.recv(1)  # relayed both ways: the session is up
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            fail("balancer did not exit within 60 s of SIGTERM")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        if idle:
            idle.close()
        echo.close()
        out.close()
        err.close()
    with open(os.path.join(work, "stderr"), "rb") as f:
        stderr = f.read().decode("utf-8", "replace")
    with open(os.path.join(work, "stdout"), "rb") as f:
        stdout = f.read().decode("utf-8", "replace")
    logs = sorted(glob.glob(os.path.join(work, "vg.*.log")))
    bad = []
    summary = []
    helpers = 0
    for path in logs:
        text = open(path, encoding="utf-8", errors="replace").read()
        pid = path.split(".")[-2]
        errs = re.search(r"ERROR SUMMARY: (\d+) errors", text)
        parent = re.search(r"Parent PID: (\d+)", text)
        if parent and parent.group(1) not in (str(proc.pid),
                                              str(os.getpid())):
            # A worker's resolver helper: the worker SIGKILLs it when it
            # stops (it may sit in a slow DNS query), so valgrind never
            # writes its summary; any error would still be in the log.
            helpers += 1
            found = re.findall(r"^==\d+== (?:Invalid|Conditional|Use of|"
                               r"Syscall param|Mismatched|Source and "
                               r"destination|Argument|Process terminating)"
                               r".*$", text, re.M)
            summary.append("  pid %s: resolver helper (SIGKILLed by its "
                           "worker at stop, no leak summary): %d error "
                           "line(s)" % (pid, len(found)))
            if found:
                bad.append(path)
            continue
        definite = re.search(r"definitely lost: ([\d,]+) bytes", text)
        indirect = re.search(r"indirectly lost: ([\d,]+) bytes", text)
        freed = "All heap blocks were freed" in text
        d = int(definite.group(1).replace(",", "")) if definite else 0
        n = int(indirect.group(1).replace(",", "")) if indirect else 0
        summary.append("  pid %s: %s errors, definitely lost %d, indirectly "
                       "lost %d%s" % (pid, errs.group(1) if errs else "?", d,
                                      n, " (all heap blocks freed)"
                                      if freed else ""))
        if not errs or errs.group(1) != "0" or d or n or \
                not (definite or freed):
            bad.append(path)
    print("valgrind: %d process log(s), scenario took %.1fs"
          % (len(logs), time.monotonic() - t0))
    print("\n".join(summary))
    problems = []
    if rc != 0:
        problems.append("balancer exit status %r (expected 0)" % rc)
    if len(logs) - helpers < 3 or helpers < 1:
        problems.append("expected logs for the parent, two workers and a "
                        "resolver helper; got %d log(s), %d helper(s)"
                        % (len(logs), helpers))
    if "Retrying request from" not in stderr + stdout:
        problems.append("no retry was logged (refused backend)")
    if "Closing 1 remaining connection" not in stderr + stdout:
        problems.append("the idle connection was not cut at the deadline")
    if bad or problems:
        for path in bad:
            print("---- %s ----" % path)
            print(open(path, encoding="utf-8", errors="replace").read())
        print("---- balancer output ----\n" + stdout + stderr)
        fail("; ".join(problems + ["valgrind findings in %d log(s)"
                                   % len(bad)] if bad else problems))
    shutil.rmtree(work, ignore_errors=True)
    print("valgrind: PASS (no errors, nothing lost)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
