#!/usr/bin/env python3
"""Runner for PumpkinLB's black-box integration tests.

    python3 tests/integration/run.py [--wine] [--processes N]
        [--exclude TEXT]... BINARY [-j N] [NAME_FILTER...]

Discovers functions named test_* in tests/integration/test_*.py and runs
each in its own subprocess with a timeout (default 60 s; a test overrides
it with a `timeout` attribute). A test with `exclusive = True` runs alone;
others run up to N at a time (default 2, at most 2). A filter keeps tests
whose name contains it, or every test of the file it names
(test_relay.py). Prints `PASS name (1.2s)` or `FAIL name: reason`
plus details, and ends with `integration: N passed, N failed`. Under a
PASS line come the scenario's notes (lbtest.note(): figures it measured,
or that it ran scaled down). Exit status 0 only if nothing failed.

With LBTEST_SANITIZE=1 (`make test SANITIZE=1`) the ASan/UBSan reports of
every process a scenario starts (forked workers too) are written to files
of that scenario (log_path in ASAN_OPTIONS/UBSAN_OPTIONS); any report
fails the scenario and is printed with it.

On Windows itself (or with LBTEST_NATIVE_WINDOWS=1), BINARY is
pumpkinlb.exe, started directly; scenarios marked posix_only are listed
as not applicable on Windows, as under Wine, and the service and MSI
scenarios drive the host's own SCM and msiexec: run them from an elevated
prompt on a test host (they install and remove service PumpkinLB).

--wine (or LBTEST_WINE=1): BINARY is the Windows build, run as
`wine BINARY ...` in the current WINEPREFIX (keep a wineserver up, see
tests/wine/run.sh). Scenarios marked posix_only are not run; they are
listed as `N/A name: not applicable on Windows (reason)` and counted
neither as passed nor as failed. Likewise, without --wine, scenarios marked
windows_only are listed as `N/A name: not applicable on POSIX (reason)`,
and so are, on either platform, scenarios marked with lbtest.needs()
whose probe fails on this host (no IPv6 loopback, say).

--exclude TEXT (repeatable) leaves out the scenarios whose name has TEXT.

--processes N (or LBTEST_PROCESSES=N): every config a scenario writes
gets `processes = N` unless it sets processes itself (lbtest.with_processes):
under Wine the suite then runs with N loops in the one process.

PUMPKINLB_POLL=1 in the environment reaches every balancer a scenario
starts: on Linux its workers then use the portable poll() backend instead
of epoll (`make test` runs part of the suite that way too); the runner
says so in its first line.
"""

import importlib.util
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TIMEOUT = 60.0
MAX_JOBS = 2


def load_module(path):
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def discover(filters, wine=False, excludes=()):
    """([(name, path, timeout, exclusive)], [(name, reason)]) in file and
    definition order; the second list holds the scenarios that do not
    apply on this platform: posix_only ones on Windows (wine is true for
    Wine and native Windows alike), windows_only ones
    otherwise (the attribute's value is the reason), linux_only ones with
    LBTEST_PORTABLE set, and needs() ones whose probe fails here."""
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    import lbtest  # LBTEST_PORTABLE, as the scenarios see it
    tests, not_applicable = [], []
    for fname in sorted(os.listdir(HERE)):
        if not (fname.startswith("test_") and fname.endswith(".py")):
            continue
        path = os.path.join(HERE, fname)
        mod = load_module(path)
        for name, fn in vars(mod).items():
            if not (name.startswith("test_") and callable(fn)):
                continue
            if getattr(fn, "__module__", None) != mod.__name__:
                continue
            if filters and not any(f in name or f == fname
                                   for f in filters):
                continue
            if any(x in name for x in excludes):
                continue
            other = "posix_only" if wine else "windows_only"
            if getattr(fn, other, None):
                not_applicable.append((name, getattr(fn, other)))
                continue
            if lbtest.PORTABLE and getattr(fn, "linux_only", None):
                not_applicable.append((name, fn.linux_only))
                continue
            needs = getattr(fn, "needs", None)
            if needs and not needs[0]():
                not_applicable.append((name, needs[1]))
                continue
            tests.append((name, path,
                          float(getattr(fn, "timeout", DEFAULT_TIMEOUT)),
                          bool(getattr(fn, "exclusive", False))))
    return tests, not_applicable


