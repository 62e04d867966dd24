"""Process handling for the benchmark suite: every process is started in a
session (and process group) of its own, pinned with taskset, recorded, and
stopped by its process group at the end; plus /proc readers for the CPU time
and memory of a whole process tree (a proxy's session)."""

import os
import signal
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")

_started = []   # Popen objects of every process group we started


def start(cmd, cpus, log_path, stdin=None):
    """Start cmd pinned to cpus in a new session; stdout+stderr to log_path."""
    log = open(log_path, "ab")
    try:
        p = subprocess.Popen(["taskset", "-c", cpus] + list(cmd),
                             stdout=log, stderr=subprocess.STDOUT,
                             stdin=stdin if stdin is not None else subprocess.DEVNULL,
                             start_new_session=True)
    finally:
        log.close()
    _started.append(p)
    return p


def session_pids(sid):
    """PIDs of every live process whose session id is sid."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.getsid(int(d)) == sid:
                    pids.append(int(d))
            except OSError:
                pass
    return pids


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except OSError:
        return False


def stop(p, grace=3.0):
    """SIGTERM the process group of p, SIGKILL it after grace seconds; then
    SIGKILL by PID anything left in its session (a child that changed group)."""
    pgid = p.pid
    if _group_alive(pgid):
        try:
            os.killpg(pgid, signal.SIGTERM)
        except OSError:
            pass
        end = time.monotonic() + grace
        while _group_alive(pgid) and time.monotonic() < end:
            p.poll()   # reap the leader so it does not linger as a zombie
            time.sleep(0.05)
        if _group_alive(pgid):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass
    for pid in session_pids(pgid):
        if pid != pgid:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    if p in _started:
        _started.remove(p)


def stop_all():
    """Stop every process group still recorded, newest first."""
    for p in list(reversed(_started)):
        stop(p)


def run_bounded(cmd, cpus, log_path, timeout):
    """Run cmd to completion, killed (its whole group) after timeout seconds.
    Returns the exit status, or None when it had to be killed."""
    p = start(cmd, cpus, log_path)
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    finally:
        stop(p, grace=1.0)


def cpu_seconds(sid):
    """utime+stime, in seconds, summed over the live processes of session sid."""
    ticks = 0
    for pid in session_pids(sid):
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])   # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return ticks / CLK_TCK


def memory_kib(sid):
    """(processes, RSS KiB, PSS KiB) summed over the live processes of session sid."""
    n = rss = pss = 0
    for pid in session_pids(sid):
        try:
            with open("/proc/%d/status" % pid) as f:
                r = [int(l.split()[1]) for l in f if l.startswith("VmRSS:")]
            with open("/proc/%d/smaps_rollup" % pid) as f:
                q = [int(l.split()[1]) for l in f if l.startswith("Pss:")]
        except (OSError, ValueError):
            continue
        if r:
            n += 1
            rss += r[0]
            pss += q[0] if q else 0
    return n, rss, pss


def established_on(ports):
    """ESTABLISHED IPv4 sockets whose local port is one of ports (the
    backends' side of the proxy's backend legs), from /proc/net/tcp."""
    want = {"%04X" % p for p in ports}
    n = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split(None, 4)
            if parts[3] == "01" and parts[1].rsplit(":", 1)[1] in want:
                n += 1
    return n


def listening(port):
    """True when something listens on TCP port (IPv4 or IPv6), from /proc."""
    hexport = ":%04X" % port
    for fn in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(fn) as f:
                next(f)
                for line in f:
                    parts = line.split(None, 4)
                    if parts[3] == "0A" and parts[1].endswith(hexport):
                        return True
        except OSError:
            pass
    return False


def wait_listening(ports, timeout=10.0, proc=None):
    """Wait until every port listens; False on timeout or when proc exits."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if all(listening(p) for p in ports):
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def parse_tcp_outsegs(text):
    """/proc/net/snmp text -> the Tcp OutSegs counter, or None."""
    lines = [l.split() for l in text.splitlines() if l.startswith("Tcp:")]
    if len(lines) < 2 or "OutSegs" not in lines[0]:
        return None
    try:
        return int(lines[1][lines[0].index("OutSegs")])
    except (IndexError, ValueError):
        return None


def tcp_outsegs():
    """TCP segments sent so far in this network namespace (every socket on
    loopback: client, proxy and backend sides), or None."""
    try:
        with open("/proc/net/snmp") as f:
            return parse_tcp_outsegs(f.read())
    except OSError:
        return None


def parse_cpu_ticks(text, cpus):
    """/proc/stat text -> (busy ticks, all ticks) summed over the CPUs named
    (ints); busy is everything but idle and iowait; None if one is missing."""
    rows = {}
    for line in text.splitlines():
        f = line.split()
        if f and f[0].startswith("cpu") and f[0][3:].isdigit():
            rows[int(f[0][3:])] = [int(x) for x in f[1:9]]
    if not cpus or any(c not in rows for c in cpus):
        return None
    total = sum(sum(rows[c]) for c in cpus)
    idle = sum(rows[c][3] + rows[c][4] for c in cpus)
    return total - idle, total


def cpu_list(spec):
    """taskset's list syntax ('1', '0,2', '0-3') -> [ints]."""
    out = []
    for part in str(spec).split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def cpu_ticks(cpus):
    """(busy, all) ticks so far of the CPUs named, from /proc/stat, or None."""
    try:
        with open("/proc/stat") as f:
            return parse_cpu_ticks(f.read(), cpus)
    except OSError:
        return None


def busy_percent(before, after):
    """Share of the time the CPUs were busy between two cpu_ticks() samples."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return 100.0 * (after[0] - before[0]) / (after[1] - before[1])
