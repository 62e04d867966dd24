#!/usr/bin/env python3
"""PumpkinLB benchmark suite (issue 7): PumpkinLB, HAProxy, nginx stream and
a direct connection side by side on 127.0.0.1, in alternating order over
several rounds; medians with ratios to HAProxy and to direct.
See tests/bench/README.md. Python 3 stdlib; needs root to install peers."""

import argparse
import datetime
import os
import resource
import shutil
import signal
import statistics
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers as peerlib     # noqa: E402
import procs                # noqa: E402
import report               # noqa: E402
from workloads import WORKLOADS  # noqa: E402

DEB_PKGS = ["haproxy", "nginx", "libnginx-mod-stream", "wrk", "iperf",
            "util-linux", "procps", "iproute2"]
TOOLS = ["haproxy", "nginx", "wrk", "iperf", "taskset", "ps", "ss"]
DEFAULT_PEERS = "pumpkinlb,haproxy,nginx,direct"
FDS_PER_PROXY_EXTRA = 64   # listener, logs, pipes... beyond 2 per connection


class Ctx:
    """What a workload needs to know about the current run."""


def say(msg=""):
    print(msg, flush=True)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/pumpkinlb", help="PumpkinLB binary")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--duration", type=int, default=5,
                    help="seconds of each wrk/iperf run (default 5)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS),
                    help="comma list of " + ",".join(WORKLOADS))
    ap.add_argument("--peers", default=DEFAULT_PEERS,
                    help="built-in peers to run, comma list (default %s)" % DEFAULT_PEERS)
    ap.add_argument("--peer", action="append", default=[], metavar="NAME=CMD",
                    help="an extra peer: CMD runs it in the foreground; it gets the path "
                         "of a PumpkinLB config for the suite's ports as {config} or as "
                         "its last argument. Repeatable.")
    ap.add_argument("--n10k", type=int, default=10000,
                    help="connections of the idle10k workload (default 10000, "
                         "lowered when RLIMIT_NOFILE is too small)")
    ap.add_argument("--idle-hold", type=float, default=2.0,
                    help="seconds idle connections are held after measuring (default 2)")
    ap.add_argument("--lb-cpu", default="1", help="CPU of the balancer (default 1)")
    ap.add_argument("--load-cpu", default="0",
                    help="CPU of load generator and backends (default 0)")
    ap.add_argument("--port-base", type=int, default=18700,
                    help="first port tried for the suite's 3 ports (default 18700)")
    ap.add_argument("--out", default="build/bench", help="directory of the results")
    ap.add_argument("--keep-workdir", action="store_true",
                    help="keep the temp dir with configs and logs")
    ap.add_argument("--ab-rounds", type=int, default=3,
                    help="rounds of the closing simultaneous run of PumpkinLB and "
                         "HAProxy (ab_cpu.py: CPU per request, both loaded at once; "
                         "default 3, 0 leaves it out)")
    a = ap.parse_args(argv)
    if a.rounds < 1 or a.duration < 1:
        ap.error("--rounds and --duration must be at least 1")
    bad = [w for w in a.workloads.split(",") if w not in WORKLOADS]
    if bad:
        ap.error("unknown workload(s): " + ",".join(bad))
    return a


# ---- dependencies ----

def missing_deps():
    miss = [t for t in TOOLS if shutil.which(t) is None]
    if not os.path.exists(peerlib.NGINX_STREAM_MODULE):
        miss.append("nginx stream module")
    if shutil.which("iperf"):
        v = subprocess.run(["iperf", "-v"], capture_output=True, text=True)
        if "version 2" not in v.stdout + v.stderr:
            miss.append("iperf2 (found another iperf)")
    return miss


