"""Backend health and limits: passive health shared by worker processes,
active checks with rise/fall, max_conns per backend, duplicate backends
merged, and a connect that fails because this host ran out of local ports
(which is not the backend's fault)."""

import ctypes
import json
import os
import re
import shutil
import socket
import subprocess
import time

import lbtest
from lbtest import LOG_STAMP, eq, true


def _request(port, i):
    """One client: a line out, the backend's tagged reply back."""
    with lbtest.connect(port) as c:
        line = b"req-%d\n" % i
        c.sendall(line)
        reply = lbtest.recv_line(c)
    true(reply.endswith(b" " + line), "client %d is served" % i,
         reply=reply)
    return reply.split(b" ")[0].decode()


def _listen(port):
    """A plain listening socket on port: enough for a connect to work."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    return s


def test_passive_health_shared_by_workers():
    """Three backends, the middle one dead, two worker processes,
    max_fails 1: the dead backend is tried once in all, then skipped by
    both workers (one 'Retrying' and one 'is DOWN' line over 40 clients,
    where per-worker state would give at least two). After fail_timeout,
    with a backend listening on its port again, it serves and is logged
    'UP again'."""
    with lbtest.Scope() as s:
        live = [s.backend(lbtest.line_reply("B%d" % i)) for i in range(2)]
        dead = lbtest.free_port()
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(
            port, [live[0].port, dead, live[1].port],
            options={"processes": 2, "max_fails": 1,
                     "fail_timeout": 2}), wait_ports=[port])
        tags = [_request(port, i) for i in range(40)]
        eq(sorted(set(tags)), ["B0", "B1"], "backends that served")
        down = lb.wait_log(r"^" + LOG_STAMP + r"Backend 127\.0\.0\.1:%d of "
                           r"127\.0\.0\.1:%d is DOWN: 1 failed connect\(s\) "
                           r"within 2\.0 s; not used for 2\.0 s"
                           % (dead, port), timeout=5)
        true(down, "the transition to DOWN is logged", log=lb.tail(10))
        eq(len(lb.wait_log(r"Retrying request", timeout=0.5, count=99)), 1,
           "connects tried on the dead backend, over both workers")
        eq(len(lb.wait_log(r"is DOWN", timeout=0.1, count=99)), 1,
           "DOWN lines")
        back = s.backend(lbtest.line_reply("B2"), port=dead)
        time.sleep(2.2)  # fail_timeout passes: it is given a chance
        tags = [_request(port, 100 + i) for i in range(9)]
        true(back.served >= 1, "the backend that came back serves again",
             tags=tags)
        true(lb.wait_log(r"Backend 127\.0\.0\.1:%d of 127\.0\.0\.1:%d is UP "
                         r"again: a connect succeeded" % (dead, port),
                         timeout=5), "the transition to UP is logged",
             log=lb.tail(10))


def test_active_checks_rise_and_fall():
    """check_interval 0.2, fall 2, rise 2: with no client at all, a
    backend with nothing listening is logged DOWN by the checks; clients
    then never reach it (no 'Retrying'); once something listens there it
    is logged UP by the checks and gets its share again."""
    with lbtest.Scope() as s:
        live = s.backend(lbtest.line_reply("B0"))
        dead = lbtest.free_port()
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(
            port, [live.port, dead],
            options={"check_interval": 0.2, "rise": 2, "fall": 2,
                     "max_fails": 0}), wait_ports=[port])
        true(lb.wait_log(r"^" + LOG_STAMP + r"Backend 127\.0\.0\.1:%d of "
                         r"127\.0\.0\.1:%d is DOWN: 2 health checks in a row "
                         r"failed; not used until 2 health checks in a row "
                         r"pass" % (dead, port), timeout=10),
             "the checks take the dead backend out", log=lb.tail(10))
        tags = [_request(port, i) for i in range(6)]
        eq(tags, ["B0"] * 6, "clients served while it is out")
        eq(len(lb.wait_log(r"Retrying request", timeout=0.3)), 0,
           "no client was sent to the dead backend")
        back = s.backend(lbtest.line_reply("B1"), port=dead)
        true(lb.wait_log(r"Backend 127\.0\.0\.1:%d of 127\.0\.0\.1:%d is UP "
                         r"again: 2 health checks in a row passed"
                         % (dead, port), timeout=10),
             "the checks bring it back", log=lb.tail(10))
        tags = [_request(port, 10 + i) for i in range(6)]
        eq(sorted(set(tags)), ["B0", "B1"], "both backends serve again")
        true(back.accepted >= 2 + tags.count("B1"),
             "the checks connected to the backend", accepted=back.accepted)


def test_max_conns_per_backend():
    """max_conns 1 and two backends that hold connections open: two
    clients get one backend each, a third is closed at once without a
    byte (and it is logged); when one client leaves, a new client is
    served."""
    with lbtest.Scope() as s:
        backends = [s.backend(lbtest.echo) for _ in range(2)]
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(
            port, [b.port for b in backends], options={"max_conns": 1}),
            wait_ports=[port])
        held = []
        for i in range(2):
            c = lbtest.connect(port)
            c.sendall(b"hold-%d\n" % i)
            eq(lbtest.recv_line(c), b"hold-%d\n" % i, "held client %d" % i)
            held.append(c)
        eq([b.accepted for b in backends], [1, 1],
           "one connection on each backend")
        with lbtest.connect(port) as c:
            c.settimeout(5)
            try:
                data = c.recv(100)
            except ConnectionResetError:
                data = b""
        eq(data, b"", "a third client is closed without data")
        true(lb.wait_log(r"Every backend of 127\.0\.0\.1:%d is at max_conns "
                         r"\(1\); closing new client connections" % port,
                         timeout=5), "the refusal is logged",
             log=lb.tail(10))
        eq(sum(b.accepted for b in backends), 2, "backends saw no third")
        held.pop().close()
        ok = lbtest.wait_until(lambda: _try_echo(port), timeout=10,
                               interval=0.2)
        true(ok, "a new client is served once a slot is free")
        for c in held:
            c.close()


def _try_echo(port):
    try:
        with lbtest.connect(port, timeout=3) as c:
            c.sendall(b"again\n")
            return lbtest.recv_line(c) == b"again\n"
    except OSError:
        return False


def test_duplicate_backends_merged():
    """A backend listed twice is merged into one with a warning naming the
    file and line, so round robin alternates between the two distinct
    backends."""
    with lbtest.Scope() as s:
        b = [s.backend(lbtest.line_reply("B%d" % i)) for i in range(2)]
        port = lbtest.free_port()
        text = ("[mappings]\n127.0.0.1:%d = 127.0.0.1:%d, 127.0.0.1:%d,\n"
                "    127.0.0.1:%d\n" % (port, b[0].port, b[1].port,
                                        b[0].port))
        lb = s.balancer(text, wait_ports=[port])
        tags = [_request(port, i) for i in range(6)]
        eq(tags.count("B0"), 3, "connections to the merged backend")
        true(lb.wait_log(r"lb0\.cfg:3: .*backend '127\.0\.0\.1:%d' is listed "
                         r"twice for listener '[^']+' \(first on line 2"
                         % b[0].port, timeout=3),
             "the merge is warned about with file and line",
             log=lb.tail(10))


# ------------------------------------------- out of local ports (netns)

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
# Ports in the scenario's own network namespace (all free there); the
# ephemeral range is narrowed to EPHEMERAL, EPHEMERAL + 1.
LB_PORT, BACKEND_PORT, STATS_PORT, CLIENT_PORT = 20000, 20001, 20002, 30000
EPHEMERAL = 40000


def _can_make_netns():
    """Root, ip(8), and unshare(1) works here (not in every container)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or \
            not shutil.which("ip") or not shutil.which("unshare"):
        return False
    try:
        return subprocess.run(["unshare", "-m", "-n", "true"],
                              stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _private_network():
    """Moves this scenario's process (the runner gives each its own, and it
    has no other thread yet) into a network namespace of its own: loopback
    up, and only two ephemeral ports. Everything it starts from now on
    (backends, the balancer) lives there. Under Wine also a mount
    namespace, for _private_wine_prefix."""
    libc = ctypes.CDLL(None, use_errno=True)
    flags = CLONE_NEWNET | (CLONE_NEWNS if lbtest.WINE else 0)
    if libc.unshare(flags) != 0:
        lbtest.fail("unshare: %s" % os.strerror(ctypes.get_errno()))
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as f:
        f.write("%d %d\n" % (EPHEMERAL, EPHEMERAL + 1))


def _private_wine_prefix(scope):
    """Wine keeps every socket in its wineserver, so the balancer needs a
    wineserver inside the namespace, and the suite's own runs outside it.
    Wine keys its servers by the prefix directory's device and inode, so a
    copy-on-write view of the suite's prefix (overlayfs) gets a server of
    its own; what it writes vanishes with the view. Ended, by that
    prefix, when the scope closes (after the balancer)."""
    base = os.environ.get("WINEPREFIX")
    true(base and os.path.isdir(base), "WINEPREFIX is set (tests/wine/run.sh)")
    subprocess.run(["mount", "--make-rprivate", "/"], check=True, timeout=10)
    parts = {k: scope.path("wine-" + k) for k in ("upper", "work", "prefix")}
    for d in parts.values():
        os.mkdir(d)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    "lowerdir=%s,upperdir=%s,workdir=%s"
                    % (base, parts["upper"], parts["work"]),
                    parts["prefix"]], check=True, timeout=10)
    os.environ["WINEPREFIX"] = parts["prefix"]

    def end():
        for args in (["wineserver", "-k"], ["wineserver", "-w"]):
            subprocess.run(args, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=30)
        subprocess.run(["umount", parts["prefix"]], timeout=10)
    scope.on_close(end)


