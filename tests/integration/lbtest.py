"""Helpers for PumpkinLB's black-box integration tests.

Everything here talks to the balancer from the outside: it writes a config
file, starts the binary, speaks TCP to it on 127.0.0.1 and reads its logs.
Python 3 standard library only.

Rules the helpers enforce for every scenario:
  * only 127.0.0.1 traffic; ports are picked at run time;
  * every wait is bounded (deadline loops, socket timeouts);
  * every process started is stopped by its PID (SIGTERM, then SIGKILL;
    under Wine: Ctrl+C, a second Ctrl+C, then SIGKILL) when the Scope that
    started it closes, also when the test fails.

Native Windows mode (LBTEST_NATIVE_WINDOWS=1, or Python running on
Windows): BINARY is pumpkinlb.exe, started directly in a new process group;
the graceful stop is CTRL_BREAK_EVENT to that group, the hard stop
TerminateProcess; processes are watched through the Win32 API and listening
ports through `netstat -ano`. WINDOWS is true in both Windows modes.

Wine mode (LBTEST_WINE=1, set by `run.py --wine`): BINARY is the Windows
build (pumpkinlb.exe) and is started as `wine BINARY ARGS...`.  The PID
tracked is the wine process, which is the Windows process itself; SIGINT to
it is Ctrl+C (CTRL_C_EVENT, the graceful stop), SIGTERM kills it without
running any handler, exit statuses pass through.  Output lines end in CRLF:
log(), stdout(), stderr() and run_binary() turn CRLF into LF.  Scenarios use
GRACEFUL for "the platform's graceful stop signal", WINE / pick() to scale
load, and @posix_only(reason) for mechanisms Windows does not have
(@windows_only(reason) for the converse). @needs(probe, reason) marks a
scenario that needs something a host may lack, such as IPv6 on ::1.
"""

import hashlib
import os
import random
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

BINARY = os.environ.get("LBTEST_BINARY", "")

# Wine mode: the Windows build run through wine; native mode: on Windows
# itself (see the module docstring).
WINE = os.environ.get("LBTEST_WINE", "") not in ("", "0")
NATIVE = (sys.platform == "win32" or
          os.environ.get("LBTEST_NATIVE_WINDOWS", "") not in ("", "0"))
WINDOWS = WINE or NATIVE
PLATFORM = ("Windows (Wine)" if WINE else "Windows" if NATIVE else "POSIX")

# The graceful stop: SIGTERM on POSIX; Ctrl+C under Wine, where SIGINT to
# the wine process is delivered as CTRL_C_EVENT (SIGTERM kills wine at once);
# Ctrl+Break to the balancer's process group on Windows.
if NATIVE:
    GRACEFUL = getattr(signal, "CTRL_BREAK_EVENT", signal.SIGTERM)
elif WINE:
    GRACEFUL = signal.SIGINT
else:
    GRACEFUL = signal.SIGTERM
# Ctrl+C's counterpart: SIGINT (Ctrl+C under Wine); on Windows Ctrl+Break,
# since Ctrl+C cannot be sent to one process group.
INTERRUPT = getattr(signal, "CTRL_BREAK_EVENT", signal.SIGINT) if NATIVE \
    else signal.SIGINT
# The hard stop: SIGKILL, or TerminateProcess (os.kill's SIGTERM) on Windows.
KILL = getattr(signal, "SIGKILL", signal.SIGTERM)


def popen_group():
    """Popen arguments that give a started process a group of its own:
    a session on POSIX, a console process group on Windows (what
    CTRL_BREAK_EVENT is sent to)."""
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


# LBTEST_PROCESSES=N (run.py --processes N): every config a scenario
# writes gets `processes = N` (see with_processes), so the whole suite
# runs again with N loops (Windows) or N workers per listener (POSIX).
PROCESSES = os.environ.get("LBTEST_PROCESSES", "")