def ensure_deps():
    miss = missing_deps()
    if not miss:
        return
    cmd = "apt-get install -y --no-install-recommends " + " ".join(DEB_PKGS)
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        say("Missing: %s. Install them with:\n  sudo %s" % (", ".join(miss), cmd))
        sys.exit(2)
    say("Installing benchmark peers and tools: " + " ".join(DEB_PKGS))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    lock = ["-o", "DPkg::Lock::Timeout=600"]
    subprocess.run(["apt-get"] + lock + ["update", "-qq"], env=env, check=False)
    r = subprocess.run(["apt-get"] + lock + ["install", "-y", "-qq",
                        "--no-install-recommends"] + DEB_PKGS, env=env)
    if r.returncode != 0 or missing_deps():
        say("Could not install: %s" % ", ".join(missing_deps()))
        sys.exit(2)


# ---- ports, limits, CPUs ----

def port_free(port):
    if procs.listening(port):
        return False
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # as the proxies do: TIME_WAIT left by the previous peer is no obstacle
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pick_ports(base):
    """Three free ports from base on, below the ephemeral range."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        eph_low = int(f.read().split()[0])
    got = []
    for p in range(base, min(base + 2000, 65536)):
        if eph_low <= p and base < eph_low:
            break
        if port_free(p):
            got.append(p)
            if len(got) == 3:
                return peerlib.Ports(*got)
    sys.exit("no 3 free ports from %d on" % base)


def setup_nofile(n10k):
    """Soft limit = hard limit, inherited by every process we start; returns
    (hard limit, connections the idle10k workload can use) and a note."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * n10k + FDS_PER_PROXY_EXTRA
    if hard < need:
        # Raising the hard limit takes CAP_SYS_RESOURCE (root): the common
        # default of 20,000 is just short of what 10,000 connections need.
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need + 1000, need + 1000))
            soft = hard = need + 1000
        except (ValueError, OSError):
            pass
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard >= need:
        return hard, n10k, "RLIMIT_NOFILE hard limit %d: enough for %d idle connections " \
                           "(a proxy needs 2 fds each)." % (hard, n10k)
    n = max(100, (hard - FDS_PER_PROXY_EXTRA) // 2)
    return hard, n, ("RLIMIT_NOFILE hard limit (ulimit -Hn) is %d, below the %d a proxy needs "
                     "for %d connections (2 fds each plus %d); idle10k uses %d connections. "
                     "Raise the hard limit to >= 20100 for the full figure."
                     % (hard, need, n10k, FDS_PER_PROXY_EXTRA, n))


def cpus_ok(args):
    n = os.cpu_count() or 1
    if n < 2 and (args.lb_cpu != "0" or args.load_cpu != "0"):
        say("Only one CPU: balancer, load generator and backends all on CPU 0.")
        args.lb_cpu = args.load_cpu = "0"


# ---- backends and proxies ----

class Backends:
    """Either two iperf2 servers or one nginx on both backend ports."""

    def __init__(self, wd, ports, cpu, nofile):
        self.wd, self.ports, self.cpu, self.nofile = wd, ports, cpu, nofile
        self.kind, self.procs = None, []

    def use(self, kind):
        if kind == self.kind:
            return
        self.stop()
        log = os.path.join(self.wd, "backend-%s.log" % kind)
        if kind == "iperf":
            self.procs = [procs.start(peerlib.backend_iperf(p), self.cpu, log)
                          for p in (self.ports.be1, self.ports.be2)]
        else:
            self.procs = [procs.start(peerlib.backend_nginx(self.wd, self.ports, self.nofile),
                                      self.cpu, log)]
        if not procs.wait_listening([self.ports.be1, self.ports.be2]):
            raise RuntimeError("%s backends did not start; see %s" % (kind, log))
        self.kind = kind

    def stop(self):
        for p in self.procs:
            procs.stop(p)
        self.procs, self.kind = [], None
        end = time.monotonic() + 5
        while time.monotonic() < end and (procs.listening(self.ports.be1)
                                          or procs.listening(self.ports.be2)):
            time.sleep(0.05)


def start_proxy(peer, ctx):
    if peer.direct:
        return None
    if not port_free(ctx.ports.lb):
        raise RuntimeError("port %d is busy before starting %s" % (ctx.ports.lb, peer.name))
    log = os.path.join(ctx.wd, "%s-r%d.log" % (peer.name, ctx.round))
    p = procs.start(peer.cmd, ctx.lb_cpu, log)
    p.log_path = log
    if not procs.wait_listening([ctx.ports.lb], 10, p):
        procs.stop(p)
        raise RuntimeError("%s did not listen on %d: %s" % (peer.name, ctx.ports.lb,
                                                             _tail(log)))
    return p


def _tail(path, n=400):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:].strip()
    except OSError:
        return ""


