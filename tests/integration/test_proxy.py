"""PROXY protocol: send_proxy (v1, v2) puts the exact header before the
client's bytes; accept_proxy reads one (in one packet with data, or in
pieces), takes the client's address from it, and closes a client that
sends none; the two chain."""

import socket
import struct
import time

import lbtest
from lbtest import eq, true

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def listener_config(port, backend_port, **options):
    """A [listener:pp] section on 127.0.0.1:port with these options."""
    lines = ["[listener:pp]", "listen = 127.0.0.1:%d" % port,
             "backends = 127.0.0.1:%d" % backend_port]
    lines += ["%s = %s" % kv for kv in options.items()]
    return "\n".join(lines) + "\n"


def v2_tcp4(src, sport, dst, dport):
    return V2_SIG + struct.pack("!BBH4s4sHH", 0x21, 0x11, 12,
                                socket.inet_aton(src), socket.inet_aton(dst),
                                sport, dport)


def send_and_finish(port, data):
    """Connects, sends data, half-closes, reads to EOF; returns the
    client's own port and the reply."""
    with lbtest.connect(port, timeout=20) as c:
        cport = c.getsockname()[1]
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)
        return cport, lbtest.drain(c)


def recorder(s):
    """A backend that records everything it receives, then replies 'ok'."""
    return s.backend(lbtest.send_after_eof(b"ok"))


def test_send_proxy_v1_exact_header():
    """send_proxy = v1: the backend receives 'PROXY TCP4 127.0.0.1
    127.0.0.1 CLIENTPORT LISTENPORT\\r\\n' and then the client's bytes."""
    with lbtest.Scope() as s:
        b = recorder(s)
        port = lbtest.free_port()
        s.balancer(listener_config(port, b.port, send_proxy="v1"),
                   wait_ports=[port])
        cport, reply = send_and_finish(port, b"hello\n")
        eq(reply, b"ok", "reply through the balancer")
        eq(b.received, [b"PROXY TCP4 127.0.0.1 127.0.0.1 %d %d\r\nhello\n"
                        % (cport, port)], "what the backend received")


def test_send_proxy_v2_exact_header():
    """send_proxy = v2: the binary header (PROXY command, TCP over IPv4,
    the client's address and port, the listener's) and then the client's
    bytes."""
    with lbtest.Scope() as s:
        b = recorder(s)
        port = lbtest.free_port()
        s.balancer(listener_config(port, b.port, send_proxy="v2"),
                   wait_ports=[port])
        cport, reply = send_and_finish(port, b"hello\n")
        eq(reply, b"ok", "reply through the balancer")
        eq(b.received, [v2_tcp4("127.0.0.1", cport, "127.0.0.1", port) +
                        b"hello\n"], "what the backend received")


def test_proxy_chain_keeps_original_client():
    """client -> lb A (send_proxy = v2) -> lb B (accept_proxy = 1,
    send_proxy = v1) -> backend: the backend's v1 header names the
    original client's address and port and lb A's listener, and B's
    connection line names the original client too."""
    with lbtest.Scope() as s:
        b = recorder(s)
        pa, pb = lbtest.free_ports(2)
        lbb = s.balancer(listener_config(pb, b.port, accept_proxy=1,
                                         send_proxy="v1"), wait_ports=[pb],
                         name="lbB")
        a = s.balancer(listener_config(pa, pb, send_proxy="v2"),
                       wait_ports=[pa], name="lbA")
        cport, reply = send_and_finish(pa, b"payload")
        eq(reply, b"ok", "reply through both balancers")
        eq(b.received, [b"PROXY TCP4 127.0.0.1 127.0.0.1 %d %d\r\npayload"
                        % (cport, pa)], "what the backend received")
        line = r"Connection client=127\.0\.0\.1:%d listener=127\.0\.0\.1:%d " \
               r"route=- backend=127\.0\.0\.1:%d to_backend=7 to_client=2 "
        true(lbb.wait_log(line % (cport, pb, b.port)),
             "B's connection line names the original client",
             log=lbb.tail())
        true(a.wait_log(line % (cport, pa, pb)), "A's connection line",
             log=a.tail())


def test_accept_proxy_header_and_data_in_one_packet():
    """A v1 header and 10 KiB of data in one send (buffer_size 4096), and a
    v2 header and 300 bytes with buffer_size = 1 (the header straddles 28
    reads): the backend gets exactly the data, and the connection line
    names the address from the header."""
    data = lbtest.pattern_bytes(10 * 1024, 5)
    cases = [(b"PROXY TCP4 203.0.113.9 198.51.100.1 5555 443\r\n", 4096,
              data),
             (v2_tcp4("203.0.113.9", 5555, "198.51.100.1", 443), 1,
              data[:300])]
    with lbtest.Scope() as s:
        for header, bufsize, payload in cases:
            b = recorder(s)
            port = lbtest.free_port()
            lb = s.balancer(listener_config(port, b.port, accept_proxy=1,
                                            buffer_size=bufsize),
                            wait_ports=[port])
            _, reply = send_and_finish(port, header + payload)
            eq(reply, b"ok", "reply (buffer_size %d)" % bufsize)
            eq(b.received, [payload],
               "what the backend received (buffer_size %d)" % bufsize)
            true(lb.wait_log(r"Connection client=203\.0\.113\.9:5555 .* "
                             r"to_backend=%d to_client=2 .*end=closed$"
                             % len(payload)),
                 "the connection line names the proxied client",
                 log=lb.tail())


def _closed_how(conn, timeout):
    conn.settimeout(timeout)
    try:
        return "eof" if not conn.recv(100) else "data"
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "open"


def test_accept_proxy_garbage_closed_and_logged():
    """An HTTP request to an accept_proxy listener: the client is closed,
    no backend is contacted, and the log says why (and end=proxy_error)."""
    with lbtest.Scope() as s:
        b = recorder(s)
        port = lbtest.free_port()
        lb = s.balancer(listener_config(port, b.port, accept_proxy=1),
                        wait_ports=[port])
        with lbtest.connect(port, timeout=10) as c:
            cport = c.getsockname()[1]
            c.sendall(b"GET / HTTP/1.0\r\n\r\n")
            how = _closed_how(c, 10)
        true(how in ("eof", "reset"), "the client was closed", how=how)
        true(lb.wait_log(r"No valid PROXY header from 127\.0\.0\.1:%d on "
                         r"127\.0\.0\.1:%d \(not a PROXY protocol header\)"
                         % (cport, port)), "the reason is logged",
             log=lb.tail())
        true(lb.wait_log(r"Connection client=127\.0\.0\.1:%d .* "
                         r"backend=- .*end=proxy_error$" % cport),
             "the connection line", log=lb.tail())
        eq(b.accepted, 0, "connections the backend saw")


def test_accept_proxy_header_timeout():
    """accept_proxy with connect_timeout = 1: a client that sends nothing
    is closed after about a second, and the log says so."""
    with lbtest.Scope() as s:
        b = recorder(s)
        port = lbtest.free_port()
        lb = s.balancer(listener_config(port, b.port, accept_proxy=1,
                                        connect_timeout=1),
                        wait_ports=[port])
        with lbtest.connect(port, timeout=10) as c:
            t0 = time.monotonic()
            how = _closed_how(c, 10)
            took = time.monotonic() - t0
        true(how in ("eof", "reset"), "the silent client was closed", how=how)
        lbtest.between(took, 0.8, lbtest.pick(5.0, 8.0),
                       "seconds until it was closed")
        true(lb.wait_log(r"none complete within 1\.0 s"), "logged",
             log=lb.tail())
        eq(b.accepted, 0, "connections the backend saw")