def with_processes(text):
    """text (a config, str or bytes) with `processes = PROCESSES` in an
    [options] section appended at its end (line numbers of what is there
    stay), unless PROCESSES is unset or the config sets processes."""
    if not PROCESSES:
        return text
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) \
        else text
    if re.search(r"(?mi)^[ \t]*processes[ \t]*[=:]", raw):
        return text
    tail = "\n[options]\nprocesses = %s\n" % PROCESSES
    return text + tail.encode() if isinstance(text, bytes) else text + tail


def pick(posix, wine):
    """posix, or wine in Wine mode: for load that is scaled down (or time
    bounds widened) only because Wine is slow."""
    return wine if WINE else posix


def posix_only(reason):
    """Marks a scenario that tests a POSIX-only mechanism; in Wine mode the
    runner lists it as not applicable on Windows, with reason."""
    def mark(fn):
        fn.posix_only = reason
        return fn
    return mark


# make test-portable: the binary was built with __linux__ undefined.
PORTABLE = os.environ.get("LBTEST_PORTABLE", "") not in ("", "0")


def linux_only(reason):
    """Marks a scenario that needs a Linux-only mechanism (epoll, SIOCOUTQ,
    ...): with LBTEST_PORTABLE set (`make test-portable`, a build with
    __linux__ undefined, as on Cygwin) the runner lists it as not
    applicable, with reason."""
    def mark(fn):
        fn.linux_only = reason
        return fn
    return mark


def windows_only(reason):
    """Marks a scenario that tests a Windows-only mechanism (services, MSI);
    without Wine mode the runner lists it as not applicable on POSIX."""
    def mark(fn):
        fn.windows_only = reason
        return fn
    return mark


def needs(probe, reason):
    """Marks a scenario that needs what a host may lack (IPv6 on the
    loopback, say): the runner calls probe() when it collects scenarios,
    and when that is false lists this one as not applicable, with reason,
    instead of running it."""
    def mark(fn):
        fn.needs = (probe, reason)
        return fn
    return mark


def have_ipv6_loopback():
    """True if a TCP socket can bind ::1 here."""
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


def command(args):
    """argv that starts the balancer with args (through wine in Wine mode)."""
    if WINE and not NATIVE:
        return ["wine", BINARY] + list(args)
    return [BINARY] + list(args)


def check_binary():
    """Fails unless the binary (and wine in Wine mode) can be run."""
    if WINE or NATIVE:
        import shutil
        true(BINARY and os.path.isfile(BINARY),
             "Windows balancer binary not found", path=BINARY)
        true(NATIVE or shutil.which("wine"), "wine not found in PATH")
    else:
        true(BINARY and os.access(BINARY, os.X_OK),
             "balancer binary not found or not executable", path=BINARY)


def text_of(data):
    """Decodes balancer output; under Wine CRLF line ends become LF."""
    text = data.decode("utf-8", "replace")
    if WINDOWS:
        text = text.replace("\r\n", "\n")
    return text


LOG_STAMP = r"\[ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} \] "
LOG_LINE_RE = re.compile(r"^" + LOG_STAMP)

# Every balancer started in this process, so the runner can print log tails
# when a scenario fails.
STARTED = []


# --------------------------------------------------------------------------
# assertions

class TestFailure(AssertionError):
    """A failed check; str() carries both operands."""


def _short(value, limit=600):
    text = repr(value)
    if len(text) > limit:
        text = text[:limit] + "... (%d chars)" % len(text)
    return text


def fail(what, **details):
    """Fails the scenario with a message and named details."""
    lines = [what]
    for key, value in details.items():
        lines.append("    %s: %s" % (key, _short(value)))
    raise TestFailure("\n".join(lines))


def eq(actual, expected, what):
    """Asserts actual == expected, showing both operands on failure."""
    if actual != expected:
        fail(what, expected=expected, actual=actual)


def true(cond, what, **details):
    """Asserts cond is true; details are printed on failure."""
    if not cond:
        fail(what, **details)


