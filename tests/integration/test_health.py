"""Backend health and limits: passive health shared by worker processes,
active checks with rise/fall, max_conns per backend, duplicate backends
merged."""

import socket
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
            options={"processes": lbtest.pick(2, 1), "max_fails": 1,
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
