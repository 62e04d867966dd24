"""Protocol-aware health checks: a Redis-like backend answering -ERR to
PING goes down after `fall` checks while one answering +PONG stays up; an
HTTP check on another port (Patroni's /primary) takes a backend that
answers 503 out; an SMTP-like greeting judged by a regular expression;
check_on_down = shutdown_sessions resets the open connections of a backend
the checks take out; check results in /stats.json and /metrics, and check
traffic in neither the connection log nor the client counters."""

import socket
import threading
import time

import lbtest
import test_stats as st
from lbtest import LOG_STAMP, eq, true


def _redis_like(reply):
    """Handler: answers reply to every PING line, echoes anything else."""
    def handler(conn, backend):
        while True:
            line = lbtest.recv_line(conn)
            if not line:
                return
            if line == b"PING\r\n":
                backend.note("ping")
                conn.sendall(reply)
            else:
                backend.note_served(line)
                conn.sendall(b"data " + line)
    return handler


def _http_status(status, seen):
    """Handler: reads a request, keeps it in seen, answers status."""
    def handler(conn, backend):
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 4096:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        seen.append(data)
        conn.sendall(b"HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n" % status)
    return handler


def _tag(port, line=b"hello\n"):
    with lbtest.connect(port) as c:
        c.sendall(line)
        return lbtest.recv_line(c)


def _backend_json(doc, backend_port):
    for listener in doc["listeners"]:
        for b in listener["backends"]:
            if b["name"] == "127.0.0.1:%d" % backend_port:
                return b
    lbtest.fail("backend 127.0.0.1:%d in /stats.json" % backend_port,
                doc=doc)


def test_redis_ping_pong_check():
    """check_send = PING\\r\\n, check_expect = +PONG, fall 2: the backend
    answering -ERR is logged DOWN after two failed checks, the one
    answering +PONG stays up and gets every client; /stats.json and
    /metrics give each backend's last result; the checks are neither
    connection lines nor counted clients."""
    with lbtest.Scope() as s:
        good = s.backend(_redis_like(b"+PONG\r\n"))
        bad = s.backend(_redis_like(b"-ERR wrong password\r\n"))
        port, stats = lbtest.free_ports(2)
        lb = s.balancer(
            "[options]\nstats = 127.0.0.1:%d\ncheck_interval = 0.2\n"
            "fall = 2\nrise = 2\nmax_fails = 0\n"
            "check_send = PING\\r\\n\ncheck_expect = +PONG\n"
            "[mappings]\n127.0.0.1:%d = 127.0.0.1:%d, 127.0.0.1:%d\n"
            % (stats, port, good.port, bad.port), wait_ports=[port, stats])
        true(lb.wait_log(r"^" + LOG_STAMP + r"Backend 127\.0\.0\.1:%d of "
                         r"127\.0\.0\.1:%d is DOWN: 2 health checks in a "
                         r"row failed" % (bad.port, port), timeout=10),
             "the -ERR backend is taken out", log=lb.tail(10))
        true(lb.wait_log(r"Health checks for 127\.0\.0\.1:%d: a request "
                         r"and its reply every 0\.2 s" % port, timeout=1),
             "the start says what is checked", log=lb.tail(10))
        true(lbtest.wait_until(lambda: sum(
            1 for e in good.events if e[1] == "ping") >= 3, 5),
             "the +PONG backend is pinged")
        replies = [_tag(port, b"c%d\n" % i) for i in range(4)]
        eq(replies, [b"data c%d\n" % i for i in range(4)], "clients served")
        eq(len(good.received), 4, "every client on the +PONG backend")
        eq(len(bad.received), 0, "none on the -ERR one")
        eq(len(lb.wait_log(r"is DOWN", timeout=0.5, count=9)), 1,
           "the +PONG backend never went down")
        doc = st._json(stats)
        g, b = _backend_json(doc, good.port), _backend_json(doc, bad.port)
        eq((g["state"], g["check"]["result"], g["check"]["reason"]),
           ("up", "passed", "passed"), "the good one's last check")
        eq((b["state"], b["down_reason"], b["check"]["result"],
            b["check"]["reason"]),
           ("down", "health_checks", "failed", "unexpected_reply"),
           "the bad one's last check")
        true(b["last_change"] and abs(b["last_change"] - time.time()) < 30,
             "when it went down", last_change=b["last_change"])
        true(0 <= g["check"]["duration_ms"] < 1000, "a check's duration",
             check=g["check"])
        samples = st._metrics(stats)
        label = "127.0.0.1:%d" % port
        eq(st._value(samples, "pumpkinlb_backend_check_success",
                     listener=label, backend="127.0.0.1:%d" % good.port),
           1.0, "check_success of the good one")
        eq(st._value(samples, "pumpkinlb_backend_check_success",
                     listener=label, backend="127.0.0.1:%d" % bad.port),
           0.0, "check_success of the bad one")
        eq(st._value(samples, "pumpkinlb_connections_total",
                     listener=label), 4.0,
           "clients counted: the 4, no check")
        eq(len(lb.wait_log(r"Connection client=", timeout=0.3, count=9)), 4,
           "connection lines: the 4 clients, no check")


