"""Balancing: exact round robin, retry on a dead backend, all backends
dead, and recovery."""

import socket
import time

import lbtest
from lbtest import LOG_STAMP, eq, true


def _request(port, i):
    """One sequential client: send a line, read the reply, close.
    Returns (backend tag, client's local port)."""
    with lbtest.connect(port) as c:
        cport = c.getsockname()[1]
        line = b"req-%d\n" % i
        c.sendall(line)
        reply = lbtest.recv_line(c)
    true(reply.endswith(b" " + line),
         "client %d gets the backend's reply to its own line" % i,
         reply=reply, sent=line)
    return reply.split(b" ")[0].decode(), cport


def test_round_robin_exact():
    """3 backends x 30 sequential connections: exactly 10 each, in strict
    rotation (connection i goes where connection i-3 went)."""
    with lbtest.Scope() as s:
        backends = [s.backend(lbtest.line_reply("B%d" % i)) for i in range(3)]
        port = lbtest.free_port()
        s.balancer(lbtest.mapping_config(port, [b.port for b in backends]),
                   wait_ports=[port])
        tags = [_request(port, i)[0] for i in range(30)]
        for i, b in enumerate(backends):
            eq(tags.count("B%d" % i), 10, "connections served by B%d" % i)
            eq(b.served, 10, "requests counted by backend B%d" % i)
        eq(sorted(set(tags[:3])), ["B0", "B1", "B2"],
           "first three connections use three different backends")
        eq(tags, tags[:3] * 10, "order of backends over 30 connections")


def test_one_backend_down_retried():
    """One of three backends has nothing listening and passive health is
    off (max_fails = 0): all 30 clients are served by the other two, and
    the failed attempts are logged 'Retrying request from 127.0.0.1:CPORT
    from DEAD on LIVE (reason)' -- 10 of them, since round robin offers the
    dead backend first to every third client, in at most one line a second
    per worker (the first at once; one at the second's end adds ', and N
    more on LISTENER in the last second'). test_health.py covers the default, where
    it is taken out."""
    with lbtest.Scope() as s:
        live = [s.backend(lbtest.line_reply("B%d" % i)) for i in range(2)]
        dead = lbtest.free_port()
        port = lbtest.free_port()
        s.balancer(lbtest.mapping_config(
            port, [live[0].port, dead, live[1].port],
            options={"max_fails": 0, "processes": 1}),  # the rate is a
            wait_ports=[port])                            # worker's
        t0 = time.monotonic()
        results = [_request(port, i) for i in range(30)]
        took = time.monotonic() - t0
        tags = [t for t, _ in results]
        eq(tags.count("B0") + tags.count("B1"), 30,
           "clients served by the live backends")
        eq(live[0].served + live[1].served, 30, "requests seen by backends")
        lb = s.balancers[0]
        rx = (r"^" + LOG_STAMP + r"Retrying request from 127\.0\.0\.1:(\d+) "
              r"from 127\.0\.0\.1:%d on 127\.0\.0\.1:(?:%d|%d) \([a-z ]+\)"
              r"(?:, and (\d+) more on 127\.0\.0\.1:%d in the last "
              r"second)?$" % (dead, live[0].port, live[1].port, port))
        true(lbtest.wait_until(lambda: sum(
            1 + int(more or 0) for _, more in lb.wait_log(rx, 0, 99)) >= 10,
            5), "timestamped 'Retrying request from ...' lines are logged",
            pattern=rx, log=lb.tail(15))
        found = lb.wait_log(rx, timeout=0, count=99)
        cports = {c for _, c in results}
        for cport, _ in found:
            true(int(cport) in cports,
                 "retry line names a real client port", port=cport,
                 client_ports=sorted(cports))
        eq(sum(1 + int(more or 0) for _, more in found), 10,
           "retries the 'Retrying request' lines count")
        # Per listener and worker (a process, or a loop on Windows): the
        # suite runs again with processes = 2.
        workers = int(lbtest.PROCESSES or 1)
        true(len(found) <= (2 + int(took)) * workers,
             "at most a line a second per worker", lines=len(found),
             seconds=took, workers=workers)


def test_all_backends_down_then_recover():
    """With every backend refusing, a client is closed promptly (< 3 s,
    EOF or reset), 'all backends failed' is logged; after a backend comes
    up on one of the ports, a new client is served: the balancer keeps
    serving."""
    with lbtest.Scope() as s:
        dead = lbtest.free_ports(3)
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(port, dead), wait_ports=[port])
        c = lbtest.connect(port, timeout=10)
        t0 = time.monotonic()
        try:
            c.sendall(b"hello?\n")
        except OSError:
            pass
        try:
            data = c.recv(4096)
            how = "eof" if not data else "data %r" % data
        except ConnectionResetError:
            how = "reset"
        except socket.timeout:
            how = "timeout"
        elapsed = time.monotonic() - t0
        c.close()
        true(how in ("eof", "reset"),
             "client of an all-dead pool gets EOF or reset", got=how)
        lbtest.between(elapsed, 0.0, 3.0,
                       "seconds until the client was closed")
        found = lb.wait_log(r"^" + LOG_STAMP + r".*all backends failed",
                            timeout=5)
        true(found, "'all backends failed' logged with a timestamp",
             log=lb.tail(15))
        true(lb.proc.poll() is None, "balancer still running",
             status=lb.proc.returncode)
        b = s.backend(lbtest.line_reply("UP"), port=dead[1])
        tags = set()
        for i in range(3):
            tags.add(_request(port, i)[0])
        eq(tags, {"UP"}, "clients served after a backend came up")
        eq(b.served, 3, "requests seen by the revived backend")


