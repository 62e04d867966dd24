#!/usr/bin/env python3
"""`make soak`: minutes of mixed traffic through PumpkinLB while things go
wrong around it, every byte checked at both ends (issue 19).

    python3 tests/soak/soak.py --bin build/pumpkinlb [--duration 180] ...

Clients (several processes, soak_peers.py --client) keep --clients
exchanges going through the balancer: payloads up to 8 MiB each way,
mixed sizes, uploads, downloads and both at once, 3% of them reset by
their backend mid-stream. Meanwhile: a reload (SIGHUP) every
--reload-every seconds, a backend killed (SIGKILL) every
--backend-kill-every seconds and restarted 2 s later, one worker process
killed (SIGKILL) at 45% of the run, and a burst of --burst connections at
once every --burst-every seconds. At --duration the clients finish what
they have under way (each bounded by 60 s without progress), the
balancer is stopped (SIGTERM, exit status 0 expected) and the table is
printed:

  connections, bytes verified (by the clients as they came, and by the
  backends for every complete upload); visible errors by cause (planned
  resets, killed backends, the killed worker, no backend to be had);
  silent truncations (a clean end before the whole reply at a client, or
  before the whole upload at a backend: must be 0); corruption and
  stalls (must be 0); RSS and open descriptors of the balancer's parent
  and workers after warm-up and at the end.

Exit status 0 only when silent truncations, corruption and stalls are 0
and the balancer stopped with status 0. Everything runs on 127.0.0.1 on
ports picked at run time; every process it starts is stopped by its PID
(SIGTERM, then SIGKILL), also on an error or Ctrl+C. Files (logs, client
results, the config) go to --out, with run.json: `--report DIR` prints
the table of a run kept there again."""

import argparse
import collections
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "soak_peers.py")


# ------------------------------------------------------------- processes

class Procs:
    """Every process the soak starts, stopped by PID."""

    def __init__(self, out):
        self.out = out
        self.procs = []

    def start(self, name, cmd):
        log = open(os.path.join(self.out, name + ".log"), "ab")
        try:
            p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)
        finally:
            log.close()
        self.procs.append(p)
        return p

    @staticmethod
    def stop(p, grace=5.0):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
        return p.returncode

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p, 3.0)


def kill_pid(pid, starttime):
    """SIGTERM, then SIGKILL, pid if it is still the process started at
    starttime."""
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        if proc_stat(pid) is None or proc_stat(pid)[2] != starttime:
            return
        try:
            os.kill(pid, sig)
        except OSError:
            return
        end = time.monotonic() + wait
        while time.monotonic() < end and proc_stat(pid) is not None:
            time.sleep(0.05)


def proc_stat(pid):
    """(state, ppid, starttime) of pid, or None when it is gone (or a
    zombie)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if rest[0] in ("Z", "X"):
        return None
    return rest[0], int(rest[1]), int(rest[19])


def children(pid):
    """[(pid, starttime)] of pid's live children."""
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[1] == pid:
                kids.append((int(d), st[2]))
    return kids


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def nfds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return 0


def sample(lb_pid):
    """RSS (KiB) and open descriptors of the parent and of its workers."""
    kids = [p for p, _ in children(lb_pid)]
    return {"parent_rss": rss_kib(lb_pid), "parent_fds": nfds(lb_pid),
            "workers": len(kids),
            "workers_rss": sum(rss_kib(p) for p in kids),
            "workers_fds": sum(nfds(p) for p in kids)}


def free_ports(n):
    ports = set()
    while len(ports) < n:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        ports.add(s.getsockname()[1])
        s.close()
    return sorted(ports)