# ---- one peer, one round ----

PER_CPU = {"gbit": "_gbit_per_cpu_s", "conn": "_conn_per_cpu_s", "req": "_req_per_cpu_s"}


def run_workload(ctx, wl):
    """Run one workload; its figures plus the proxy's CPU seconds over it."""
    _, runner, unit_of_work = WORKLOADS[wl]
    cpu0 = procs.cpu_seconds(ctx.proxy.pid) if ctx.proxy else None
    segs0 = procs.tcp_outsegs()
    load0, lb0 = procs.cpu_ticks(ctx.load_cpus), procs.cpu_ticks(ctx.lb_cpus)
    res = runner(ctx)
    load1, lb1 = procs.cpu_ticks(ctx.load_cpus), procs.cpu_ticks(ctx.lb_cpus)
    segs1 = procs.tcp_outsegs()
    if not res and ctx.peer.direct and wl.startswith(("idle", "scale")):
        return {"_skipped": (None, "skipped for direct: no proxy to measure")}
    done = res.pop("_done", (None, None))[0]
    # Packets are what a proxy makes the kernel do, on both cores, and
    # unlike rates they hardly move with the machine's other load.
    if unit_of_work in ("conn", "req") and done and segs0 is not None and segs1 is not None:
        res[wl + "_segs_per_req"] = ((segs1 - segs0) / done, "segments")
    # Which core is the limit: a rate can only follow the balancer's cost
    # while the load CPU (client and backends) has time to spare.
    if unit_of_work:
        for side, a, b in (("load", load0, load1), ("lb", lb0, lb1)):
            busy = procs.busy_percent(a, b)
            if busy is not None:
                res["%s_%s_cpu_busy" % (wl, side)] = (busy, "%")
        # What one request costs the load CPU, whoever runs there: through
        # a proxy it also pays the kernel's work for the proxy's sockets.
        if unit_of_work in ("conn", "req") and done and load0 and load1:
            res[wl + "_load_cpu_us"] = ((load1[0] - load0[0]) / procs.CLK_TCK * 1e6 / done,
                                        "us/" + unit_of_work)
    if ctx.proxy:
        cpu = procs.cpu_seconds(ctx.proxy.pid) - cpu0
        res[wl + "_cpu_s"] = (cpu, "s")
        if unit_of_work and done and cpu > 0:
            res[wl + PER_CPU[unit_of_work]] = (done / cpu, unit_of_work + "/cpu_s")
    return res


def run_peer(ctx, peer, workloads, backends, record):
    """The workloads given, for one peer in one round, with one start of
    the proxy; records every figure."""
    ctx.peer = peer
    ctx.target = ctx.ports.be1 if peer.direct else ctx.ports.lb
    ctx.proxy = None
    say("== round %d: %s (%s)" % (ctx.round, peer.name, datetime.datetime.now().strftime("%T")))
    try:
        # Backends go first, so each workload meets the proxy with its backends up.
        ordered = by_backend(workloads)
        ctx.proxy = start_proxy(peer, ctx)
        for wl in ordered:
            backends.use(WORKLOADS[wl][0])
            if ctx.proxy and ctx.proxy.poll() is not None:
                say("  ! %s exited before %s: %s" % (peer.name, wl, _tail(ctx.proxy.log_path)))
                record(peer.name, wl + "_proxy_dead", 1, "bool")
                break
            res = run_workload(ctx, wl)
            for metric, (value, unit) in res.items():
                if not metric.startswith("_"):
                    record(peer.name, metric, value, unit)
            say("  %-9s %s" % (wl, _brief(res)))
            time.sleep(1)
    except RuntimeError as e:
        say("  ! %s" % e)
        record(peer.name, "start_failed", 1, "bool")
    finally:
        if ctx.proxy:
            procs.stop(ctx.proxy)