def _workers(lb):
    """Worker processes (POSIX), or loop threads (under Wine)."""
    if lbtest.WINDOWS:
        return lbtest.loop_threads(lb.pid)
    return lbtest.children_of(lb.pid)


def test_processes_two_workers():
    """processes = 2: the listener is served by two worker processes (on
    Windows two loop threads of the one process, seen under Wine);
    20 clients are all served (10 per backend is not required across
    workers), and every worker is gone after a SIGTERM stop."""
    with lbtest.Scope() as s:
        backends = [s.backend(lbtest.line_reply("B%d" % i)) for i in range(2)]
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(
            port, [b.port for b in backends], options={"processes": 2}),
            wait_ports=[port])
        if not lbtest.NATIVE:
            true(lbtest.wait_until(lambda: len(_workers(lb)) == 2, 5),
                 "two workers", workers=_workers(lb))
        tags = [_request(port, i)[0] for i in range(20)]
        eq(len(tags), 20, "clients served")
        eq(sum(b.served for b in backends), 20, "requests seen by backends")
        lb.signal(lbtest.GRACEFUL)
        eq(lb.wait_exit(15), 0, "exit status after SIGTERM")
        eq(lb.workers_left(), [], "worker PIDs alive 3 s after exit")


def test_log_file_option():
    """log_file = PATH: log lines (timestamped) are written to that file,
    including the retry line for a dead backend."""
    with lbtest.Scope() as s:
        live = s.backend(lbtest.line_reply("L"))
        dead = lbtest.free_port()
        port = lbtest.free_port()
        path = s.path("pumpkin.log")
        s.balancer(lbtest.mapping_config(port, [dead, live.port],
                                         options={"log_file": path}),
                   wait_ports=[port])
        eq(_request(port, 0)[0], "L", "first client served by the live one")

        def logged():
            try:
                with open(path, "rb") as f:
                    return lbtest.text_of(f.read())
            except OSError:
                return ""
        true(lbtest.wait_until(lambda: "Retrying request from" in logged(),
                               5),
             "retry line written to log_file", log_file=logged())
        lbtest.matches(logged(), r"^" + LOG_STAMP + r"Retrying request from "
                       r"127\.0\.0\.1:\d+ from 127\.0\.0\.1:%d on "
                       r"127\.0\.0\.1:%d(?!\d)" % (dead, live.port),
                       "retry line format in log_file")


def _blackhole(scope):
    """A 127.0.0.1 port whose SYNs go unanswered: a listener with backlog
    0 whose accept queue is kept full. Returns its port."""
    hole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    scope.on_close(hole.close)
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    port = hole.getsockname()[1]
    for _ in range(4):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        scope.on_close(c.close)
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
    time.sleep(0.2)  # setup only: let the filler handshakes settle
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.settimeout(0.5)
    try:
        probe.connect(("127.0.0.1", port))
        ok = False
    except socket.timeout:
        ok = True
    except OSError:
        ok = False
    finally:
        probe.close()
    true(ok, "test environment: could not make a port that drops SYNs "
         "(full accept queue); connect_timeout cannot be tested")
    return port


def test_connect_timeout_then_retry():
    """connect_timeout = 1 with the first backend dropping SYNs: the
    connect gives up after about 1 s (not the 5 s default, not the
    kernel's minutes), the attempt is retried on the live backend, and
    the client is served."""
    with lbtest.Scope() as s:
        hole = _blackhole(s)
        live = s.backend(lbtest.line_reply("L"))
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(
            port, [hole, live.port], options={"connect_timeout": 1}),
            wait_ports=[port])
        t0 = time.monotonic()
        tag, _ = _request(port, 0)
        elapsed = time.monotonic() - t0
        eq(tag, "L", "backend that served the client")
        lbtest.between(elapsed, 0.7, 4.0,
                       "seconds until served (connect_timeout 1 s)")
        found = lb.wait_log(r"Retrying request from 127\.0\.0\.1:\d+ from "
                            r"127\.0\.0\.1:%d on 127\.0\.0\.1:%d(?!\d)"
                            % (hole, live.port), timeout=5)
        true(found, "retry after the connect timeout is logged",
             log=lb.tail(10))