def wait_listening(port, proc, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            sys.exit("soak: %s exited before listening on %d"
                     % (proc.args, port))
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("soak: nothing listens on 127.0.0.1:%d" % port)


# ----------------------------------------------------------------- the run

def config(lb_port, backends, processes, variant):
    """The balancer's config; reloads alternate two algorithms, so a
    reload changes something."""
    return ("[options]\nprocesses = %d\nbuffer_size = 16384\n"
            "connect_timeout = 2\ngraceful_shutdown_timeout = 30\n"
            "algorithm = %s\n[mappings]\n127.0.0.1:%d = %s\n"
            % (processes, ("roundrobin", "leastconn")[variant % 2], lb_port,
               ", ".join("127.0.0.1:%d" % p for p in backends)))


class Run:
    def __init__(self, args):
        self.a = args
        self.procs = Procs(args.out)
        self.events = []    # (wall time, what, detail)
        self.samples = []   # (seconds into the run, sample)
        self.workers = {}   # every worker pid seen -> starttime
        self.backends = {}  # port -> Popen
        self.lb = None

    def note(self, what, detail=""):
        self.events.append((time.time(), what, detail))
        print("soak: %6.1fs %s %s" % (time.monotonic() - self.t0, what,
                                      detail), flush=True)

    def start_backend(self, port):
        p = self.procs.start("backend-%d" % port,
                             [sys.executable, PEERS, "--backend", str(port)])
        self.backends[port] = p
        wait_listening(port, p)

    def write_config(self, variant):
        with open(self.cfg, "w") as f:
            f.write(config(self.lb_port, self.be_ports, self.a.processes,
                           variant))

    def setup(self):
        ports = free_ports(4)
        self.lb_port, self.be_ports = ports[0], ports[1:]
        for port in self.be_ports:
            self.start_backend(port)
        self.cfg = os.path.join(self.a.out, "soak.cfg")
        self.write_config(0)
        self.lb = self.procs.start("lb", [self.a.bin, self.cfg])
        self.lb_start = proc_stat(self.lb.pid)[2]
        wait_listening(self.lb_port, self.lb)
        n = self.a.client_procs
        self.clients = []
        for i in range(n):
            share = self.a.clients // n + (i < self.a.clients % n)
            self.clients.append(self.procs.start("client-%d" % i, [
                sys.executable, PEERS, "--client", str(self.lb_port),
                str(share), str(self.a.seed * 100 + i),
                os.path.join(self.a.out, "client-%d.jsonl" % i),
                str(self.a.burst)]))

    def kill_backend(self, k):
        port = self.be_ports[k % len(self.be_ports)]
        self.backends[port].kill()
        self.backends[port].wait(10)
        self.note("backend killed", "127.0.0.1:%d" % port)
        return port

    def kill_worker(self):
        kids = sorted(children(self.lb.pid), key=lambda x: -x[1])
        if not kids:
            self.note("worker kill skipped", "no worker found")
            return
        os.kill(kids[0][0], signal.SIGKILL)
        self.note("worker killed", "pid %d" % kids[0][0])

    def tick(self, now, due):
        """One second of the timeline: whatever is due."""
        a = self.a
        if now >= due["reload"]:
            due["reload"] += a.reload_every
            due["variant"] += 1
            self.write_config(due["variant"])
            self.lb.send_signal(signal.SIGHUP)
            self.note("reload", "SIGHUP")
        if now >= due["kill"]:
            due["kill"] += a.backend_kill_every
            due["restart"].append((now + 2.0, self.kill_backend(due["n"])))
            due["n"] += 1
        for when, port in list(due["restart"]):
            if now >= when:
                due["restart"].remove((when, port))
                self.start_backend(port)
                self.note("backend restarted", "127.0.0.1:%d" % port)
        if not due["worker_killed"] and now >= a.duration * 0.45:
            due["worker_killed"] = True
            self.kill_worker()
        if now >= due["burst"]:
            due["burst"] += a.burst_every
            self.clients[0].send_signal(signal.SIGUSR1)
            self.note("connect burst", "%d connections" % a.burst)
        if now >= due["sample"]:
            due["sample"] += 5
            self.samples.append((now, sample(self.lb.pid)))
        for pid, start in children(self.lb.pid):
            self.workers.setdefault(pid, start)

    def run(self):
        a = self.a
        self.t0 = time.monotonic()
        self.setup()
        self.note("started", "balancer pid %d on 127.0.0.1:%d, backends %s"
                  % (self.lb.pid, self.lb_port, self.be_ports))
        due = {"reload": a.reload_every, "kill": 10.0, "restart": [], "n": 0,
               "variant": 0, "worker_killed": False, "burst": 7.0,
               "sample": 0.0}
        while True:
            now = time.monotonic() - self.t0
            if now >= a.duration:
                break
            if self.lb.poll() is not None:
                self.note("balancer exited", "status %s" % self.lb.returncode)
                break
            self.tick(now, due)
            time.sleep(0.25)
        for when, port in due["restart"]:
            self.start_backend(port)
        self.finish()

    def finish(self):
        self.note("stopping clients", "they finish what is under way")
        for c in self.clients:
            c.send_signal(signal.SIGTERM)
        end = time.monotonic() + 120
        for c in self.clients:
            try:
                c.wait(max(1.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.note("client killed", "pid %d did not finish" % c.pid)
                c.kill()
                c.wait(10)
        time.sleep(3.0)
        self.samples.append((time.monotonic() - self.t0,
                             sample(self.lb.pid)))
        for pid, start in children(self.lb.pid):
            self.workers.setdefault(pid, start)
        self.lb_status = Procs.stop(self.lb, 40.0)
        self.note("balancer stopped", "exit status %s" % self.lb_status)
        self.left = [pid for pid, st in self.workers.items()
                     if proc_stat(pid) and proc_stat(pid)[2] == st]
        for pid in self.left:
            kill_pid(pid, self.workers[pid])


# -------------------------------------------------------------- the report

LOG_RE = re.compile(r"^\[ (\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}) \] "
                    r"Connection client=127\.0\.0\.1:(\d+) .*"
                    r" duration_ms=(\d+) .* end=(\w+)")


def connection_ends(path):
    """{client port: [(wall time of the end, duration s, end)]} from the
    connection log lines (stamped to the second)."""
    ends = collections.defaultdict(list)
    with open(path, errors="replace") as f:
        for line in f:
            m = LOG_RE.match(line)
            if m:
                t = time.mktime(time.strptime(
                    " ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y"))
                ends[int(m.group(2))].append(
                    (t, int(m.group(3)) / 1000.0, m.group(4)))
    return ends


def results(out, n):
    found = []
    for i in range(n):
        path = os.path.join(out, "client-%d.jsonl" % i)
        if os.path.exists(path):
            with open(path) as f:
                found += [json.loads(line) for line in f if line.strip()]
    return found


def logged_end(ends, r, off):
    """The balancer's end= for result r: the line for its port whose end
    and start agree with the client's (ports are reused; stamps are to the
    second). off turns the clients' monotonic times into wall-clock ones.
    None: no such line (a killed worker writes none)."""
    t0, t1 = r["t0"] + off, r["t1"] + off
    near = [(abs(lt - t1), end) for lt, dur, end in ends.get(r["port"], [])
            if abs(lt - t1) <= 2.5 and abs(lt - dur - t0) <= 2.5]
    return min(near)[1] if near else None


def in_window(events, what, t, before, after):
    return any(w == what and e - before <= t <= e + after
               for e, w, _ in events)


def cause(events, r, end, off):
    """Why an exchange that did not complete ended, as far as the run's
    events and the balancer's connection line tell."""
    t = r["t1"] + off
    if r["mode"] == "r":
        return "backend reset mid-stream (planned)"
    if end is None and in_window(events, "worker killed", t, 1, 30):
        return "worker killed (no connection line)"
    if end == "backend_reset" and in_window(events, "backend killed", t,
                                            1, 5):
        return "backend killed"
    if end == "connect_failed":
        return "no backend could be reached (connect_failed)"
    return "other: client saw %s, balancer logged end=%s" % (r["how"], end)


def uploads_cut(facts):
    """Backends' UPLOAD_TRUNCATED lines, by what was going on then."""
    cut = collections.Counter()
    for port in facts["be_ports"]:
        with open(os.path.join(facts["out"], "backend-%d.log" % port)) as f:
            for line in f:
                if not line.startswith("UPLOAD_TRUNCATED"):
                    continue
                t = float(line.split()[1])
                ev = facts["events"]
                cut["worker killed" if in_window(ev, "worker killed", t, 1, 30)
                    else "backend killed"
                    if in_window(ev, "backend killed", t, 1, 5)
                    else "other"] += 1
    return cut


def classify(facts):
    """(results, counts, visible causes, silent truncations at clients)."""
    rs = results(facts["out"], facts["client_procs"])
    ends = connection_ends(os.path.join(facts["out"], "lb.log"))
    off = facts["wall_minus_monotonic"]
    counts, visible, silent = (collections.Counter(), collections.Counter(),
                               collections.Counter())
    examples = []
    for r in rs:
        end = logged_end(ends, r, off)
        how = r["how"]
        if how == "ok":
            counts["ok"] += 1
        elif how == "truncated" or (how == "fin_empty" and
                                    end != "connect_failed"):
            silent[cause(facts["events"], r, end, off)] += 1
            examples.append((r, end))
        elif how in ("corrupt", "corrupt_upload", "stalled"):
            counts[how.split("_")[0]] += 1
        else:
            visible[cause(facts["events"], r, end, off)] += 1
    return rs, counts, visible, silent, examples


def report(facts):
    rs, counts, visible, silent, examples = classify(facts)
    cut = uploads_cut(facts)
    verified = sum(r["got"] for r in rs) + sum(r["up"] for r in rs
                                               if r["how"] == "ok")
    samples = facts["samples"]
    warm = next((s for t, s in samples if t >= 15), samples[0][1])
    last = samples[-1][1]
    lines = ["", "| soak, %d s, %d clients | |" % (facts["duration"],
                                                   facts["clients"]),
             "| --- | --- |",
             "| connections | %d (%d complete and exact) |"
             % (len(rs), counts["ok"]),
             "| bytes verified | %.2f GiB |" % (verified / 2 ** 30)]
    for title, by in (("visible errors", visible),
                      ("silent truncations at clients (clean end, reply "
                       "cut)", silent),
                      ("silent truncations at backends (clean end, upload "
                       "cut)", cut)):
        lines.append("| %s | %d |" % (title, sum(by.values())))
        lines += ["| - %s | %d |" % kv for kv in by.most_common()]
    lines += [
        "| corrupted exchanges | %d |" % counts["corrupt"],
        "| stalled exchanges | %d |" % counts["stalled"],
        "| parent RSS / fds, warm -> end | %d -> %d KiB / %d -> %d |"
        % (warm["parent_rss"], last["parent_rss"], warm["parent_fds"],
           last["parent_fds"]),
        "| workers RSS / fds, warm -> end | %d -> %d KiB / %d -> %d (%d -> "
        "%d workers) |" % (warm["workers_rss"], last["workers_rss"],
                           warm["workers_fds"], last["workers_fds"],
                           warm["workers"], last["workers"]),
        "| balancer exit status | %s |" % facts["lb_status"],
        "| workers left after the stop | %d |" % len(facts["left"]),
    ]
    lines += ["silent truncation: %s (balancer logged end=%s)"
              % (json.dumps(r), end) for r, end in examples[:10]]
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(facts["out"], "report.md"), "w") as f:
        f.write(text + "\n")
    bad = (sum(silent.values()) or sum(cut.values()) or counts["corrupt"]
           or counts["stalled"] or facts["lb_status"] != 0 or facts["left"]
           or not rs)
    return 1 if bad else 0


def save_facts(run):
    """What the report needs, kept beside the logs (--report reads it)."""
    a = run.a
    facts = {"out": a.out, "duration": a.duration, "clients": a.clients,
             "client_procs": a.client_procs, "be_ports": run.be_ports,
             "events": run.events, "samples": run.samples,
             "lb_status": run.lb_status, "left": run.left,
             "wall_minus_monotonic": time.time() - time.monotonic()}
    with open(os.path.join(a.out, "run.json"), "w") as f:
        json.dump(facts, f)
    return facts


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", help="the pumpkinlb binary")
    ap.add_argument("--report", metavar="DIR",
                    help="print the table of the run kept in DIR again")
    ap.add_argument("--duration", type=float, default=180.0,
                    help="seconds of traffic (default 180)")
    ap.add_argument("--clients", type=int, default=100,
                    help="exchanges under way at once (default 100)")
    ap.add_argument("--client-procs", type=int, default=4)
    ap.add_argument("--processes", type=int, default=2,
                    help="the balancer's worker processes (default 2)")
    ap.add_argument("--reload-every", type=float, default=20.0)
    ap.add_argument("--backend-kill-every", type=float, default=30.0)
    ap.add_argument("--burst", type=int, default=300)
    ap.add_argument("--burst-every", type=float, default=15.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="build/soak")
    a = ap.parse_args(argv)
    if a.report:
        with open(os.path.join(a.report, "run.json")) as f:
            facts = json.load(f)
        facts["out"] = a.report
        return report(facts)
    if not a.bin:
        sys.exit("soak: --bin BINARY (or --report DIR)")
    if not (10 <= a.duration <= 3600) or not (1 <= a.clients <= 1000):
        sys.exit("soak: --duration 10..3600 and --clients 1..1000")
    os.makedirs(a.out, exist_ok=True)
    for name in os.listdir(a.out):
        if name.endswith((".log", ".jsonl")):
            os.unlink(os.path.join(a.out, name))
    run = Run(a)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    try:
        run.run()
        return report(save_facts(run))
    finally:
        run.procs.stop_all()
        if run.lb is not None:
            for pid, start in list(run.workers.items()):
                kill_pid(pid, start)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
