"""Inactivity limits: idle_timeout closes a connection that passes no byte
either way for that long, and only such a connection; half_close_timeout
closes one left half-closed. Both close with a FIN, not a reset (Windows
resets when a socket is closed with its read still pending)."""

import socket
import time

import lbtest
from lbtest import eq, true


def _read_until_closed(conn, deadline):
    """(how, seconds until closed): how is 'eof', 'reset' or 'open'."""
    t0 = time.monotonic()
    conn.settimeout(max(0.1, deadline - t0))
    try:
        data = conn.recv(1)
        return ("eof" if not data else "data"), time.monotonic() - t0
    except ConnectionResetError:
        return "reset", time.monotonic() - t0
    except OSError:
        return "open", time.monotonic() - t0


def test_idle_timeout_closes_silent_connection():
    """idle_timeout = 1: a connected client that sends nothing is closed
    after about a second (FIN, not reset), the backend side too, and the
    log says why."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.idle)
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(
            port, [b.port], options={"idle_timeout": 1}), wait_ports=[port])
        c = lbtest.connect(port, timeout=10)
        s.on_close(c.close)
        how, took = _read_until_closed(c, time.monotonic() + 10)
        eq(how, "eof", "how the idle client was closed")
        lbtest.between(took, 0.8, lbtest.pick(4.0, 6.0),
                       "seconds until the idle client was closed")
        true(lbtest.wait_until(lambda: any(e == "closed" for _, e in
                                           b.events), 5),
             "backend side closed too")
        true(lb.wait_log(r"no data either way", timeout=5),
             "log says the connection was idle", log=lb.tail())


def _hold_after_eof(conn, backend):
    """Handler: read to the end the balancer passes on, then keep the
    connection open, silent, until the balancer closes it (bounded)."""
    lbtest.drain(conn)
    backend.note("eof")
    deadline = time.monotonic() + 15
    while not backend.stopping and time.monotonic() < deadline:
        time.sleep(0.05)


def test_half_close_timeout_closes_with_fin():
    """half_close_timeout = 1: the client sends a line and its FIN, the
    backend takes both and stays silent; a second later the balancer
    closes the client, which reads a clean end (FIN, not a reset), and the
    log says half_close_timeout."""
    with lbtest.Scope() as s:
        b = s.backend(_hold_after_eof)
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(
            port, [b.port], options={"half_close_timeout": 1}),
            wait_ports=[port])
        c = lbtest.connect(port, timeout=10)
        s.on_close(c.close)
        c.sendall(b"last words\n")
        c.shutdown(socket.SHUT_WR)
        true(lbtest.wait_until(lambda: any(e == "eof" for _, e in b.events),
                               5), "the backend got the client's FIN")
        how, took = _read_until_closed(c, time.monotonic() + 10)
        eq(how, "eof", "how the half-closed client was closed")
        lbtest.between(took, 0.5, lbtest.pick(4.0, 6.0),
                       "seconds until the half-closed client was closed")
        true(lb.wait_log(r"end=half_close_timeout", timeout=5),
             "the connection log says why", log=lb.tail())


def test_idle_timeout_spares_active_connection():
    """idle_timeout = 1 per listener: a client that sends a line every
    0.3 s for 3 s keeps its connection and gets every echo back."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.echo)
        port = lbtest.free_port()
        cfg = ("[listener:echo]\nlisten = 127.0.0.1:%d\n"
               "backends = 127.0.0.1:%d\nidle_timeout = 1\n" % (port, b.port))
        s.balancer(cfg, wait_ports=[port])
        c = lbtest.connect(port, timeout=10)
        s.on_close(c.close)
        for i in range(10):
            line = b"ping %d\n" % i
            c.sendall(line)
            eq(lbtest.recv_line(c), line, "echo %d" % i)
            time.sleep(0.3)


def test_max_connections_makes_clients_wait():
    """max_connections = 2: a third client is accepted by the kernel but
    not served until one of the first two closes; then it is."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.echo)
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(
            port, [b.port], options={"max_connections": 2}),
            wait_ports=[port])
        first = [lbtest.connect(port, timeout=10) for _ in range(2)]
        for i, c in enumerate(first):
            s.on_close(c.close)
            c.sendall(b"first %d\n" % i)
            eq(lbtest.recv_line(c), b"first %d\n" % i, "echo %d" % i)
        third = lbtest.connect(port, timeout=10)
        s.on_close(third.close)
        third.sendall(b"third\n")
        third.settimeout(1.0)
        try:
            early = third.recv(100)
        except OSError:
            early = b""
        eq(early, b"", "reply to the third client while two are open")
        true(lb.wait_log(r"max_connections reached", timeout=5),
             "log says the limit was reached", log=lb.tail())
        first[0].close()
        third.settimeout(10)
        eq(lbtest.recv_line(third), b"third\n",
           "the third client is served once one closed")
