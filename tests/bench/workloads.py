"""The workloads: each runs a bounded load against 127.0.0.1:target from the
load CPU and returns {metric: (value, unit)}; the parsers of wrk's and
iperf2's output are separate functions (tested by test_parsers.py)."""

import os
import re
import socket
import subprocess
import sys
import time

import peers
import procs

HERE = os.path.dirname(os.path.abspath(__file__))
SHORT_CONNS = 50        # wrk connections for the short-connection workload
KEEPALIVE_CONNS = 100   # wrk connections for the keep-alive workload
# How a proxy's cost per keep-alive request grows with the connections it
# holds: wrk on this many, measured once all are up (scale100 .. scale9k).
SCALE_CONNS = {"scale100": 100, "scale1k": 1000, "scale9k": 9000}
SCALE_SETUP_S = 60      # at most, for every connection to be up

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def latency_ms(text):
    """'1.23ms' / '850.00us' / '1.02s' -> milliseconds (float), or None."""
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text.strip())
    return float(m.group(1)) * _UNITS[m.group(2)] if m else None


def parse_wrk(out):
    """wrk --latency output -> dict: rps, requests, p50_ms, p99_ms, errors, non2xx."""
    r = {}
    m = re.search(r"^Requests/sec:\s+([0-9.]+)", out, re.M)
    if m:
        r["rps"] = float(m.group(1))
    m = re.search(r"^\s*(\d+) requests in", out, re.M)
    if m:
        r["requests"] = int(m.group(1))
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(r"^\s*%s(?:\.0+)?%%\s+(\S+)" % pct, out, re.M)
        if m:
            r[key] = latency_ms(m.group(1))
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors = sum(int(x) for x in m.groups())
    r["errors"] = errors
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    return r