def between(value, lo, hi, what):
    """Asserts lo <= value <= hi."""
    if not (lo <= value <= hi):
        fail(what, expected="between %r and %r" % (lo, hi), actual=value)


def contains(text, needle, what):
    """Asserts needle (str) occurs in text."""
    if needle not in text:
        fail(what, expected_substring=needle, actual_text=text)


def matches(text, pattern, what, flags=re.M):
    """Asserts the regex pattern is found in text; returns the match."""
    m = re.search(pattern, text, flags)
    if not m:
        fail(what, expected_pattern=pattern, actual_text=text)
    return m


# --------------------------------------------------------------------------
# small utilities

_HANDED_OUT = set()  # ports free_port() gave this process


def _ephemeral_low():
    """The first port the kernel hands out for bind(0) and connects (Linux's
    ip_local_port_range), or None where it cannot be read."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _bindable(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago, and not one this
    process was given before (two calls before either port is bound must
    not get the same one). Below the ephemeral range where it is known, so
    that no connection's own local port (the balancer's to its backends,
    a client's) takes it between now and the bind that uses it."""
    low = _ephemeral_low()
    for _ in range(200):
        if low is not None and low > 11000:
            port = random.randrange(10000, low)
            if port in _HANDED_OUT or not _bindable(port):
                continue
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            finally:
                s.close()
            if port in _HANDED_OUT:
                continue
        _HANDED_OUT.add(port)
        return port
    fail("could not find a free port")


def free_ports(n):
    """n distinct free ports."""
    ports = set()
    deadline = time.monotonic() + 10
    while len(ports) < n and time.monotonic() < deadline:
        ports.add(free_port())
    true(len(ports) == n, "could not find %d free ports" % n)
    return sorted(ports)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def pattern_bytes(n, seed):
    """n deterministic pseudo-random bytes."""
    return random.Random(seed).randbytes(n)


def note(text):
    """A line for the runner to print under the scenario's PASS line: what
    a scenario measured, or that it ran scaled down (and why)."""
    print("NOTE " + text, flush=True)


def wait_until(cond, timeout, interval=0.02):
    """Polls cond() until true or timeout; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def _netstat_listening():
    """listening_ports() on Windows, from `netstat -ano -p TCP(v6)`, in
    /proc/net/tcp's notation (little-endian hex addresses)."""
    found = set()
    for proto in ("TCP", "TCPv6"):
        out = subprocess.run(["netstat", "-ano", "-p", proto],
                             stdout=subprocess.PIPE, timeout=30).stdout
        for line in out.decode("ascii", "replace").splitlines():
            fields = line.split()
            if len(fields) < 4 or fields[3] != "LISTENING":
                continue
            host, _, port = fields[1].rpartition(":")
            host = host.strip("[]")
            if "." in host:
                packed = socket.inet_aton(host)[::-1]
            else:
                packed = socket.inet_pton(socket.AF_INET6,
                                          host.split("%")[0])
            found.add((packed.hex().upper(), int(port)))
    return found


def listening_ports():
    """Set of (hexaddr, port) in LISTEN state from /proc/net/tcp."""
    if NATIVE:
        return _netstat_listening()
    found = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if len(fields) > 3 and fields[3] == "0A":
                        addr, port = fields[1].split(":")
                        found.add((addr, int(port, 16)))
        except OSError:
            pass
    return found


def is_listening(port, host="127.0.0.1"):
    """True if something listens on host:port (or the wildcard) right now."""
    want = {"0100007F", "00000000"} if host == "127.0.0.1" else {"00000000"}
    for addr, p in listening_ports():
        if p == port and (addr in want or set(addr) == {"0"}):
            return True
    return False