# ---------------------------------------------------------------- child side

class TestTimeout(Exception):
    pass


def _on_term(signum, frame):
    raise TestTimeout("runner stopped the test (timeout)")


# What sanitizer runtimes print on stderr: gcc's UBSan ignores log_path,
# so its "runtime error:" lines are only found there.
SANITIZER_RE = re.compile(r"runtime error: |ERROR: (Address|Leak)Sanitizer|"
                          r"UndefinedBehaviorSanitizer|AddressSanitizer")


def _sanitizing():
    return os.environ.get("LBTEST_SANITIZE", "") not in ("", "0")


def watch_outputs(lbtest):
    """Sanitizer builds: records the output of every lbtest.run_binary()
    call and of every balancer once its Scope stopped it (before the Scope
    deletes its files); returns the list it fills."""
    outputs = []
    if not _sanitizing():
        return outputs
    real_run, real_exit = lbtest.run_binary, lbtest.Scope.__exit__

    def run_binary(args, *a, **kw):
        rc, out, err = real_run(args, *a, **kw)
        outputs.append((" ".join(args), out + err))
        return rc, out, err

    def scope_exit(self, *exc):
        keep = os.environ.get("LBTEST_KEEP")
        os.environ["LBTEST_KEEP"] = "1"
        try:
            real_exit(self, *exc)
        finally:
            if keep is None:
                del os.environ["LBTEST_KEEP"]
        for b in self.balancers:
            outputs.append(("balancer " + b.name, b.log()))
        if not keep and exc[0] is None:
            import shutil
            shutil.rmtree(self.dir, ignore_errors=True)
        return False

    lbtest.run_binary = run_binary
    lbtest.Scope.__exit__ = scope_exit
    return outputs


def check_sanitizer_output(lbtest, outputs):
    """Sanitizer builds: fails if a balancer's output has a report."""
    if not _sanitizing():
        return
    seen = [("balancer " + b.name, b.log()) for b in lbtest.STARTED]
    for what, text in outputs + seen:
        m = SANITIZER_RE.search(text)
        if m:
            start = max(0, text.rfind("\n", 0, m.start()) + 1)
            lbtest.fail("sanitizer report in the output of %s" % what,
                        report=text[start:start + 3000])


def child_main(binary, path, name):
    """Runs one test in this process; exit 0 on pass, 1 on failure."""
    signal.signal(signal.SIGTERM, _on_term)
    sys.path.insert(0, HERE)
    import lbtest
    lbtest.BINARY = binary
    outputs = watch_outputs(lbtest)
    try:
        mod = load_module(path)
        getattr(mod, name)()
        check_sanitizer_output(lbtest, outputs)
    except BaseException as e:
        if isinstance(e, lbtest.TestFailure):
            reason = str(e)
        else:
            reason = "%s: %s" % (type(e).__name__, e)
        tb = traceback.extract_tb(e.__traceback__)
        where = [f for f in tb if os.path.dirname(os.path.abspath(
            f.filename)) == HERE and not f.filename.endswith("run.py")]
        print("REASON " + reason.replace("\n", "\n  "))
        if where:
            print("  at " + ", ".join("%s:%d" % (os.path.basename(f.filename),
                                                  f.lineno)
                                       for f in where[-3:]))
        if not isinstance(e, (lbtest.TestFailure, TestTimeout)):
            print("  traceback:\n" + "".join(
                "    " + l for l in traceback.format_exception(
                    type(e), e, e.__traceback__)[-6:]))
        for b in lbtest.STARTED:
            print("  --- balancer %s (pid %s, files kept in %s) log tail ---"
                  % (b.name, b.proc.pid if b.proc else "?", b.workdir))
            for line in b.tail(25).splitlines():
                print("  | " + line)
        sys.stdout.flush()
        os._exit(1)
    sys.stdout.flush()
    os._exit(0)


