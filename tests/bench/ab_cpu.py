#!/usr/bin/env python3
"""Simultaneous A/B of two PumpkinLB binaries: CPU per request, measured
with both running at once, so the shared machine's busy and quiet spells
fall on both alike (a side-by-side bench.py run moves by up to 30% from
one round to the next, more than most levers are worth).

Both balancers listen side by side on the balancer CPU over the same nginx
backends; each gets its own `wrk -t1` on the load CPU, started together,
for the same time. A balancer's figure is the utime + stime of all its
processes over the run, divided by the requests it served. Prints each
round and the median of B/A per workload; below 1 means B is cheaper.

    python3 tests/bench/ab_cpu.py --a OLD_BINARY --b build/pumpkinlb
    python3 tests/bench/ab_cpu.py --a OLD --b NEW --rounds 5 --duration 5
    python3 tests/bench/ab_cpu.py --a haproxy --b build/pumpkinlb

`haproxy` in place of a binary runs HAProxy as bench.py does (mode tcp,
nbthread 1, over the same backends): PumpkinLB's CPU per request against
HAProxy's, taken at the same moments.

Needs nginx and wrk (bench.py installs them). Every process it starts is
stopped by its process group at the end; all traffic stays on 127.0.0.1.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (ports, limits)
import peers as peerlib  # noqa: E402
import procs  # noqa: E402
import workloads  # noqa: E402

# Half the connections bench.py uses per workload: two loads share CPU 0.
LOADS = {"short": (25, True), "keepalive": (50, False)}


def free_ports(base, n):
    got = []
    for p in range(base, base + 2000):
        if bench.port_free(p):
            got.append(p)
            if len(got) == n:
                return got
    sys.exit("no %d free ports from %d on" % (n, base))


def start_lb(binary, wd, ports, cpu):
    os.makedirs(wd, exist_ok=True)
    if binary == "haproxy":
        cmd = ["haproxy", "-db", "-f",
               peerlib.haproxy_config(wd, ports, peerlib.haproxy_maxconn(4096, 1000))]
    else:
        cmd = [binary, peerlib.pumpkinlb_config(wd, ports)]
    p = procs.start(cmd, cpu, os.path.join(wd, "lb.log"))
    if not procs.wait_listening([ports.lb], 10, p):
        sys.exit("%s did not listen on %d (see %s/lb.log)" % (binary, ports.lb, wd))
    return p


def one_round(name, lbs, wd, load_cpu, duration, rnd):
    """CPU ms per 1,000 requests of each balancer, both loaded at once."""
    conns, close = LOADS[name]
    cpu0 = [procs.cpu_seconds(p.pid) for p, _ in lbs]
    runs = []
    for i, (_, port) in enumerate(lbs):
        cmd = ["wrk", "-t1", "-c%d" % conns, "-d%ds" % duration, "--timeout", "5s"]
        if close:
            cmd += ["-H", "Connection: close"]
        log = os.path.join(wd, "%s-%s-r%d.wrk" % ("ab"[i], name, rnd))
        runs.append((procs.start(cmd + ["http://127.0.0.1:%d/" % port],
                                 load_cpu, log), log))
    for p, _ in runs:
        try:
            p.wait(timeout=duration + 30)
        except Exception:
            procs.stop(p, grace=1.0)
    cpu1 = [procs.cpu_seconds(p.pid) for p, _ in lbs]
    out = []
    for (p, log), a, b in zip(runs, cpu0, cpu1):
        with open(log) as f:
            w = workloads.parse_wrk(f.read())
        reqs = w.get("requests") or 0
        if reqs <= 0 or w.get("errors") or w.get("non2xx"):
            sys.exit("round %d %s: wrk failed or had errors; see %s" % (rnd, name, log))
        out.append((reqs, (b - a) * 1e6 / reqs))
    return out


def run_ab(a, b, rounds, duration, names, lb_cpu="1", load_cpu="0", port_base=18750,
           out=print):
    """Runs the rounds; returns {workload: [B/A per round]}. Every process
    it starts is stopped before it returns."""
    nofile, _, _ = bench.setup_nofile(1000)
    wd = tempfile.mkdtemp(prefix="pumpkinlb-ab-")
    lb_a, lb_b, be1, be2 = free_ports(port_base, 4)
    ratios = {w: [] for w in names}
    try:
        be_ports = peerlib.Ports(lb_a, be1, be2)
        procs.start(peerlib.backend_nginx(wd, be_ports, nofile), load_cpu,
                    os.path.join(wd, "backend.log"))
        if not procs.wait_listening([be1, be2]):
            sys.exit("nginx backends did not start; see %s/backend.log" % wd)
        lbs = [(start_lb(a, os.path.join(wd, "a"), peerlib.Ports(lb_a, be1, be2),
                         lb_cpu), lb_a),
               (start_lb(b, os.path.join(wd, "b"), peerlib.Ports(lb_b, be1, be2),
                         lb_cpu), lb_b)]
        time.sleep(0.5)
        out("A = %s on %d, B = %s on %d; both on CPU %s, wrk and nginx on CPU %s"
            % (a, lb_a, b, lb_b, lb_cpu, load_cpu))
        for rnd in range(1, rounds + 1):
            for w in names:
                (ra, ca), (rb, cb) = one_round(w, lbs, wd, load_cpu, duration, rnd)
                ratios[w].append(cb / ca)
                out("round %d %-9s A %d req %.1f us CPU each | B %d req %.1f us "
                    "CPU each | B/A %.3f" % (rnd, w, ra, ca, rb, cb, cb / ca))
    finally:
        procs.stop_all()
        shutil.rmtree(wd, ignore_errors=True)
    return ratios


def summary_lines(ratios):
    """The AB lines: the median of B/A per workload and every round's."""
    return ["AB workload=%s median_B_over_A=%.3f rounds=%s"
            % (w, statistics.median(r), ",".join("%.3f" % x for x in r))
            for w, r in ratios.items() if r]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--a", required=True, help="binary A (the reference), or haproxy")
    ap.add_argument("--b", required=True, help="binary B, or haproxy")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--workloads", default="short,keepalive")
    ap.add_argument("--lb-cpu", default="1")
    ap.add_argument("--load-cpu", default="0")
    ap.add_argument("--port-base", type=int, default=18750)
    args = ap.parse_args(argv)
    names = [w for w in args.workloads.split(",") if w]
    for w in names:
        if w not in LOADS:
            sys.exit("unknown workload %r (short, keepalive)" % w)
    for tool in ["nginx", "wrk", "taskset"] + [x for x in (args.a, args.b) if x == "haproxy"]:
        if shutil.which(tool) is None:
            sys.exit("%s is missing: run make bench once, or apt-get install nginx wrk" % tool)
    ratios = run_ab(args.a, args.b, args.rounds, args.duration, names, args.lb_cpu,
                    args.load_cpu, args.port_base)
    for line in summary_lines(ratios):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
