"""High availability as installer/README.md describes it, in network
namespaces.

Called by run.py with the blocks marked `<!-- docs-test: ha NAME -->` in
the tracked *.md files (installer/README.md). Needs root (ip netns);
without it the test is reported as not run.

Topology, all made here and removed afterwards (names end in this
process's PID; addresses 10.77.0.0/24 exist only inside these namespaces):

    plbc<PID>: bridge br0 10.77.0.1 -- client loop to 10.77.0.100:8080
       |  veth                     \\  veth
    plba<PID>: eth0 10.77.0.2        plbb<PID>: eth0 10.77.0.3
      pumpkinlb (one config file)      pumpkinlb (the same file)
      backend 127.0.0.1:9000 "A"       backend 127.0.0.1:9000 "B"
      keepalived, priority 150         keepalived, priority 100

keepalived (Debian's) runs the documented keepalived.conf with its
192.0.2.x addresses changed to 10.77.0.x, the check script path pointing
at the documented check-pumpkinlb, and priority 100 on the second node. If
keepalived is missing or cannot take the address here, the test moves the
address itself (a scripted move) and says so in its result.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

NAME = ("high availability: kill the master's balancer, the virtual "
        "address moves, the client loop is served by the other instance")
VIP = "10.77.0.100"
PORT = 8080
MAX_SWITCH_S = 6.0      # failed connects allowed only within this window
AFTER_S = 5.0           # and none for this long after the switch

BACKEND = r"""
import socket, sys, threading
name = sys.argv[1].encode() + b"\n"
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 9000))
s.listen(128)
def serve(c):
    try:
        c.sendall(name)
        while c.recv(4096):
            pass
    except OSError:
        pass
    finally:
        c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

CLIENT = r"""
import socket, sys, time
vip, port, hold = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
held = []
for h in hold:  # long-lived connections, seen by pumpkinlb-stats
    a, p = h.rsplit(":", 1)
    held.append(socket.create_connection((a, int(p)), 2))
while True:
    t = time.time()
    try:
        c = socket.create_connection((vip, port), 0.3)
        c.settimeout(0.5)
        data = c.recv(16).decode().strip()
        c.close()
        res = data if data else "fail:empty"
    except OSError as e:
        res = "fail:" + type(e).__name__
    print("%.3f %s" % (t, res), flush=True)
    time.sleep(max(0.0, 0.1 - (time.time() - t)))
"""

CONFIG = """; the same file for both instances
[options]
connect_timeout = 1
graceful_shutdown_timeout = 2

[mappings]
%d = 127.0.0.1:9000
""" % PORT


class Env:
    def __init__(self):
        tag = str(os.getpid())
        self.ns = {"a": "plba" + tag, "b": "plbb" + tag, "c": "plbc" + tag}
        self.procs = []       # (name, Popen), each its own session
        self.made_ns = []
        base = "/run" if os.path.isdir("/run") else None
        # root-owned and not world-writable: keepalived's script security
        self.tmp = tempfile.mkdtemp(prefix="pumpkinlb-ha-", dir=base)

    def ip(self, *args, check=True):
        r = subprocess.run(["ip"] + list(args), capture_output=True,
                           text=True, timeout=20)
        if check and r.returncode != 0:
            raise RuntimeError("ip %s: %s" % (" ".join(args),
                                              r.stderr.strip()))
        return r.stdout

    def spawn(self, name, ns, args, log):
        f = open(os.path.join(self.tmp, log), "w")
        p = subprocess.Popen(["ip", "netns", "exec", self.ns[ns]] + args,
                             stdout=f, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, cwd=self.tmp,
                             start_new_session=True)
        f.close()
        self.procs.append((name, p))
        return p

    def setup(self):
        for k in "abc":
            self.ip("netns", "add", self.ns[k])
            self.made_ns.append(self.ns[k])
            self.ip("-n", self.ns[k], "link", "set", "lo", "up")
        c = self.ns["c"]
        self.ip("-n", c, "link", "add", "br0", "type", "bridge")
        for k, addr in (("a", "10.77.0.2/24"), ("b", "10.77.0.3/24")):
            peer = "v" + k
            self.ip("-n", self.ns[k], "link", "add", "eth0", "type", "veth",
                    "peer", "name", peer, "netns", c)
            self.ip("-n", c, "link", "set", peer, "master", "br0")
            self.ip("-n", c, "link", "set", peer, "up")
            self.ip("-n", self.ns[k], "addr", "add", addr, "dev", "eth0")
            self.ip("-n", self.ns[k], "link", "set", "eth0", "up")
        self.ip("-n", c, "addr", "add", "10.77.0.1/24", "dev", "br0")
        self.ip("-n", c, "link", "set", "br0", "up")

    def has_vip(self, k):
        out = self.ip("-n", self.ns[k], "-4", "addr", "show", "dev", "eth0",
                      check=False)
        return (" %s/" % VIP) in out

    def cleanup(self):
        for _, p in reversed(self.procs):
            for pid in tree_pids(p.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for ns in self.made_ns:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True,
                           timeout=20)
        shutil.rmtree(self.tmp, ignore_errors=True)