def by_backend(workloads):
    """iperf workloads first, then the nginx ones: backends change once."""
    return sorted(workloads, key=lambda w: WORKLOADS[w][0] != "iperf")


def peer_order(peers, n):
    """A B C D, then D C B A, alternating with n."""
    return list(peers) if n % 2 else list(reversed(peers))


def _brief(res):
    if "_skipped" in res:
        return res["_skipped"][1]
    keep = [k for k in res if not k.endswith(("_procs", "_backend_legs", "_opened"))]
    return " ".join("%s=%s" % (k, report.fmt(res[k][0]) if isinstance(res[k][0], (int, float))
                               else res[k][0]) for k in keep) or "(no figures)"


# ---- the run ----

def build_peers(args, wd, ports, nofile, n10k):
    builtin = peerlib.builtin_peers(wd, ports, os.path.abspath(args.bin), nofile, n10k)
    chosen = []
    for name in [n for n in args.peers.split(",") if n]:
        if name not in builtin:
            sys.exit("unknown peer %r (built-in: %s)" % (name, ",".join(builtin)))
        chosen.append(builtin[name])
    for spec in args.peer:
        try:
            chosen.append(peerlib.custom_peer(spec, wd, ports))
        except ValueError as e:
            sys.exit(str(e))
    names = [p.name for p in chosen]
    if len(set(names)) != len(names):
        sys.exit("peer names must be unique: " + ",".join(names))
    return chosen


def header(args, ports, nofile_note, n10k, peers):
    """The conditions of the run, printed first and kept in the summary."""
    lines = [
        "PumpkinLB benchmark: %d round(s), %d s per wrk/iperf run, peers %s"
        % (args.rounds, args.duration, ", ".join(p.name for p in peers)),
        "Ports on 127.0.0.1: proxies listen on %d; backends %d and %d (round robin over "
        "both; direct goes to %d only)." % (ports.lb, ports.be1, ports.be2, ports.be1),
        "Pinning (taskset): the balancer (all its processes) on CPU %s; the load generator "
        "(wrk, iperf client, idle holder) and the backends (nginx, iperf servers) on CPU %s."
        % (args.lb_cpu, args.load_cpu),
        "The two cores are shared by load generator, backends and balancer (and anything "
        "else running on this machine): figures are relative, compare only within one run.",
        "CPU accounting: utime+stime from /proc/PID/stat of every process of the proxy, "
        "over each workload.",
        "PumpkinLB config: buffer_size = %d, HAProxy's default tune.bufsize, so both relay "
        "in the same chunk size. HAProxy: mode tcp, nbthread 1. nginx: stream, one worker."
        % peerlib.BUFFER_SIZE,
        nofile_note,
        "idle1k holds 1000 connections, idle10k %d; scale100/1k/9k keep-alive on 100, "
        "1,000 and 9,000 connections (CPU per request once all are up, requests counted "
        "by the backend); lat1 one client, one request at a time." % n10k,
    ]
    lines += ["  %s: %s" % (p.name, " ".join(p.cmd)) for p in peers if p.cmd]
    return "\n".join(lines)


def check_clean(ports):
    """Nothing we started may be left, nor anything listening on our ports."""
    out = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True).stdout
    ours = {ports.lb, ports.be1, ports.be2}
    left = [l for l in out.splitlines() if l.split() and any(
        l.split()[3].endswith(":%d" % p) for p in ours)]
    if left:
        say("! still listening after cleanup:\n" + "\n".join(left))
        return False
    say("Cleanup: every process group stopped; nothing listens on ports %d, %d, %d (ss -ltn)."
        % (ports.lb, ports.be1, ports.be2))
    return True