# --------------------------------------------------------------- runner side

def _wine():
    return os.environ.get("LBTEST_WINE", "") not in ("", "0")


def _native_windows():
    return sys.platform == "win32" or os.environ.get(
        "LBTEST_NATIVE_WINDOWS", "") not in ("", "0")


# The hard stop where there is no SIGKILL (Windows: TerminateProcess).
KILL = getattr(signal, "SIGKILL", signal.SIGTERM)


def _group():
    """Popen arguments for a process group of its own (see lbtest)."""
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def reap_leftovers(pidfile):
    """Kills, by PID, any balancer a killed test left behind (and its
    workers), with lbtest's stop sequence (Ctrl+C first under Wine).
    Returns the PIDs it had to kill."""
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    import lbtest  # after main() set LBTEST_WINE
    killed = []
    try:
        with open(pidfile) as f:
            entries = [tuple(map(int, l.split())) for l in f if l.strip()]
    except OSError:
        return killed
    for pid, start in entries:
        if not lbtest.alive(pid, start):
            continue
        kids = lbtest.children_of(pid)
        lbtest.kill_pid(pid, start, grace=3.0)
        killed.append(pid)
        for kpid, kstart in kids:
            lbtest.kill_pid(kpid, kstart, grace=3.0)
    return killed


def sanitizer_reports(prefix):
    """[(path, text)] of the sanitizer logs prefix.PID (see Job)."""
    import glob
    found = []
    for path in sorted(glob.glob(glob.escape(prefix) + ".*")):
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        found.append((path, text[:20000]))
    return found