def tree_pids(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def wait_for(cond, timeout, interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(interval)
    return cond()


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def client_lines(env):
    out = []
    for line in read(os.path.join(env.tmp, "client.log")).splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out.append((float(parts[0]), parts[1]))
            except ValueError:
                pass
    return out


def main(binary, blocks, report):
    if os.geteuid() != 0:
        print("NOT RUN: the high-availability test needs root (it creates "
              "network namespaces); run `make test` as root to run it")
        report("SKIP", NAME, "not run: needs root")
        return
    need = ["keepalived.conf", "check-pumpkinlb", "pumpkinlb-stats",
            "aggregate"]
    missing = [n for n in need if n not in blocks]
    if missing:
        report("FAIL", NAME, "no tracked .md file has a block marked "
               "<!-- docs-test: ha %s -->" % ", ".join(missing))
        return
    if not shutil.which("ip"):
        report("FAIL", NAME, "ip (iproute2) is missing")
        return
    binary = os.path.abspath(binary)
    env = Env()
    t_start = time.time()
    try:
        _run(env, binary, blocks, report)
    finally:
        env.cleanup()
        left = [n for n in env.made_ns if n in subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True).stdout]
        if left:
            report("FAIL", "high availability: cleanup",
                   "namespaces left: %s" % " ".join(left))
        print("(HA test took %.1fs, namespaces and processes removed)"
              % (time.time() - t_start))


def _run(env, binary, blocks, report):
    env.setup()
    tmp = env.tmp
    cfg = os.path.join(tmp, "pumpkinlb.cfg")
    with open(cfg, "w") as f:
        f.write(CONFIG)
    check = os.path.join(tmp, "check-pumpkinlb")
    with open(check, "w") as f:
        f.write(blocks["check-pumpkinlb"])
    os.chmod(check, 0o755)

    # Backends and balancers: the same config file in both namespaces.
    lbs = {}
    for k, name in (("a", "A"), ("b", "B")):
        env.spawn("backend " + name, k, [sys.executable, "-c", BACKEND, name],
                  "backend-%s.log" % k)
        lbs[k] = env.spawn("pumpkinlb " + name, k, [binary, cfg],
                           env.ns[k] + ".log")
    for k in "ab":
        ok = wait_for(lambda: "Starting up listener" in
                      read(os.path.join(tmp, env.ns[k] + ".log")), 10)
        if not ok or lbs[k].poll() is not None:
            report("FAIL", NAME, "pumpkinlb did not start in %s:\n%s"
                   % (env.ns[k], read(os.path.join(tmp, env.ns[k] + ".log"))))
            return

    # keepalived, or the scripted move.
    how, why = "keepalived", ""
    kv = ""
    if shutil.which("keepalived"):
        kv = subprocess.run(["keepalived", "--version"], capture_output=True,
                            text=True).stderr.splitlines()[:1]
        kv = kv[0] if kv else "keepalived"
        for k, prio in (("a", "150"), ("b", "100")):
            conf = blocks["keepalived.conf"].replace("192.0.2.", "10.77.0.")
            conf = conf.replace("/etc/keepalived/check-pumpkinlb", check)
            conf = re.sub(r"priority 150\b", "priority " + prio, conf)
            path = os.path.join(tmp, "keepalived-%s.conf" % k)
            with open(path, "w") as f:
                f.write(conf)
            pidf = [os.path.join(tmp, "%s-%s.pid" % (w, k))
                    for w in ("main", "vrrp", "check")]
            env.spawn("keepalived " + k, k,
                      ["keepalived", "--dont-fork", "--log-console",
                       "--log-detail", "--no-syslog", "--vrrp",
                       "-f", path, "-p", pidf[0], "-r", pidf[1],
                       "-c", pidf[2]], "keepalived-%s.log" % k)
        if not wait_for(lambda: env.has_vip("a"), 20):
            how = "scripted address move"
            why = ("keepalived did not take %s in %s within 20 s:\n%s"
                   % (VIP, env.ns["a"],
                      read(os.path.join(tmp, "keepalived-a.log"))[-1500:]))
            for name, p in env.procs:
                if name.startswith("keepalived"):
                    for pid in tree_pids(p.pid):
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
    else:
        how, why = "scripted address move", "keepalived is not installed"
    if how != "keepalived":
        print("NOTE: %s; falling back to %s" % (why.splitlines()[0], how))
        env.ip("-n", env.ns["a"], "addr", "add", VIP + "/24", "dev", "eth0")
    if env.has_vip("b"):
        report("FAIL", NAME, "both instances hold %s" % VIP)
        return

    # The client loop, with two long-lived connections to B's own address.
    client = env.spawn("client", "c",
                       [sys.executable, "-u", "-c", CLIENT, VIP, str(PORT),
                        "10.77.0.3:%d" % PORT, "10.77.0.3:%d" % PORT],
                       "client.log")
    if not wait_for(lambda: sum(1 for _, r in client_lines(env)
                                if r == "A") >= 10, 15):
        report("FAIL", NAME, "the client was not served by A through %s:"
               "\n%s" % (VIP, "\n".join(
                   "%s %s" % x for x in client_lines(env)[-10:])))
        return

    # Kill the master's balancer (parent and workers) by PID.
    victims = tree_pids(lbs["a"].pid)
    t_kill = time.time()
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if how != "keepalived":
        # What keepalived would do: notice, give the address away.
        check_rc = lambda: subprocess.run(
            ["ip", "netns", "exec", env.ns["a"], check],
            capture_output=True).returncode
        wait_for(lambda: check_rc() != 0, 5, 0.5)
        env.ip("-n", env.ns["a"], "addr", "del", VIP + "/24", "dev", "eth0")
        env.ip("-n", env.ns["b"], "addr", "add", VIP + "/24", "dev", "eth0")
        env.ip("-n", env.ns["c"], "neigh", "flush", "to", VIP, check=False)
    moved = wait_for(lambda: env.has_vip("b") and not env.has_vip("a"), 15)
    t_moved = time.time()
    served_b = wait_for(lambda: any(t > t_kill and r == "B"
                                    for t, r in client_lines(env)), 15)
    time.sleep(AFTER_S + 0.5)
    lines = client_lines(env)  # the loop goes on: its held connections
                               # are counted by the stats check below

    before = [r for t, r in lines if t < t_kill]
    first_b = min([t for t, r in lines if t > t_kill and r == "B"] or [0])
    during = [r for t, r in lines if t_kill <= t < first_b]
    after = [r for t, r in lines if first_b and t >= first_b]
    problems = []
    if not moved:
        problems.append("%s did not move to %s within 15 s"
                        % (VIP, env.ns["b"]))
    if not served_b:
        problems.append("the client was never served by B after the kill")
    if any(r.startswith("fail") for r in before):
        problems.append("failures before the kill: %d"
                        % sum(1 for r in before if r.startswith("fail")))
    window = first_b - t_kill if first_b else float("inf")
    if window > MAX_SWITCH_S:
        problems.append("switch took %.1f s (at most %.0f s allowed)"
                        % (window, MAX_SWITCH_S))
    bad_after = [r for r in after if r != "B"]
    if bad_after:
        problems.append("after the switch %d of %d connects were not "
                        "served by B: %s" % (len(bad_after), len(after),
                                             sorted(set(bad_after))))
    if first_b and lines and lines[-1][0] - first_b < AFTER_S - 0.5:
        problems.append("the client loop stopped early")
    fails = sum(1 for r in during if r.startswith("fail"))
    summary = ("%s (%s); address moved %.1f s after the kill; %d failed and "
               "%d served connects during the %.1f s switch, then %d of %d "
               "served by B over %.0f s"
               % (how, kv if how == "keepalived" else why.splitlines()[0],
                  t_moved - t_kill, fails, len(during) - fails, window,
                  len(after) - len(bad_after), len(after), AFTER_S))
    if problems:
        logs = "\n".join("--- %s\n%s" % (n, read(os.path.join(tmp, n))[-1200:])
                         for n in ("keepalived-a.log", "keepalived-b.log"))
        report("FAIL", NAME, "; ".join(problems) + "\n" + summary + "\n" +
               logs)
    else:
        report("PASS", NAME, summary)

    _check_stats(env, blocks, report)


def _check_stats(env, blocks, report):
    """The documented pumpkinlb-stats and its aggregation loop, with ip
    netns exec for ssh and each instance's log file."""
    name = "HA metrics: pumpkinlb-stats summed over both instances"
    tmp = env.tmp
    stats = os.path.join(tmp, "pumpkinlb-stats")
    with open(stats, "w") as f:
        f.write(blocks["pumpkinlb-stats"])
    os.chmod(stats, 0o755)
    agg = blocks["aggregate"]
    subs = (('ssh "$host"', 'ip netns exec "$host"'),
            ("lb1 lb2", "%s %s" % (env.ns["a"], env.ns["b"])),
            ("/var/log/pumpkinlb.log", '"%s/$host.log"' % tmp))
    for old, new in subs:
        if old not in agg:
            report("FAIL", name, "the aggregate block no longer "
                   "contains %r" % old)
            return
        agg = agg.replace(old, new)
    r = subprocess.run(["sh", "-c", agg], cwd=tmp, capture_output=True,
                       text=True, timeout=30)
    total = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition(" ")
        total[k] = int(v) if v.strip().isdigit() else v
    problems = []
    if r.returncode != 0:
        problems.append("exit status %d: %s" % (r.returncode, r.stderr))
    for k in ("connections", "retries", "all_backends_failed",
              "worker_restarts"):
        if not isinstance(total.get(k), int):
            problems.append("no number for %s in:\n%s" % (k, r.stdout))
    per = {}
    for k in "ab":
        s = subprocess.run(["ip", "netns", "exec", env.ns[k], "sh", stats,
                            str(PORT), os.path.join(tmp, env.ns[k] + ".log")],
                           capture_output=True, text=True, timeout=30)
        for line in s.stdout.splitlines():
            key, _, v = line.partition(" ")
            if v.strip().isdigit():
                per.setdefault(key, []).append(int(v))
    for key in ("retries", "all_backends_failed", "worker_restarts"):
        if sum(per.get(key, [])) != total.get(key):
            problems.append("%s: sum %s, per instance %s"
                            % (key, total.get(key), per.get(key)))
    if isinstance(total.get("connections"), int) and \
            total["connections"] < 2:
        problems.append("connections %d, but the client holds 2 open to "
                        "the second instance" % total["connections"])
    check_detail = " ".join("%s=%s" % kv for kv in sorted(total.items()))
    if problems:
        report("FAIL", name, "; ".join(problems))
    else:
        report("PASS", name, check_detail)
