"""The line logged as each connection ends (log_connections): exact byte
counts each way, timings, retries, and how the connection ended."""

import re
import socket
import time

import lbtest
from lbtest import eq, true

MiB = 1 << 20

LINE_RE = (r"Connection client=(?P<client>\S+) listener=(?P<listener>\S+) "
           r"route=(?P<route>\S+) backend=(?P<backend>\S+) "
           r"to_backend=(?P<up>\d+) "
           r"to_client=(?P<down>\d+) connect_ms=(?P<connect>\d+|-) "
           r"duration_ms=(?P<duration>\d+) retries=(?P<retries>\d+) "
           r"end=(?P<end>\w+)$")


def conn_lines(lb):
    """Every connection line in the balancer's log, as dicts."""
    return [m.groupdict() for m in re.finditer(LINE_RE, lb.log(), re.M)]


def wait_conn_line(lb, client, timeout=10.0):
    """The connection line of client ("127.0.0.1:PORT"), waited for."""
    def find():
        return [d for d in conn_lines(lb) if d["client"] == client]
    found = lbtest.wait_until(find, timeout, 0.05)
    true(found, "a connection line for client %s" % client, log=lb.tail())
    eq(len(found), 1, "connection lines for client %s" % client)
    return found[0]


def client_name(sock):
    return "127.0.0.1:%d" % sock.getsockname()[1]


def _read_all_then_reply(reply):
    """Handler: read the client's bytes to EOF, then send reply, close."""
    def handler(conn, backend):
        got = lbtest.drain(conn)
        backend.note_served(len(got))
        conn.sendall(reply)
    return handler


def test_log_line_counts_bytes_each_way():
    """3 MiB + 5 up and 5 MiB + 7 down (big enough that Linux splices most
    of it): the line shows exactly those counts, the listener, the backend,
    connect_ms <= duration_ms, no retries and end=closed."""
    up, down = 3 * MiB + 5, 5 * MiB + 7
    reply = lbtest.pattern_bytes(down, 2)
    with lbtest.Scope() as s:
        b = s.backend(_read_all_then_reply(reply))
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(port, [b.port]),
                        wait_ports=[port])
        with lbtest.connect(port, timeout=30) as c:
            name = client_name(c)
            t, res = lbtest.send_in_thread(c, lbtest.pattern_bytes(up, 1))
            n, _, how = lbtest.recv_hash(c, time.monotonic() + 60)
            t.join(10)
        eq((n, how, res["error"]), (down, "eof", None),
           "(bytes received, how it ended, sender error)")
        eq(b.received, [up], "bytes the backend received")
        d = wait_conn_line(lb, name)
        eq((d["listener"], d["backend"], d["up"], d["down"], d["retries"],
            d["end"]),
           ("127.0.0.1:%d" % port, "127.0.0.1:%d" % b.port, str(up),
            str(down), "0", "closed"), "fields of the connection line")
        true(d["connect"] != "-" and
             int(d["connect"]) <= int(d["duration"]),
             "connect_ms is a number no more than duration_ms", line=d)


test_log_line_counts_bytes_each_way.timeout = 120


def test_log_line_backend_reset():
    """A backend that resets after reading a line: end=backend_reset, with
    the line's bytes counted."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.reset_after_line)
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(port, [b.port]),
                        wait_ports=[port])
        with lbtest.connect(port, timeout=10) as c:
            name = client_name(c)
            c.sendall(b"please reset\n")
            try:
                lbtest.drain(c)
            except OSError:
                pass
        d = wait_conn_line(lb, name)
        eq((d["backend"], d["up"], d["down"], d["end"]),
           ("127.0.0.1:%d" % b.port, "13", "0", "backend_reset"),
           "(backend, to_backend, to_client, end)")


def test_log_line_idle_timeout():
    """idle_timeout = 1: the silent connection's line says
    end=idle_timeout and lasted at least a second."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.idle)
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(
            port, [b.port], options={"idle_timeout": 1}), wait_ports=[port])
        with lbtest.connect(port, timeout=10) as c:
            name = client_name(c)
            d = wait_conn_line(lb, name, timeout=15)
        eq((d["end"], d["up"], d["down"]), ("idle_timeout", "0", "0"),
           "(end, to_backend, to_client)")
        true(int(d["duration"]) >= 900, "duration_ms of about a second",
             line=d)


def test_log_line_all_backends_failed():
    """Two backends that refuse: the client is closed and its line says
    backend=-, connect_ms=-, retries=1, end=connect_failed."""
    dead = lbtest.free_ports(2)
    with lbtest.Scope() as s:
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(port, dead), wait_ports=[port])
        with lbtest.connect(port, timeout=10) as c:
            name = client_name(c)
            try:
                eq(lbtest.drain(c), b"", "bytes the client got")
            except socket.timeout:
                lbtest.fail("the client was not closed")
        d = wait_conn_line(lb, name)
        eq((d["backend"], d["connect"], d["retries"], d["end"]),
           ("-", "-", "1", "connect_failed"),
           "(backend, connect_ms, retries, end)")


def test_log_line_shutdown():
    """A connection still open when graceful_shutdown_timeout runs out is
    cut: end=shutdown."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.idle)
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(
            port, [b.port], options={"graceful_shutdown_timeout": 0.5}),
            wait_ports=[port])
        c = lbtest.connect(port, timeout=10)
        s.on_close(c.close)
        name = client_name(c)
        true(lbtest.wait_until(lambda: b.accepted == 1, 10),
             "the backend got the connection")
        lb.signal(lbtest.GRACEFUL)
        true(lb.wait_exit(20) is not None, "balancer exited after the stop")
        d = wait_conn_line(lb, name)
        eq(d["end"], "shutdown", "end of a connection cut at the deadline")


def test_log_connections_off():
    """log_connections = 0: a connection closed for idleness logs why, and
    no connection line (both come from the same call, so the first proves
    the second would be there by now)."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.idle)
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(
            port, [b.port], options={"idle_timeout": 0.5,
                                     "log_connections": 0}),
            wait_ports=[port])
        with lbtest.connect(port, timeout=10) as c:
            true(lb.wait_log(r"no data either way", timeout=15),
                 "the idle close was logged", log=lb.tail())
        eq(conn_lines(lb), [], "connection lines with log_connections = 0")