def parse_stub_status(text):
    """nginx stub_status page -> requests handled so far (int), or None.
    Its third line holds accepts, handled and requests."""
    m = re.search(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s*$", text, re.M)
    return int(m.group(3)) if m else None


def backend_requests(port, timeout=5.0):
    """Requests the nginx backend has served so far (one more is this ask)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
                  % peers.STATUS_PATH.encode())
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return parse_stub_status(data.decode("latin-1"))


def parse_iperf_csv(out):
    """iperf2 -y C client output -> (bytes, seconds) of the whole transfer:
    the sum line (stream id -1) with several streams, else the single line."""
    rows = []
    for line in out.splitlines():
        f = line.strip().split(",")
        if len(f) >= 9 and f[0].isdigit():
            try:
                start, end = (float(x) for x in f[6].split("-"))
                rows.append((int(f[5]), int(f[7]), end - start))
            except ValueError:
                continue
    if not rows:
        return None
    total = [r for r in rows if r[0] == -1]
    if total:
        return total[-1][1], total[-1][2]
    return sum(r[1] for r in rows), max(r[2] for r in rows)


def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _warn(msg):
    print("  ! " + msg, file=sys.stderr, flush=True)


def run_wrk(ctx, name, conns, close):
    log = os.path.join(ctx.wd, "%s-%s-r%d.wrk" % (ctx.peer.name, name, ctx.round))
    cmd = ["wrk", "-t1", "-c%d" % conns, "-d%ds" % ctx.duration, "--timeout", "5s",
           "--latency"]
    if close:
        cmd += ["-H", "Connection: close"]
    cmd.append("http://127.0.0.1:%d/" % ctx.target)
    procs.run_bounded(cmd, ctx.load_cpu, log, ctx.duration + 30)
    w = parse_wrk(_read(log))
    if "rps" not in w:
        _warn("%s %s: wrk gave no figures: %s" % (ctx.peer.name, name, _read(log)[-300:]))
        return {}
    rate = "conn/s" if close else "req/s"
    res = {name + ("_cps" if close else "_rps"): (w["rps"], rate),
           name + "_p50_ms": (w.get("p50_ms"), "ms"),
           name + "_p99_ms": (w.get("p99_ms"), "ms"),
           name + "_errors": (w["errors"] + w["non2xx"], "count")}
    res["_done"] = (w.get("requests"), "count")
    return res


def run_short(ctx):
    return run_wrk(ctx, "short", SHORT_CONNS, close=True)


def run_keepalive(ctx):
    return run_wrk(ctx, "keepalive", KEEPALIVE_CONNS, close=False)


def run_scale(ctx, name):
    """Keep-alive through the proxy on SCALE_CONNS[name] connections: the
    proxy's CPU per request once every connection is up, over
    ctx.duration seconds (requests counted by the backend, so the
    connects and wrk's start and end are left out)."""
    if ctx.peer.direct:
        return {}
    n = SCALE_CONNS[name]
    log = os.path.join(ctx.wd, "%s-%s-r%d.wrk" % (ctx.peer.name, name, ctx.round))
    wrk = procs.start(["wrk", "-t1", "-c%d" % n, "-d%ds" % (SCALE_SETUP_S + ctx.duration + 10),
                       "--timeout", "10s", "http://127.0.0.1:%d/" % ctx.target],
                      ctx.load_cpu, log)
    try:
        legs = _wait_backend_legs([ctx.ports.be1, ctx.ports.be2], n, SCALE_SETUP_S)
        time.sleep(1)
        cpu0, req0 = procs.cpu_seconds(ctx.proxy.pid), backend_requests(ctx.ports.be1)
        t0 = time.monotonic()
        time.sleep(ctx.duration)
        cpu1, req1 = procs.cpu_seconds(ctx.proxy.pid), backend_requests(ctx.ports.be1)
        secs = time.monotonic() - t0
        alive = wrk.poll() is None
    finally:
        procs.stop(wrk, grace=1.0)
    done = (req1 or 0) - (req0 or 0) - 1   # less the second status request
    if req0 is None or req1 is None or done <= 0 or not alive:
        _warn("%s %s: no requests counted (wrk alive %s): %s"
              % (ctx.peer.name, name, alive, _read(log)[-300:]))
        return {}
    if legs < n:
        _warn("%s %s: %d of %d backend connections up" % (ctx.peer.name, name, legs, n))
    return {name + "_cpu_us": ((cpu1 - cpu0) * 1e6 / done, "us/req"),
            name + "_rps": (done / secs, "req/s"),
            name + "_conns": (legs, "conn")}


def run_scale100(ctx):
    return run_scale(ctx, "scale100")


def run_scale1k(ctx):
    return run_scale(ctx, "scale1k")


def run_scale9k(ctx):
    return run_scale(ctx, "scale9k")


def run_lat1(ctx):
    """One client, one request at a time on one keep-alive connection: the
    latency a single user sees (a database client), p50 and p99 in us."""
    log = os.path.join(ctx.wd, "%s-lat1-r%d.wrk" % (ctx.peer.name, ctx.round))
    cmd = ["wrk", "-t1", "-c1", "-d%ds" % ctx.duration, "--timeout", "5s", "--latency",
           "http://127.0.0.1:%d/" % ctx.target]
    procs.run_bounded(cmd, ctx.load_cpu, log, ctx.duration + 30)
    w = parse_wrk(_read(log))
    if "p50_ms" not in w or "p99_ms" not in w:
        _warn("%s lat1: wrk gave no figures: %s" % (ctx.peer.name, _read(log)[-300:]))
        return {}
    return {"lat1_p50_us": (w["p50_ms"] * 1e3, "us"),
            "lat1_p99_us": (w["p99_ms"] * 1e3, "us"),
            "lat1_errors": (w["errors"] + w["non2xx"], "count"),
            "_done": (w.get("requests"), "count")}


def run_bulk(ctx, name, streams):
    log = os.path.join(ctx.wd, "%s-%s-r%d.iperf" % (ctx.peer.name, name, ctx.round))
    cmd = ["iperf", "-c", "127.0.0.1", "-p", str(ctx.target), "-t", str(ctx.duration),
           "-P", str(streams), "-y", "C"]
    procs.run_bounded(cmd, ctx.load_cpu, log, ctx.duration + 20)
    got = parse_iperf_csv(_read(log))
    if not got or got[1] <= 0:
        _warn("%s %s: iperf gave no figures: %s" % (ctx.peer.name, name, _read(log)[-300:]))
        return {}
    gbit = got[0] * 8 / 1e9
    return {name + "_gbps": (gbit / got[1], "Gbit/s"), "_done": (gbit, "Gbit")}


def run_bulk1(ctx):
    return run_bulk(ctx, "bulk1", 1)


def run_bulk8(ctx):
    return run_bulk(ctx, "bulk8", 8)


def _wait_line(path, prefix, proc, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for line in _read(path).splitlines():
            if line.startswith(prefix):
                return dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    return None


def _wait_backend_legs(ports, want, timeout=40.0, stable_s=3.0):
    """Wait until `want` backend legs are established, or their count has
    not changed for stable_s seconds (timeout at most). Returns the count."""
    end = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < end:
        n = procs.established_on(ports)
        if n >= want:
            return n
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= stable_s:
            return n
        time.sleep(0.25)
    return procs.established_on(ports)


def run_idle(ctx, name, n):
    """Hold n idle connections through the proxy; memory per connection."""
    if ctx.peer.direct:
        return {}
    log = os.path.join(ctx.wd, "%s-%s-r%d.holder" % (ctx.peer.name, name, ctx.round))
    time.sleep(1)
    _, rss0, pss0 = procs.memory_kib(ctx.proxy.pid)
    setup_timeout = 60 + n / 100
    holder = procs.start([sys.executable, os.path.join(HERE, "holder.py"), "127.0.0.1",
                          str(ctx.target), str(n), str(setup_timeout), "300"],
                         ctx.load_cpu, log, stdin=subprocess.PIPE)
    try:
        ready = _wait_line(log, "READY", holder, setup_timeout + 10) or {}
        opened = int(ready.get("ok", 0))
        legs = _wait_backend_legs([ctx.ports.be1, ctx.ports.be2], opened)
        nprocs, rss1, pss1 = procs.memory_kib(ctx.proxy.pid)
        time.sleep(ctx.idle_hold)
        holder.stdin.write(b"go\n")
        holder.stdin.flush()
        alive = _wait_line(log, "ALIVE", holder, 60) or {}
    finally:
        procs.stop(holder, grace=1.0)
    if ready.get("err", "-") != "-" or opened < n:
        _warn("%s %s: opened %d of %d (%s)" % (ctx.peer.name, name, opened, n,
                                                ready.get("err", "no READY line")))
    res = {name + "_opened": (opened, "conn"), name + "_backend_legs": (legs, "conn"),
           name + "_alive": (int(alive.get("alive", 0)), "conn"),
           name + "_probe_ok": (int(alive.get("answered", 0)),
                                "of_%s_probed" % alive.get("probed", 0)),
           name + "_procs": (nprocs, "procs")}
    if opened:
        res[name + "_rss_kib_per_conn"] = ((rss1 - rss0) / opened, "KiB/conn")
        res[name + "_pss_kib_per_conn"] = ((pss1 - pss0) / opened, "KiB/conn")
    return res


def run_idle1k(ctx):
    return run_idle(ctx, "idle1k", 1000)


def run_idle10k(ctx):
    return run_idle(ctx, "idle10k", ctx.n10k)


# name -> (backend kind, runner, what one unit of work is, for per-CPU-second figures)
WORKLOADS = {
    "bulk1": ("iperf", run_bulk1, "gbit"),
    "bulk8": ("iperf", run_bulk8, "gbit"),
    "short": ("nginx", run_short, "conn"),
    "keepalive": ("nginx", run_keepalive, "req"),
    "idle1k": ("nginx", run_idle1k, None),
    "idle10k": ("nginx", run_idle10k, None),
    "scale100": ("nginx", run_scale100, None),
    "scale1k": ("nginx", run_scale1k, None),
    "scale9k": ("nginx", run_scale9k, None),
    "lat1": ("nginx", run_lat1, None),
}