def expected_metrics(workloads, peer):
    """Figures every (peer, round) must have produced."""
    m = []
    for wl in workloads:
        if wl.startswith("idle"):
            if not peer.direct:
                m += [wl + "_rss_kib_per_conn", wl + "_cpu_s"]
        elif wl.startswith("scale"):
            if not peer.direct:
                m.append(wl + "_cpu_us")
        elif wl == "lat1":
            m += ["lat1_p50_us", "lat1_p99_us"]
        else:
            m.append({"bulk1": "bulk1_gbps", "bulk8": "bulk8_gbps", "short": "short_cps",
                      "keepalive": "keepalive_rps"}[wl])
            if not peer.direct:
                m.append(wl + "_cpu_s")
    return m


def completeness(records, peers, workloads, rounds):
    have = {(r, p, m) for r, p, m, v, _ in records if isinstance(v, (int, float))}
    missing = ["round %d %s %s" % (r, p.name, m) for r in range(1, rounds + 1)
               for p in peers for m in expected_metrics(workloads, p) if (r, p.name, m) not in have]
    return missing


def idle_problems(records, n_for):
    """Idle runs whose connections were not all opened, kept and answering."""
    probs = []
    by = {(r, p, m): v for r, p, m, v, _ in records}
    for (r, p, m), v in by.items():
        if m.endswith("_opened"):
            wl = m[:-len("_opened")]
            alive = by.get((r, p, wl + "_alive"))
            probe = by.get((r, p, wl + "_probe_ok"))
            if v < n_for[wl] or alive != v or not probe:
                probs.append("round %d %s %s: opened %s of %d, alive %s, probes answered %s"
                             % (r, p, wl, v, n_for[wl], alive, probe))
    return probs