def raise_nofile(minimum):
    """Raises the soft RLIMIT_NOFILE to at least minimum, or fails."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= minimum:
        return soft
    target = minimum * 2
    if hard != resource.RLIM_INFINITY:
        target = min(target, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as e:
        fail("cannot raise RLIMIT_NOFILE to %d: %s" % (minimum, e),
             soft=soft, hard=hard)
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    true(soft >= minimum,
         "RLIMIT_NOFILE soft limit cannot reach %d (hard limit %r); raise "
         "the hard limit (ulimit -Hn) to run this scenario" % (minimum, hard),
         soft=soft)
    return soft


# --------------------------------------------------------------------------
# process bookkeeping (by PID only)

def _win_proc_stat(pid):
    """_proc_stat() on Windows: ("R", 0, creation time) while pid runs."""
    import ctypes
    from ctypes import wintypes
    k32 = ctypes.windll.kernel32
    h = k32.OpenProcess(0x1000, False, pid)  # QUERY_LIMITED_INFORMATION
    if not h:
        return None
    try:
        code = wintypes.DWORD()
        times = [wintypes.FILETIME() for _ in range(4)]
        if not k32.GetExitCodeProcess(h, ctypes.byref(code)) or \
                code.value != 259:  # STILL_ACTIVE
            return None
        k32.GetProcessTimes(h, *[ctypes.byref(t) for t in times])
        return "R", 0, (times[0].dwHighDateTime << 32) | \
            times[0].dwLowDateTime
    finally:
        k32.CloseHandle(h)


def _proc_stat(pid):
    """(state, ppid, starttime) of pid, or None if gone."""
    if sys.platform == "win32":
        return _win_proc_stat(pid)
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[19])


def alive(pid, starttime=None):
    """True if pid runs (not a zombie) and, if given, started at starttime."""
    st = _proc_stat(pid)
    if st is None or st[0] in ("Z", "X"):
        return False
    return starttime is None or st[2] == starttime


def children_of(pid):
    """[(child_pid, starttime)] of live children of pid (none on
    Windows: the balancer is one process there)."""
    kids = []
    if sys.platform == "win32":
        return kids
    try:
        names = os.listdir("/proc")
    except OSError:
        return kids
    for name in names:
        if not name.isdigit():
            continue
        st = _proc_stat(int(name))
        if st and st[1] == pid and st[0] not in ("Z", "X"):
            kids.append((int(name), st[2]))
    return kids


def loop_threads(pid):
    """{name: CPU ticks (utime + stime, clock ticks)} of pid's threads
    named lb-loop-N: under Wine each Windows thread is a task of the wine
    process, and the balancer names its loop threads (SetThreadDescription
    sets the Linux thread name). {} where /proc has none."""
    found = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return found
    for tid in tids:
        base = "/proc/%d/task/%s/" % (pid, tid)
        try:
            with open(base + "comm") as f:
                name = f.read().strip()
            with open(base + "stat") as f:
                rest = f.read()
        except OSError:
            continue
        if name.startswith("lb-loop-"):
            fields = rest[rest.rindex(")") + 2:].split()
            found[name] = int(fields[11]) + int(fields[12])
    return found


# What each worker (Windows: each loop) logs when a stop starts its drain.
DRAIN_RE = (r"Worker \d+(?: loop (\d+))?: listener closed, waiting up to "
            r"[\d.]+ s for (\d+) active connection\(s\)")


def drain_counts(log):
    """{loop: connections it held} from the drain lines of a stop (POSIX:
    keyed by None)."""
    return {(int(k) if k else None): int(n)
            for k, n in re.findall(DRAIN_RE, log)}


def register_pid(pid):
    """Records pid for the runner, which kills leftovers after a hard kill."""
    path = os.environ.get("LBTEST_PIDFILE")
    st = _proc_stat(pid)
    if path and st:
        with open(path, "a") as f:
            f.write("%d %d\n" % (pid, st[2]))


def _stop_sequence(grace):
    """[(signal, seconds to wait)] that stops a balancer by PID: SIGTERM,
    then SIGKILL; under Wine Ctrl+C, a second Ctrl+C (stop at once), then
    SIGKILL (SIGTERM would kill wine too, but without any handler); on
    Windows Ctrl+Break twice, then TerminateProcess."""
    if WINDOWS:
        return [(GRACEFUL, grace), (GRACEFUL, 3.0), (KILL, 5.0)]
    return [(signal.SIGTERM, grace), (signal.SIGKILL, 5.0)]


def kill_pid(pid, starttime, grace=5.0):
    """Stops pid (if it is still the same process) by _stop_sequence."""
    for sig, wait in _stop_sequence(grace):
        if not alive(pid, starttime):
            return
        try:
            os.kill(pid, sig)
        except OSError:
            return
        wait_until(lambda: not alive(pid, starttime), wait)


# --------------------------------------------------------------------------
# the balancer

def mapping_config(listen_port, backend_ports, options=None, extra=""):
    """Config text: optional [options], one [mappings] line on 127.0.0.1."""
    lines = []
    if options:
        lines.append("[options]")
        for key, value in options.items():
            lines.append("%s = %s" % (key, value))
        lines.append("")
    lines.append("[mappings]")
    lines.append("127.0.0.1:%d=%s" % (listen_port, ",".join(
        "127.0.0.1:%d" % p for p in backend_ports)))
    return "\n".join(lines) + "\n" + extra


class Balancer:
    """One pumpkinlb process started from a config text.

    stdout and stderr go to files (never pipes, so the balancer cannot block
    on a full pipe); log() reads both back.
    """

    def __init__(self, workdir, config_text, name="lb"):
        self.workdir = workdir
        self.name = name
        self.cfg_path = os.path.join(workdir, name + ".cfg")
        mode = "wb" if isinstance(config_text, bytes) else "w"
        with open(self.cfg_path, mode) as f:
            f.write(with_processes(config_text))
        self.out_path = os.path.join(workdir, name + ".stdout")
        self.err_path = os.path.join(workdir, name + ".stderr")
        self.proc = None
        self.starttime = None
        self.workers = {}
        self.exit_time = None
        self.lingering = []

    def start(self, wait_ports=(), output=None):
        """Starts the balancer; waits until every port in wait_ports listens.
        output: a descriptor for both stdout and stderr instead of the
        files (a pipe, say); log() then reads nothing."""
        check_binary()
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                command([self.cfg_path]), stdin=subprocess.DEVNULL,
                stdout=out if output is None else output,
                stderr=err if output is None else output, cwd=self.workdir,
                **popen_group())
        STARTED.append(self)
        st = _proc_stat(self.proc.pid)
        self.starttime = st[2] if st else None
        register_pid(self.proc.pid)
        for port in wait_ports:
            self.wait_listening(port)
        self._note_workers()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def worker_pid(self):
        """The single worker process (POSIX: one listener, processes=1)."""
        self._note_workers()
        true(wait_until(lambda: children_of(self.pid), 5),
             "the balancer has a worker process")
        kids = children_of(self.pid)
        eq(len(kids), 1, "worker processes")
        return kids[0][0]

    def _note_workers(self):
        if self.proc and self.proc.poll() is None:
            for pid, start in children_of(self.proc.pid):
                self.workers[pid] = start

    def wait_listening(self, port, timeout=10.0):
        """Waits (bounded) until port listens; fails if the balancer exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if is_listening(port):
                return
            if self.proc.poll() is not None:
                fail("balancer exited (status %r) before listening on "
                     "127.0.0.1:%d" % (self.proc.returncode, port))
            time.sleep(0.02)
        fail("balancer not listening on 127.0.0.1:%d after %.0fs"
             % (port, timeout))

    def signal(self, sig):
        """Sends sig to the balancer's parent process only."""
        self._note_workers()
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout):
        """Waits for the parent to exit; returns its status or None."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        if self.exit_time is None:
            self.exit_time = time.monotonic()
        return rc

    def exit_watcher(self):
        """Starts a thread that records the exit time precisely."""
        def run():
            try:
                self.proc.wait(timeout=120)
                self.exit_time = time.monotonic()
            except subprocess.TimeoutExpired:
                pass
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def stop(self, grace=15.0):
        """SIGTERM (Ctrl+C under Wine), wait up to grace, then the rest of
        _stop_sequence; then reap workers by PID."""
        if self.proc is None:
            return
        self._note_workers()
        for sig, wait in _stop_sequence(grace):
            if self.proc.poll() is not None:
                break
            try:
                os.kill(self.proc.pid, sig)
            except OSError:
                break
            self.wait_exit(wait if sig != KILL else 10)
        # Workers should go with the parent; record and kill any that stay.
        for pid, start in list(self.workers.items()):
            if not wait_until(lambda: not alive(pid, start), 3.0):
                pass
            if alive(pid, start):
                self.lingering.append(pid)
                kill_pid(pid, start, grace=1.0)

    def workers_left(self, timeout=3.0):
        """Worker PIDs still alive timeout seconds after the parent exit."""
        self._note_workers()
        wait_until(lambda: not any(alive(p, s)
                                   for p, s in self.workers.items()), timeout)
        return [p for p, s in self.workers.items() if alive(p, s)]

    def log(self):
        """stdout + stderr of the balancer (and its log_file if any)."""
        parts = []
        for path in (self.out_path, self.err_path):
            try:
                with open(path, "rb") as f:
                    parts.append(text_of(f.read()))
            except OSError:
                pass
        return "".join(p if p.endswith("\n") or not p else p + "\n"
                       for p in parts)

    def stdout(self):
        with open(self.out_path, "rb") as f:
            return text_of(f.read())

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return text_of(f.read())

    def wait_log(self, pattern, timeout=5.0, count=1, flags=re.M | re.I):
        """Waits until pattern occurs count times in the log; returns them."""
        rx = re.compile(pattern, flags)
        found = wait_until(lambda: len(rx.findall(self.log())) >= count,
                           timeout, 0.05)
        return rx.findall(self.log()) if found else rx.findall(self.log())

    def tail(self, n=25):
        lines = self.log().splitlines()
        return "\n".join(lines[-n:])


def read_text(path):
    """The text of a file (a log), "" if it cannot be read (yet)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def run_binary(args, timeout=15.0, cwd=None):
    """Runs the balancer to completion (bounded); returns (rc, out, err),
    out and err decoded by text_of."""
    check_binary()
    proc = subprocess.Popen(command(args), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=cwd, **popen_group())
    register_pid(proc.pid)
    st = _proc_stat(proc.pid)
    start = st[2] if st else None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kids = children_of(proc.pid)
        kill_pid(proc.pid, start, grace=2.0)
        for pid, kstart in kids:
            kill_pid(pid, kstart, grace=1.0)
        out, err = proc.communicate(timeout=10)
        fail("%s did not exit within %.0fs" % (" ".join(args), timeout),
             stdout=out, stderr=err)
    return proc.returncode, text_of(out), text_of(err)


