"""Balancing modes: algorithm = weighted (exact smooth order by weight),
leastconn (new clients go where fewer connections are open), source (one
client address, one backend; clients bound to 127.0.0.N), backup backends
(unused while a primary is up, in use while none is), and config
mistakes."""

import socket
import time

import lbtest
from lbtest import LOG_STAMP, eq, true
from test_config import _expect_config_error


def _request(port, i, src=None):
    """One client (bound to src if given): a line out, the backend's
    tagged reply back, closed. Returns the backend's tag."""
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.settimeout(10)
    try:
        if src:
            c.bind((src, 0))
        c.connect(("127.0.0.1", port))
        line = b"req-%d\n" % i
        c.sendall(line)
        reply = lbtest.recv_line(c)
    finally:
        c.close()
    true(reply.endswith(b" " + line), "client %d is served" % i,
         reply=reply, sent=line)
    return reply.split(b" ")[0].decode()


def _held(port, i):
    """A client that stays connected: (socket, backend tag)."""
    c = lbtest.connect(port)
    line = b"held-%d\n" % i
    c.sendall(line)
    reply = lbtest.recv_line(c)
    true(reply.endswith(b" " + line), "held client %d is served" % i,
         reply=reply)
    return c, reply.split(b" ")[0].decode()


def _tagged_until_eof(tag):
    """Handler: reply tag + line, then note 'closed' once the balancer
    passes the client's close on."""
    reply = lbtest.line_reply(tag)

    def handler(conn, backend):
        reply(conn, backend)
        backend.note("closed")
    return handler


def test_weighted_exact_order():
    """algorithm = weighted in a [listener:NAME] section with weight=3 and
    weight=1 in its backends key: 40 sequential connections go exactly
    30 and 10, interleaved as nginx does (a a b a, four times ten)."""
    with lbtest.Scope() as s:
        b = [s.backend(lbtest.line_reply("B%d" % i)) for i in range(2)]
        port = lbtest.free_port()
        cfg = ("[listener:w]\nlisten = 127.0.0.1:%d\n"
               "backends = 127.0.0.1:%d weight=3, 127.0.0.1:%d\n"
               "algorithm = weighted\n" % (port, b[0].port, b[1].port))
        s.balancer(cfg, wait_ports=[port])
        tags = [_request(port, i) for i in range(40)]
        eq(tags.count("B0"), 30, "connections to the weight=3 backend")
        eq(tags.count("B1"), 10, "connections to the weight=1 backend")
        eq(tags, ["B0", "B0", "B1", "B0"] * 10, "order of backends")
        eq([x.served for x in b], [30, 10], "requests the backends saw")


def test_leastconn_avoids_busy_backend():
    """algorithm = leastconn, two backends: six long connections spread
    three and three; three of one backend's then close, so it holds
    fewer; the next ten short sequential clients all go to it (round
    robin would send half to the busy one)."""
    with lbtest.Scope() as s:
        b = [s.backend(_tagged_until_eof("B%d" % i)) for i in range(2)]
        port = lbtest.free_port()
        s.balancer(lbtest.mapping_config(
            port, [x.port for x in b], options={"algorithm": "leastconn"}),
            wait_ports=[port])
        held = [_held(port, i) for i in range(6)]
        tags = [t for _, t in held]
        eq(sorted(tags), ["B0"] * 3 + ["B1"] * 3,
           "long connections per backend")
        quiet = held[0][1]
        for c, t in held:
            if t == quiet:
                c.close()
        busy = "B1" if quiet == "B0" else "B0"
        idx = int(quiet[1])
        true(lbtest.wait_until(
            lambda: sum(1 for _, e in b[idx].events if e == "closed") == 3,
            10), "the quiet backend saw its clients go",
            events=b[idx].events)
        time.sleep(0.3)  # the balancer ends those sessions too
        tags = [_request(port, 100 + i) for i in range(10)]
        eq(tags, [quiet] * 10, "short clients go to the backend with "
           "fewer open connections (the other, %s, holds three)" % busy)
        for c, t in held:
            if t != quiet:
                c.close()