def main(argv):
    args = parse_args(argv)
    ensure_deps()
    if not os.access(args.bin, os.X_OK) and "pumpkinlb" in args.peers.split(","):
        sys.exit("%s not found: run make first" % args.bin)
    cpus_ok(args)
    nofile, n10k, nofile_note = setup_nofile(args.n10k)
    ports = pick_ports(args.port_base)
    wd = tempfile.mkdtemp(prefix="pumpkinlb-bench.")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    os.makedirs(args.out, exist_ok=True)
    raw_path = os.path.join(args.out, "raw-%s.txt" % stamp)
    workloads = args.workloads.split(",")
    peers = build_peers(args, wd, ports, nofile, n10k)
    conditions = header(args, ports, nofile_note, n10k, peers)
    say(conditions + "\n")

    records = []
    raw = open(raw_path, "w")
    raw.write("# PumpkinLB benchmark %s rounds=%d duration=%d lb_cpu=%s load_cpu=%s "
              "n10k=%d buffer_size=%d\n" % (stamp, args.rounds, args.duration, args.lb_cpu,
                                            args.load_cpu, n10k, peerlib.BUFFER_SIZE))

    def record(peer, metric, value, unit):
        records.append((ctx.round, peer, metric, value, unit))
        raw.write("round=%d peer=%s metric=%s value=%s unit=%s\n"
                  % (ctx.round, peer, metric, value, unit))
        raw.flush()

    ctx = Ctx()
    ctx.wd, ctx.ports, ctx.duration = wd, ports, args.duration
    ctx.lb_cpu, ctx.load_cpu, ctx.n10k, ctx.idle_hold = args.lb_cpu, args.load_cpu, n10k, \
        args.idle_hold
    ctx.lb_cpus, ctx.load_cpus = procs.cpu_list(args.lb_cpu), procs.cpu_list(args.load_cpu)
    backends = Backends(wd, ports, args.load_cpu, nofile)
    interrupted = False
    t0 = time.monotonic()
    try:
        for r in range(1, args.rounds + 1):
            ctx.round = r
            for i, wl in enumerate(by_backend(workloads)):
                for peer in peer_order(peers, r + i):
                    run_peer(ctx, peer, [wl], backends, record)
            backends.stop()
    except KeyboardInterrupt:
        interrupted = True
        say("\ninterrupted: stopping everything")
    finally:
        backends.stop()
        procs.stop_all()
        raw.close()
        clean = check_clean(ports)
        if args.keep_workdir:
            say("work dir kept: " + wd)
        else:
            shutil.rmtree(wd, ignore_errors=True)
    if interrupted:
        say("partial raw results: " + raw_path)
        return 130

    names = [p.name for p in peers]
    values, units = report.collect(records)
    report.derive(values, units, names)
    say()
    say("Medians of %d round(s) (%.0f s in all). (x.xx×H) = ratio to HAProxy, (x.xx×D) = "
        "ratio to direct; CPU s = the proxy's CPU seconds over the workload."
        % (args.rounds, time.monotonic() - t0))
    say()
    say(report.table(values, names))
    say()
    say(report.machine_lines(values, units, names))
    summary_path = os.path.join(args.out, "summary-%s.md" % stamp)
    with open(summary_path, "w") as f:
        f.write(conditions + "\n\n" + report.table(values, names) + "\n\n" + report.machine_lines(values, units, names)
                + "\n")
    try:
        ab = simultaneous_ab(args, workloads, names)
    except KeyboardInterrupt:
        say("\ninterrupted: stopping everything")
        return 130
    targets = report.targets(values, ab_medians(ab))
    if targets:
        say()
        say("\n".join(targets))
    if ab or targets:
        with open(summary_path, "a") as f:
            f.write("\n" + "\n".join(ab + [""] + targets) + "\n")
    say()
    say("raw results: %s\nsummary: %s" % (raw_path, summary_path))

    missing = completeness(records, peers, workloads, args.rounds)
    probs = idle_problems(records, {"idle1k": 1000, "idle10k": n10k})
    for line in missing:
        say("! missing: " + line)
    for line in probs:
        say("! idle: " + line)
    return 0 if clean and not missing and not probs else 1


def simultaneous_ab(args, workloads, names):
    """PumpkinLB's CPU per request over HAProxy's with both loaded at once
    (ab_cpu.py): the comparison of the proxies' own cost that the shared
    machine's swings cannot move. Returns the summary's lines."""
    wls = [w for w in ("short", "keepalive") if w in workloads]
    if args.ab_rounds <= 0 or not wls or not {"pumpkinlb", "haproxy"} <= set(names):
        return []
    import ab_cpu  # here, as it imports this module
    say()
    say("Simultaneous run: PumpkinLB (B) and HAProxy (A) at once on CPU %s, each "
        "loaded by its own wrk on CPU %s, %d round(s)." % (args.lb_cpu, args.load_cpu,
                                                          args.ab_rounds))
    ratios = ab_cpu.run_ab("haproxy", os.path.abspath(args.bin), args.ab_rounds,
                           args.duration, wls, args.lb_cpu, args.load_cpu, out=say)
    lines = ["PumpkinLB's CPU per request over HAProxy's, both loaded at once "
             "(below 1: PumpkinLB is cheaper): " + ", ".join(
                 "%s %.3f" % (w, statistics.median(r)) for w, r in ratios.items() if r),
             ""] + ab_cpu.summary_lines(ratios)
    say()
    for line in lines:
        say(line)
    return lines


def ab_medians(lines):
    """{workload: median B/A} from the AB lines of simultaneous_ab()."""
    out = {}
    for line in lines:
        if line.startswith("AB "):
            kv = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
            out[kv["workload"]] = float(kv["median_B_over_A"])
    return out


def _on_term(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGHUP, _on_term)
    sys.exit(main(sys.argv[1:]))