class Job:
    def __init__(self, binary, test, tmpdir):
        self.name, self.path, self.timeout, self.exclusive = test
        self.out_path = os.path.join(tmpdir, self.name + ".out")
        self.pidfile = os.path.join(tmpdir, self.name + ".pids")
        env = dict(os.environ, LBTEST_PIDFILE=self.pidfile,
                   LBTEST_BINARY=binary, PYTHONDONTWRITEBYTECODE="1")
        # A sanitizer build (LBTEST_SANITIZE=1, `make test SANITIZE=1`):
        # every process's ASan/UBSan report, forked workers included, goes
        # to a file of this scenario's, and any such file fails it.
        self.san_prefix = os.path.join(tmpdir, self.name + ".sanitizer")
        if _sanitizing():
            for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
                env[var] = "%s:log_path=%s" % (env.get(var, ""),
                                               self.san_prefix)
        self.out = open(self.out_path, "wb")
        self.start = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--child", binary,
             self.path, self.name], stdout=self.out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            **_group())
        self.timed_out = False
        self.term_sent = None

    def poll(self):
        """Returns True when finished; enforces the timeout."""
        if self.proc.poll() is not None:
            return True
        now = time.monotonic()
        if self.term_sent is None and now - self.start > self.timeout:
            self.timed_out = True
            self.term_sent = now
            os.kill(self.proc.pid, signal.SIGTERM)
        elif self.term_sent is not None and now - self.term_sent > 20:
            os.kill(self.proc.pid, KILL)
            self.proc.wait(10)
            return True
        return False

    def result(self):
        self.out.close()
        elapsed = time.monotonic() - self.start
        leftovers = reap_leftovers(self.pidfile)
        with open(self.out_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        rc = self.proc.returncode
        reports = sanitizer_reports(self.san_prefix)
        if rc == 0 and not self.timed_out and not leftovers and not reports:
            notes = [l[5:] for l in text.splitlines() if l.startswith("NOTE ")]
            return True, "PASS %s (%.1fs)" % (self.name, elapsed) + "".join(
                "\n    " + n for n in notes)
        reason, details = "exit status %r" % rc, text.rstrip()
        if "REASON " in text:
            head, _, rest = text.partition("REASON ")
            first, _, more = rest.partition("\n")
            reason = first
            details = (head + more).rstrip()
        if reports:
            reason = "sanitizer report(s) from %d process(es); %s" % (
                len(reports), reason)
            details += "".join("\n  --- %s ---\n%s" % (path, report)
                               for path, report in reports)
        if self.timed_out:
            reason = "timed out after %.0fs; %s" % (self.timeout, reason)
        if leftovers:
            details += "\n  (runner killed leftover balancer pids %s)" % (
                leftovers,)
        msg = "FAIL %s: %s" % (self.name, reason)
        if details:
            msg += "\n" + "\n".join("    " + l for l in details.splitlines())
        return False, msg


def main(argv):
    if len(argv) >= 2 and argv[1] == "--child":
        child_main(*argv[2:5])
        return 1
    args = argv[1:]
    if "--wine" in args:
        args.remove("--wine")
        os.environ["LBTEST_WINE"] = "1"
    if "--processes" in args:
        i = args.index("--processes")
        os.environ["LBTEST_PROCESSES"] = str(int(args[i + 1]))
        del args[i:i + 2]
    excludes = []
    while "--exclude" in args:
        i = args.index("--exclude")
        excludes.append(args[i + 1])
        del args[i:i + 2]
    wine = _wine()
    windows = wine or _native_windows()
    if wine:
        # Quiet wine (no fixme/wine32 chatter in the balancer's stderr)
        # and no Mono/Gecko installation prompts in a fresh prefix.
        os.environ.setdefault("WINEDEBUG", "-all")
        os.environ.setdefault("WINEDLLOVERRIDES", "mscoree,mshtml=")
    jobs = MAX_JOBS
    if "-j" in args:
        i = args.index("-j")
        jobs = max(1, min(MAX_JOBS, int(args[i + 1])))
        del args[i:i + 2]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    binary = os.path.abspath(args[0])
    tests, not_applicable = discover(args[1:], windows, excludes)
    if wine:
        print("Wine mode: %s runs through wine" % binary, flush=True)
    elif windows:
        print("Windows mode: %s runs natively" % binary, flush=True)
    elif os.environ.get("PUMPKINLB_POLL", "") not in ("", "0"):
        print("PUMPKINLB_POLL is set: the balancers use the poll() backend",
              flush=True)
    if os.environ.get("LBTEST_PROCESSES"):
        print("processes = %s in every config the scenarios write"
              % os.environ["LBTEST_PROCESSES"], flush=True)
    tmpdir = tempfile.mkdtemp(prefix="lbrun-")
    passed = failed = 0
    pending = list(tests)
    running = []
    suite_start = time.monotonic()
    try:
        while pending or running:
            while pending:
                nxt = pending[0]
                if nxt[3] and running:
                    break
                if running and (running[0].exclusive
                                or len(running) >= jobs):
                    break
                running.append(Job(binary, pending.pop(0), tmpdir))
            for job in list(running):
                if job.poll():
                    running.remove(job)
                    ok, msg = job.result()
                    print(msg, flush=True)
                    passed += ok
                    failed += not ok
            time.sleep(0.05)
    finally:
        for job in running:
            try:
                os.kill(job.proc.pid, signal.SIGTERM)
                job.proc.wait(20)
            except (OSError, subprocess.TimeoutExpired):
                os.kill(job.proc.pid, KILL)
            reap_leftovers(job.pidfile)
    import shutil
    shutil.rmtree(tmpdir, ignore_errors=True)
    platform = "Windows" if windows else "POSIX"
    for name, reason in not_applicable:
        print("N/A %s: not applicable on %s (%s)" % (name, platform, reason))
    if not tests:
        print("no applicable tests matched" if not_applicable
              else "no tests matched", file=sys.stderr)
    if not_applicable:
        print("(%d not applicable on %s, not run: %s)" % (
            len(not_applicable), platform,
            ", ".join(n for n, _ in not_applicable)))
    print("(suite took %.1fs)" % (time.monotonic() - suite_start))
    print("integration: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and tests else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