def test_source_same_client_same_backend():
    """algorithm = source, three backends: clients bound to 127.0.0.1 ...
    127.0.0.24 each reach the same backend on every one of three
    connections (from different ports), and the addresses spread over
    more than one backend."""
    with lbtest.Scope() as s:
        b = [s.backend(lbtest.line_reply("B%d" % i)) for i in range(3)]
        port = lbtest.free_port()
        s.balancer(lbtest.mapping_config(
            port, [x.port for x in b], options={"algorithm": "source"}),
            wait_ports=[port])
        where = {}
        for n in range(1, 25):
            src = "127.0.0.%d" % n
            seen = [_request(port, 3 * n + k, src) for k in range(3)]
            eq(len(set(seen)), 1, "backends that served %s" % src)
            where[src] = seen[0]
        # Once more, interleaved: still the same backend per address.
        for src, tag in sorted(where.items())[::5]:
            eq(_request(port, 999, src), tag, "backend of %s later" % src)
        used = sorted(set(where.values()))
        true(len(used) >= 2, "24 addresses spread over the backends",
             where=where)
        lbtest.note("24 addresses over backends: %s" % ", ".join(
            "%s %d" % (t, list(where.values()).count(t)) for t in used))


def test_backup_takes_over_when_primaries_dead():
    """Two primaries and a backup: the backup gets nothing while a
    primary is up. With nothing listening on either primary, clients are
    served by the backup (the primaries logged DOWN); once a primary
    listens again and fail_timeout is over, clients go back to it and it
    is logged UP again."""
    with lbtest.Scope() as s:
        p = [s.backend(lbtest.line_reply("P%d" % i)) for i in range(2)]
        backup = s.backend(lbtest.line_reply("BK"))
        ports = [x.port for x in p]
        port = lbtest.free_port()
        cfg = ("[options]\nfail_timeout = 1\n[mappings]\n"
               "127.0.0.1:%d = 127.0.0.1:%d, 127.0.0.1:%d backup,\n"
               "    127.0.0.1:%d\n" % (port, ports[0], backup.port,
                                       ports[1]))
        lb = s.balancer(cfg, wait_ports=[port])
        tags = [_request(port, i) for i in range(10)]
        eq(sorted(set(tags)), ["P0", "P1"], "backends while primaries up")
        eq(backup.accepted, 0, "connections the backup got")
        for x in p:
            x.close()
        tags = [_request(port, 10 + i) for i in range(10)]
        eq(tags, ["BK"] * 10, "backends with both primaries dead")
        for x in ports:
            true(lb.wait_log(r"^" + LOG_STAMP + r"Backend 127\.0\.0\.1:%d "
                             r"of 127\.0\.0\.1:%d is DOWN" % (x, port),
                             timeout=5),
                 "primary %d logged DOWN" % x, log=lb.tail(10))
        back = s.backend(lbtest.line_reply("P0"), port=ports[0])
        time.sleep(1.2)  # fail_timeout: the primary gets its chance
        tags = [_request(port, 20 + i) for i in range(4)]
        eq(tags, ["P0"] * 4, "backends once a primary is back")
        true(back.served == 4, "the primary serves again",
             served=back.served)
        true(lb.wait_log(r"Backend 127\.0\.0\.1:%d of 127\.0\.0\.1:%d is "
                         r"UP again" % (ports[0], port), timeout=5),
             "the primary is logged UP again", log=lb.tail(10))


def test_algorithm_config_errors():
    """An unknown algorithm, a bad weight, an unknown backend parameter
    and two addresses without a ',' stop the balancer with exit 3,
    FILE:LINE and the bad value; nothing listens."""
    with lbtest.Scope() as s:
        b, port = lbtest.free_ports(2)
        head = "[mappings]\n127.0.0.1:%d = " % port
        _expect_config_error(
            s, "algo.cfg", "[options]\nalgorithm = random\n" + head +
            "127.0.0.1:%d\n" % b, 2, value="'random'", listen_port=port)
        _expect_config_error(
            s, "algo2.cfg", head + "127.0.0.1:%d,\n  127.0.0.1:%d "
            "weight=0\n" % (b, b + 1), 3, value="got '0'",
            listen_port=port)
        _expect_config_error(
            s, "algo3.cfg", head + "127.0.0.1:%d slow\n" % b, 2,
            value="unknown parameter 'slow'", listen_port=port)
        _expect_config_error(
            s, "algo4.cfg", head + "127.0.0.1:%d 127.0.0.1:%d\n" % (b, b),
            2, value="separate backends with ','", listen_port=port)
        _expect_config_error(
            s, "algo5.cfg", "[listener:x]\nlisten = 127.0.0.1:%d\n"
            "backends = 127.0.0.1:%d\nalgorithm = fastest\n" % (port, b),
            4, value="'fastest'", listen_port=port)
