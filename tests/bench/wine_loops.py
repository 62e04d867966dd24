#!/usr/bin/env python3
"""The Windows build under Wine, 1 loop against 2 (processes = 1, 2) and,
given --base, against an older pumpkinlb.exe: requests per second and CPU
per request through the same load, taken round after round with the
variants alternating. Under Wine every overlapped operation goes through
wineserver, so only relative figures mean anything, and the CPU of
wineserver is shown beside the balancer's own.

    WINEPREFIX=$PWD/build-win/wineprefix python3 tests/bench/wine_loops.py \\
        --exe build-win/pumpkinlb.exe [--base OLD.exe] [--rounds 3]

Workloads (wrk -t1 over an nginx backend, 16 KiB relay buffers):
keepalive (16 connections, 100-byte answers), short (16 connections, a
connection per request), bulk (4 connections fetching 1 MiB each).
A wineserver is kept up for the run (wineserver -p) and every process it
starts is stopped by its process group at the end; traffic stays on
127.0.0.1.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (ports)
import procs  # noqa: E402
import workloads  # noqa: E402

CPUS = "0-%d" % (os.cpu_count() - 1)
LOADS = {"keepalive": (16, "/", False), "short": (16, "/", True),
         "bulk": (4, "/big", False)}


def free_ports(n):
    got = []
    for p in range(42000, 44000):
        if bench.port_free(p):
            got.append(p)
            if len(got) == n:
                return got
    sys.exit("no %d free ports" % n)


def nginx(wd, port):
    """An nginx answering 100 bytes on / and 1 MiB on /big."""
    d = os.path.join(wd, "nginx")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "big"), "wb") as f:
        f.write(b"b" * (1 << 20))
    for path in (wd, d):  # nginx's workers run as nobody when we are root
        os.chmod(path, 0o755)
    os.chmod(os.path.join(d, "big"), 0o644)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""daemon off; master_process on; worker_processes 1;
pid %s/nginx.pid; error_log %s/error.log warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  client_body_temp_path %s; proxy_temp_path %s; fastcgi_temp_path %s;
  uwsgi_temp_path %s; scgi_temp_path %s;
  server { listen 127.0.0.1:%d backlog=4096; root %s;
    location = / { return 200 "%s\\n"; }
    location = /big { } } }
""" % (d, d, d, d, d, d, d, port, d, "x" * 99))
    return ["nginx", "-p", d, "-e", d + "/error.log", "-c", conf]


def wineserver_pid():
    out = subprocess.run(["pgrep", "-f", "wineserver"], capture_output=True,
                         text=True).stdout.split()
    prefix = os.environ["WINEPREFIX"]
    for pid in out:
        try:
            env = open("/proc/%s/environ" % pid, "rb").read()
        except OSError:
            continue
        if ("WINEPREFIX=" + prefix).encode() in env.split(b"\0"):
            return int(pid)
    return None


def ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, TypeError):
        return 0


def session_ticks(sid):
    """The balancer's: every process of its session (taskset execs wine,
    which execs into the Windows process itself)."""
    return sum(ticks(pid) for pid in procs.session_pids(sid))


RUNS = [0]


def one_run(args, wd, exe, loops, lb_port, be_port):
    """{workload: (rps, balancer ms per 1000, wineserver ms per 1000)}."""
    cfg = os.path.join(wd, "lb-%d.cfg" % loops)
    with open(cfg, "w") as f:
        f.write("[options]\nprocesses = %d\nbuffer_size = 16384\n"
                "log_connections = 0\ngraceful_shutdown_timeout = 1\n"
                "[mappings]\n127.0.0.1:%d = 127.0.0.1:%d\n"
                % (loops, lb_port, be_port))
    p = procs.start(["wine", os.path.abspath(exe), cfg], CPUS,
                    os.path.join(wd, "lb.log"))
    out = {}
    try:
        if not procs.wait_listening([lb_port], 30, p):
            sys.exit("the balancer did not listen: see %s/lb.log" % wd)
        ws = wineserver_pid()
        RUNS[0] += 1
        for name, (conns, path, close) in LOADS.items():
            log = os.path.join(wd, "%s-%d.wrk" % (name, RUNS[0]))
            cmd = ["wrk", "-t1", "-c%d" % conns, "-d%ds" % args.duration,
                   "--timeout", "10s"]
            if close:
                cmd += ["-H", "Connection: close"]
            cmd.append("http://127.0.0.1:%d%s" % (lb_port, path))
            t0, w0 = session_ticks(p.pid), ticks(ws)
            procs.run_bounded(cmd, CPUS, log, args.duration + 30)
            t1, w1 = session_ticks(p.pid), ticks(ws)
            w = workloads.parse_wrk(open(log).read())
            n = w.get("requests") or 0
            if n == 0:
                continue
            scale = 1000.0 * 1000 / procs.CLK_TCK / n  # ms per 1000
            out[name] = (w["rps"], (t1 - t0) * scale, (w1 - w0) * scale,
                         w["errors"] + w["non2xx"])
    finally:
        procs.stop(p)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--exe", required=True)
    ap.add_argument("--base", help="an older pumpkinlb.exe, one loop")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    args = ap.parse_args()
    if "WINEPREFIX" not in os.environ:
        sys.exit("set WINEPREFIX (e.g. build-win/wineprefix)")
    os.environ.setdefault("WINEDEBUG", "-all")
    os.environ.setdefault("WINEDLLOVERRIDES", "mscoree,mshtml=")
    subprocess.run(["wineserver", "-p", "900"], stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["wine", "cmd", "/c", "exit"], stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    variants = [("1 loop", args.exe, 1), ("2 loops", args.exe, 2)]
    if args.base:
        variants.insert(0, ("base, 1 loop", args.base, 1))
    wd = tempfile.mkdtemp(prefix="wine-loops-")
    lb_port, be_port = free_ports(2)
    be = procs.start(nginx(wd, be_port), CPUS, os.path.join(wd, "be.log"))
    results = {v[0]: {} for v in variants}
    try:
        procs.wait_listening([be_port], 10, be)
        for r in range(args.rounds):
            for label, exe, loops in variants:
                got = one_run(args, wd, exe, loops, lb_port, be_port)
                for name, fig in got.items():
                    results[label].setdefault(name, []).append(fig)
                    print("round %d %-13s %-9s %8.0f req/s  lb %6.1f ms  "
                          "wineserver %6.1f ms per 1000  errors %d"
                          % (r + 1, label, name, *fig), flush=True)
    finally:
        procs.stop_all()
    print("\nmedians (CPU in ms per 1000 requests):")
    for label in results:
        for name, figs in results[label].items():
            med = [statistics.median(f[i] for f in figs) for i in range(3)]
            print("  %-13s %-9s %8.0f req/s  lb %6.1f  wineserver %6.1f"
                  % (label, name, *med))


if __name__ == "__main__":
    main()