# --------------------------------------------------------------------------
# backends: threaded servers inside the test process

class Backend:
    """A TCP server on 127.0.0.1 (or, given path, a UNIX stream socket
    there; POSIX only) calling handler(conn, backend) per connection in
    its own thread. Counts accepted connections."""

    def __init__(self, handler, port=0, name=None, path=None):
        self.handler = handler
        self.name = name
        self.lock = threading.Lock()
        self.accepted = 0
        self.served = 0       # handlers call note_served()
        self.received = []    # handlers may append what they got
        self.errors = []
        self.events = []      # (monotonic time, text)
        self.conns = []
        self.threads = []
        self.stopping = False
        self.path = path
        if path is None:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", port))
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(path)
        self.sock.listen(512)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1] if path is None else None
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def _accept_loop(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(30)
            with self.lock:
                self.accepted += 1
                self.conns.append(conn)
                self.events.append((time.monotonic(), "accept"))
            t = threading.Thread(target=self._serve, args=(conn,),
                                 daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, conn):
        try:
            self.handler(conn, self)
        except Exception as e:  # recorded, checked by tests that care
            with self.lock:
                self.errors.append(repr(e))
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def note_served(self, data=None):
        with self.lock:
            self.served += 1
            if data is not None:
                self.received.append(data)

    def note(self, text):
        with self.lock:
            self.events.append((time.monotonic(), text))

    def close(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(2)
        deadline = time.monotonic() + 3
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if self.path is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass


def recv_line(conn, limit=65536):
    """Reads up to and including b'\\n' (or EOF); bounded by conn timeout."""
    data = b""
    while not data.endswith(b"\n") and len(data) < limit:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def drain(conn):
    """Reads until EOF (or reset); returns the bytes."""
    parts = []
    while True:
        try:
            chunk = conn.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        parts.append(chunk)
    return b"".join(parts)


def line_reply(tag):
    """Handler: read one line, reply tag + line, wait for EOF."""
    def handler(conn, backend):
        line = recv_line(conn)
        if not line:
            return
        backend.note_served(line)
        conn.sendall(tag.encode() + b" " + line)
        drain(conn)
    return handler


def echo(conn, backend):
    """Handler: echo until EOF, pass the half-close on, close."""
    total = 0
    while True:
        data = conn.recv(65536)
        if not data:
            break
        total += len(data)
        conn.sendall(data)
    backend.note_served(total)
    conn.shutdown(socket.SHUT_WR)


def send_after_eof(payload):
    """Handler: read to EOF, then send payload and close."""
    def handler(conn, backend):
        got = drain(conn)
        backend.note("eof")
        backend.note_served(got)
        conn.sendall(payload)
        backend.note("sent")
    return handler


def reply_and_close(reply):
    """Handler: send reply at once and close without reading."""
    def handler(conn, backend):
        conn.sendall(reply)
        backend.note_served()
    return handler


def slow_sender(chunks, interval):
    """Handler: send each chunk, sleeping interval between them, close."""
    def handler(conn, backend):
        for i, chunk in enumerate(chunks):
            if i:
                time.sleep(interval)
            conn.sendall(chunk)
        backend.note_served()
    return handler


def idle(conn, backend):
    """Handler: send nothing; wait for the peer to close (bounded)."""
    conn.settimeout(60)
    got = drain(conn)
    backend.note("closed")
    backend.note_served(got)


def reset_after_line(conn, backend):
    """Handler: read one line, then close abortively (RST)."""
    line = recv_line(conn)
    backend.note_served(line)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    struct.pack("ii", 1, 0))


class SelectorEcho:
    """A single-threaded non-blocking echo server for many connections.
    Tracks accepted connections and the peak number open at once."""

    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4096)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.sel.register(self.sock, selectors.EVENT_READ, None)
        self.accepted = 0
        self.open = 0
        self.peak = 0
        self.errors = []
        self.stopping = False
        self.pending = {}
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stopping:
            for key, mask in self.sel.select(0.1):
                if key.data is None:
                    self._accept()
                else:
                    self._service(key.fileobj, mask)

    def _accept(self):
        for _ in range(256):
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self.errors.append(repr(e))
                return
            conn.setblocking(False)
            self.accepted += 1
            self.open += 1
            self.peak = max(self.peak, self.open)
            self.pending[conn] = b""
            self.sel.register(conn, selectors.EVENT_READ, "c")

    def _drop(self, conn):
        self.sel.unregister(conn)
        self.pending.pop(conn, None)
        conn.close()
        self.open -= 1

    def _service(self, conn, mask):
        if mask & selectors.EVENT_READ:
            try:
                data = conn.recv(65536)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                self._drop(conn)
                return
            if data == b"":
                self._drop(conn)
                return
            if data:
                self.pending[conn] += data
        buf = self.pending.get(conn, b"")
        if buf:
            try:
                n = conn.send(buf)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                self._drop(conn)
                return
            self.pending[conn] = buf[n:]
        want = selectors.EVENT_READ
        if self.pending[conn]:
            want |= selectors.EVENT_WRITE
        self.sel.modify(conn, want, "c")

    def close(self):
        self.stopping = True
        self.thread.join(3)
        for conn in list(self.pending):
            try:
                conn.close()
            except OSError:
                pass
        self.sock.close()
        self.sel.close()