def _client_from(port, src_port, timeout=10.0):
    """A client bound to a source port of its own: the two ephemeral ones
    are the balancer's to exhaust."""
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.settimeout(timeout)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind(("127.0.0.1", src_port))
    c.connect(("127.0.0.1", port))
    return c


def _stats_json(port, src_port):
    with _client_from(port, src_port) as c:
        c.sendall(b"GET /stats.json HTTP/1.0\r\n\r\n")
        data = lbtest.drain(c)
    head, _, body = data.partition(b"\r\n\r\n")
    true(head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200"),
         "/stats.json answered", head=head[:200])
    return json.loads(body.decode("utf-8"))


@lbtest.needs(_can_make_netns,
              "needs Linux and root: it narrows the ephemeral port range "
              "(net.ipv4.ip_local_port_range) in a network namespace of "
              "its own (tests/windows/check-data-path.ps1 is the check "
              "on a real Windows host)")
def test_out_of_local_ports_leaves_backend_up():
    """Two ephemeral ports in all, max_fails 1: two clients hold a backend
    connection each; the third client's connect fails on this host
    (Linux: address not available; Windows, bind to port 0: address in
    use). The client is closed and counted as failed, but the backend
    stays up: no 'is DOWN' line, up in /stats.json with no connect
    failure, and still serving the two clients."""
    _private_network()
    with lbtest.Scope() as s:
        if lbtest.WINE:
            _private_wine_prefix(s)
        b = s.backend(lbtest.echo, port=BACKEND_PORT)
        cfg = lbtest.mapping_config(LB_PORT, [BACKEND_PORT], options={
            "max_fails": 1, "fail_timeout": 60, "max_retries": 0,
            "graceful_shutdown_timeout": 2,
            "stats": "127.0.0.1:%d" % STATS_PORT})
        lb = s.balancer(cfg, wait_ports=[LB_PORT, STATS_PORT])
        held = []
        for i in range(2):
            c = _client_from(LB_PORT, CLIENT_PORT + i)
            s.on_close(c.close)
            c.sendall(b"hold %d\n" % i)
            eq(lbtest.recv_line(c), b"hold %d\n" % i, "client %d echo" % i)
            held.append(c)
        third = _client_from(LB_PORT, CLIENT_PORT + 2)
        s.on_close(third.close)
        third.sendall(b"no port left\n")
        true(lb.wait_log(r"All backends failed for client .*"
                         r"(address not available|address already in use|"
                         r"no buffer space)", timeout=lbtest.pick(5, 15)),
             "the third client's connect failed locally", log=lb.tail(10))
        eq(lbtest.drain(third), b"", "the third client is closed")
        true(not re.search(r"is DOWN", lb.log()),
             "the backend is not taken out", log=lb.tail(10))
        st = _stats_json(STATS_PORT, CLIENT_PORT + 3)
        listener = st["listeners"][0]
        backend = listener["backends"][0]
        eq(backend["state"], "up", "backend state in /stats.json")
        eq(backend["connect_failures_total"], 0,
           "connect failures counted against the backend")
        eq(listener["connections_failed_total"], 1,
           "clients closed because no backend could be reached")
        for i, c in enumerate(held):
            c.sendall(b"still %d\n" % i)
            eq(lbtest.recv_line(c), b"still %d\n" % i,
               "held client %d still served" % i)
        eq(b.accepted, 2, "backend connections")
        for c in held:
            c.close()