def test_http_check_on_another_port():
    """check_http = GET /primary on check_port (Patroni's REST API beside
    PostgreSQL): the backend whose API answers 503 is taken out, the one
    answering 200 stays; the request is HTTP/1.0 with a Host header naming
    the checked address."""
    with lbtest.Scope() as s:
        seen_ok, seen_503 = [], []
        api_ok = s.backend(_http_status(200, seen_ok))
        api_503 = s.backend(_http_status(503, seen_503))
        port = lbtest.free_port()
        # Two "databases" on 127.0.0.1 and 127.0.0.2, each with its API
        # on its own port: check_port is one per listener, so each
        # backend gets a listener of its own here.
        db1 = s.backend(lbtest.line_reply("db1"))
        db2 = s.backend(lbtest.line_reply("db2"))
        port2 = lbtest.free_port()
        lb = s.balancer(
            "[options]\ncheck_interval = 0.2\nfall = 2\nmax_fails = 0\n"
            "check_http = GET /primary\n"
            "[listener:pg1]\nlisten = 127.0.0.1:%d\n"
            "backends = 127.0.0.1:%d\ncheck_port = %d\n"
            "[listener:pg2]\nlisten = 127.0.0.1:%d\n"
            "backends = 127.0.0.1:%d\ncheck_port = %d\n"
            % (port, db1.port, api_ok.port, port2, db2.port, api_503.port),
            wait_ports=[port, port2])
        true(lb.wait_log(r"Backend 127\.0\.0\.1:%d of 127\.0\.0\.1:%d is "
                         r"DOWN: 2 health checks in a row failed"
                         % (db2.port, port2), timeout=10),
             "the backend whose /primary says 503 is out", log=lb.tail(10))
        eq(len(lb.wait_log(r"127\.0\.0\.1:%d of 127\.0\.0\.1:%d is DOWN"
                           % (db1.port, port), timeout=0.5)), 0,
           "the one whose /primary says 200 stays up")
        true(seen_ok, "the API was asked")
        eq(seen_ok[0], b"GET /primary HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n"
           b"User-Agent: PumpkinLB-check\r\nConnection: close\r\n\r\n"
           % api_ok.port, "the check's request")
        eq(db1.accepted, 0, "the database port itself is not checked")
        true(_tag(port).startswith(b"db1 "), "pg1 serves")


def test_smtp_greeting_regex():
    """check_expect_re = ^220[ -] judges the greeting a mail server sends
    first (nothing is sent): 554 is taken out, 220 stays."""
    with lbtest.Scope() as s:
        ok = s.backend(lbtest.reply_and_close(b"220 mail.example.net "
                                              b"ESMTP\r\n"))
        busy = s.backend(lbtest.reply_and_close(b"554 too busy\r\n"))
        port = lbtest.free_port()
        lb = s.balancer(
            "[options]\ncheck_interval = 0.2\nfall = 2\nmax_fails = 0\n"
            "check_expect_re = ^220[ -]\n"
            "[mappings]\n127.0.0.1:%d = 127.0.0.1:%d, 127.0.0.1:%d\n"
            % (port, ok.port, busy.port), wait_ports=[port])
        true(lb.wait_log(r"Backend 127\.0\.0\.1:%d of 127\.0\.0\.1:%d is "
                         r"DOWN" % (busy.port, port), timeout=10),
             "the 554 server is out", log=lb.tail(10))
        eq(len(lb.wait_log(r"127\.0\.0\.1:%d of .* is DOWN" % ok.port,
                           timeout=0.5)), 0, "the 220 server stays")


def test_shutdown_sessions_on_down():
    """check_on_down = shutdown_sessions: a client relaying through a
    backend whose checks start failing (its health port, check_port, goes
    away) is reset once the checks take the backend out, and its line says
    end=backend_down; without it the client would stay on a backend the
    checks call dead."""
    with lbtest.Scope() as s:
        db = s.backend(lbtest.echo)
        health = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        health.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        health.bind(("127.0.0.1", 0))
        health.listen(64)
        hport = health.getsockname()[1]
        stop = threading.Event()

        def accept_and_close():
            health.settimeout(0.1)
            while not stop.is_set():
                try:
                    health.accept()[0].close()
                except OSError:
                    pass

        t = threading.Thread(target=accept_and_close, daemon=True)
        t.start()
        s.on_close(stop.set)
        port = lbtest.free_port()
        lb = s.balancer(
            "[options]\ncheck_interval = 0.2\nfall = 2\nrise = 1\n"
            "max_fails = 0\ncheck_port = %d\n"
            "check_on_down = shutdown_sessions\n"
            "[mappings]\n127.0.0.1:%d = 127.0.0.1:%d\n"
            % (hport, port, db.port), wait_ports=[port])
        c = lbtest.connect(port)
        c.sendall(b"before\n")
        eq(lbtest.recv_line(c), b"before\n", "relayed while healthy")
        time.sleep(0.6)  # checks pass meanwhile: the client stays
        c.sendall(b"still\n")
        eq(lbtest.recv_line(c), b"still\n", "still relayed")
        stop.set()
        t.join(2)
        health.close()
        t0 = time.monotonic()
        c.settimeout(10)
        try:
            data = c.recv(100)
            how = "eof" if not data else "data %r" % data
        except ConnectionResetError:
            how = "reset"
        waited = time.monotonic() - t0
        c.close()
        eq(how, "reset", "the client of a backend the checks took out")
        true(waited < 5, "reset soon after the checks failed",
             waited=waited)
        true(lb.wait_log(r"Connection client=\S+ listener=127\.0\.0\.1:%d "
                         r"route=- backend=127\.0\.0\.1:%d .* "
                         r"end=backend_down" % (port, db.port), timeout=5),
             "its line says end=backend_down", log=lb.tail(10))
        true(lb.wait_log(r"reset 1 open connection\(s\) of worker \d+ "
                         r"\(check_on_down = shutdown_sessions\)",
                         timeout=2), "the cut is logged", log=lb.tail(10))
        lbtest.note("reset %.2f s after the health port closed "
                    "(interval 0.2 s, fall 2)" % waited)