# --------------------------------------------------------------------------
# clients

def connect(port, timeout=10.0):
    """A blocking client socket to 127.0.0.1:port with a timeout."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    return s


def request_line(port, line, timeout=10.0):
    """Connects, sends line, reads one reply line, closes; returns it."""
    with connect(port, timeout) as s:
        s.sendall(line)
        return recv_line(s)


def recv_hash(sock, deadline):
    """Reads to EOF before deadline; returns (nbytes, sha256hex, how).

    how is 'eof', 'reset' or 'timeout'."""
    h = hashlib.sha256()
    n = 0
    how = "eof"
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            how = "timeout"
            break
        sock.settimeout(min(left, 30))
        try:
            chunk = sock.recv(262144)
        except socket.timeout:
            how = "timeout"
            break
        except ConnectionResetError:
            how = "reset"
            break
        if not chunk:
            break
        h.update(chunk)
        n += len(chunk)
    return n, h.hexdigest(), how


def send_in_thread(sock, data, shut_wr=True):
    """Sends data (then SHUT_WR) from a thread; returns (thread, result)."""
    result = {"error": None, "sent": 0}

    def run():
        view = memoryview(data)
        try:
            step = 1 << 20
            for off in range(0, len(view), step):
                sock.sendall(view[off:off + step])
                result["sent"] = off + len(view[off:off + step])
            if shut_wr:
                sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            result["error"] = repr(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, result


def probe_refused(port, wait=2.0):
    """Tries a new connection; returns None if it was refused (refused at
    connect, or reset/EOF without data), else a description of what
    happened instead."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=wait)
    except ConnectionRefusedError:
        return None
    except ConnectionResetError:
        return None
    except socket.timeout:
        return "connect timed out after %.1fs" % wait
    with s:
        s.settimeout(wait)
        try:
            data = s.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            return None
        except socket.timeout:
            return ("connection accepted and neither refused nor closed "
                    "within %.1fs" % wait)
        if data:
            return "connection accepted and served data %r" % data[:40]
        return None


# --------------------------------------------------------------------------
# scope: owns everything a scenario starts

class Scope:
    """Context manager owning a temp dir, backends and balancers; closes
    them all (balancers by PID: Balancer.stop) on exit."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="lbtest-")
        self.balancers = []
        self.closers = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        errors = []
        for b in reversed(self.balancers):
            try:
                b.stop()
            except Exception as e:
                errors.append(repr(e))
        for c in reversed(self.closers):
            try:
                c()
            except Exception as e:
                errors.append(repr(e))
        if not os.environ.get("LBTEST_KEEP") and exc[0] is None:
            import shutil
            shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def path(self, name):
        return os.path.join(self.dir, name)

    def backend(self, handler, port=0, path=None):
        b = Backend(handler, port, path=path)
        self.closers.append(b.close)
        return b

    def selector_echo(self):
        b = SelectorEcho()
        self.closers.append(b.close)
        return b

    def balancer(self, config_text, wait_ports=(), name=None, start=True):
        b = Balancer(self.dir, config_text,
                     name or "lb%d" % len(self.balancers))
        self.balancers.append(b)
        if start:
            b.start(wait_ports)
        return b

    def on_close(self, fn):
        self.closers.append(fn)
