"""Routes by the server name of a TLS ClientHello ([route:NAME], sni =):
hellos made by Python's ssl module reach the route that names them,
exact and wildcard, whole, split a byte at a time and behind a PROXY
header; what is not TLS or names nothing goes to the listener's own
backends (or is closed when it has none); a real TLS handshake completes
end to end through a route, the balancer only passing bytes on."""

import json
import socket
import ssl
import subprocess
import time

import lbtest
from lbtest import eq, true
from test_connlog import conn_lines


def client_hello(name):
    """The bytes a TLS client sends first, with server name `name` (None:
    no SNI), as Python's ssl module makes them."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=name)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def first_bytes_reply(tag):
    """Handler: reads what the client sent first (until it pauses), notes
    it, replies 'TAG <n>' and closes."""
    def handler(conn, backend):
        conn.settimeout(2)
        data = b""
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
                conn.settimeout(0.3)
        except socket.timeout:
            pass
        backend.note_served(data)
        conn.sendall(("%s %d" % (tag, len(data))).encode())
    return handler


def ask(port, data, pieces=None, delay=0.0):
    """Sends data (in pieces of `pieces` bytes, delay apart), returns the
    reply up to EOF."""
    with lbtest.connect(port) as c:
        step = pieces or len(data) or 1
        for off in range(0, len(data), step):
            c.sendall(data[off:off + step])
            if delay:
                time.sleep(delay)
        return lbtest.drain(c)


ROUTES = """
[listener:tls]
listen = 127.0.0.1:%(port)d
backends = 127.0.0.1:%(default)d
%(extra)s
[route:a]
listener = tls
sni = a.example.com
backends = 127.0.0.1:%(a)d

[route:b]
listener = tls
sni = *.B.example.com, c.example.com
backends = 127.0.0.1:%(b)d
"""


def routes_config(port, default, a, b, extra=""):
    return ROUTES % {"port": port, "default": default, "a": a, "b": b,
                     "extra": extra}


def three_backends(s):
    return (s.backend(first_bytes_reply("D")), s.backend(first_bytes_reply("A")),
            s.backend(first_bytes_reply("B")))


def test_sni_reaches_the_route_that_names_it():
    """a.example.com goes to route a, x.b.example.com to route b (its
    *.b.example.com), b.example.com, a hello without a name and a plain
    HTTP request (not TLS) to the listener's own backend; each backend
    gets the bytes unchanged, and the connection lines say route=a,
    route=b and route=-."""
    with lbtest.Scope() as s:
        d, a, b = three_backends(s)
        port = lbtest.free_port()
        lb = s.balancer(routes_config(port, d.port, a.port, b.port),
                        wait_ports=[port])
        cases = [("a.example.com", a, "A", "a"),
                 ("x.b.example.com", b, "B", "b"),
                 ("C.Example.COM", b, "B", "b"),
                 ("b.example.com", d, "D", "-"),
                 (None, d, "D", "-")]
        cases.append(("plain HTTP", d, "D", "-"))
        for name, backend, tag, _ in cases:
            hello = client_hello(name) if name != "plain HTTP" else \
                b"GET / HTTP/1.0\r\nHost: a.example.com\r\n\r\n"
            eq(ask(port, hello), ("%s %d" % (tag, len(hello))).encode(),
               "reply to a hello for %s" % name)
            eq(backend.received[-1], hello,
               "the bytes %s's backend received" % name)
        true(lbtest.wait_until(lambda: len(conn_lines(lb)) == 6, 5),
             "six connection lines", log=lb.tail())
        eq([line["route"] for line in conn_lines(lb)],
           [route for _, _, _, route in cases], "route= of each line")


def test_hello_split_byte_by_byte_still_routes():
    """A hello sent a byte at a time (each its own segment) is gathered
    until its name is read, then relayed whole to route a."""
    with lbtest.Scope() as s:
        d, a, b = three_backends(s)
        port = lbtest.free_port()
        s.balancer(routes_config(port, d.port, a.port, b.port),
                   wait_ports=[port])
        hello = client_hello("a.example.com")
        with lbtest.connect(port) as c:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(len(hello)):
                c.send(hello[i:i + 1])
                time.sleep(0.002)
            reply = lbtest.drain(c)
        eq(reply, b"A %d" % len(hello), "reply to the split hello")
        eq(a.received, [hello], "route a's backend got the hello whole")
        eq(d.accepted + b.accepted, 0, "connections to other backends")


def test_inspect_timeout_sends_what_came_to_the_default():
    """A client that sends half a hello and waits: no backend is chosen
    while the balancer waits for the rest; after inspect_timeout (2 s)
    the listener's own backend gets those bytes, and then the rest as it
    comes, all relayed."""
    with lbtest.Scope() as s:
        d, a, b = three_backends(s)
        port = lbtest.free_port()
        s.balancer(routes_config(port, d.port, a.port, b.port,
                                 extra="inspect_timeout = 2"),
                   wait_ports=[port])
        hello = client_hello("a.example.com")
        with lbtest.connect(port) as c:
            c.sendall(hello[:100])
            time.sleep(0.5)
            eq(d.accepted + a.accepted + b.accepted, 0,
               "backend connections while the hello is unfinished")
            true(lbtest.wait_until(lambda: d.accepted == 1, 5),
                 "the default backend is connected after inspect_timeout")
            c.sendall(hello[100:])
            reply = lbtest.drain(c)
        eq(d.received, [hello], "the default backend got every byte")
        eq(reply, b"D %d" % len(hello), "reply")
        eq(a.accepted, 0, "connections to route a")


def test_no_route_and_no_own_backends_closes():
    """A listener with routes only: a client whose name no route lists is
    closed (end=no_route, logged, counted as refused with reason
    no_route), while a named one is served."""
    with lbtest.Scope() as s:
        a = s.backend(first_bytes_reply("A"))
        port, stats = lbtest.free_ports(2)
        cfg = ("[options]\nstats = 127.0.0.1:%d\n"
               "[listener:tls]\nlisten = 127.0.0.1:%d\n"
               "[route:a]\nlistener = tls\nsni = a.example.com\n"
               "backends = 127.0.0.1:%d\n" % (stats, port, a.port))
        lb = s.balancer(cfg, wait_ports=[port, stats])
        eq(ask(port, client_hello("other.example.com")), b"",
           "reply to a name no route lists")
        hello = client_hello("a.example.com")
        eq(ask(port, hello), b"A %d" % len(hello), "reply to a.example.com")
        true(lb.wait_log(r"No route for client 127\.0\.0\.1:\d+ on "
                         r"127\.0\.0\.1:%d, and no backends of its own" % port),
             "the no-route line", log=lb.tail())
        true(lb.wait_log(r"route=- backend=- .* end=no_route$"),
             "the connection line says end=no_route", log=lb.tail())
        body = _get(stats, "/stats.json")
        listener = json.loads(body)["listeners"][0]
        eq(listener["connections_refused_total"]["no_route"], 1,
           "clients refused for want of a route")
        eq([(be["name"], be["route"]) for be in listener["backends"]],
           [("127.0.0.1:%d" % a.port, "a")],
           "the route's backend in /stats.json")


def _get(port, path):
    with lbtest.connect(port) as c:
        c.sendall(b"GET " + path.encode() + b" HTTP/1.0\r\n\r\n")
        data = lbtest.drain(c)
    return data.split(b"\r\n\r\n", 1)[1].decode()


def test_route_behind_accept_proxy_with_its_own_send_proxy():
    """accept_proxy on the listener, send_proxy = v1 on route a only: the
    client's PROXY header comes first and names the client, the hello
    after it (in the same packet) picks route a, whose backend gets our
    PROXY line naming that client, then the hello unchanged; the
    listener's own backend gets no header."""
    with lbtest.Scope() as s:
        d, a, b = three_backends(s)
        port = lbtest.free_port()
        s.balancer(routes_config(port, d.port, a.port, b.port,
                                 extra="accept_proxy = 1").replace(
            "backends = 127.0.0.1:%d\n" % a.port,
            "backends = 127.0.0.1:%d\nsend_proxy = v1\n" % a.port),
            wait_ports=[port])
        hdr = b"PROXY TCP4 203.0.113.9 198.51.100.1 5555 443\r\n"
        hello = client_hello("a.example.com")
        ask(port, hdr + hello)
        eq(a.received, [hdr + hello], "route a's backend: header, hello")
        other = client_hello("zzz.example.com")
        ask(port, hdr + other)
        eq(d.received, [other], "the own backend: the hello alone")


def test_route_health_checks_and_algorithm():
    """A route with two backends, algorithm = leastconn and active checks:
    the dead one is taken out (logged as the route's), every hello goes
    to the live one."""
    with lbtest.Scope() as s:
        d, a, b = three_backends(s)
        dead = lbtest.free_port()
        port = lbtest.free_port()
        cfg = routes_config(port, d.port, a.port, b.port).replace(
            "backends = 127.0.0.1:%d\n" % a.port,
            "backends = 127.0.0.1:%d, 127.0.0.1:%d\nalgorithm = leastconn\n"
            "check_interval = 0.2\nfall = 1\nmax_fails = 0\n"
            % (dead, a.port))
        lb = s.balancer(cfg, wait_ports=[port])
        true(lb.wait_log(r"Backend 127\.0\.0\.1:%d of 127\.0\.0\.1:%d route "
                         r"a is DOWN" % (dead, port)),
             "the route's dead backend is taken out", log=lb.tail())
        hello = client_hello("a.example.com")
        for _ in range(4):
            eq(ask(port, hello), b"A %d" % len(hello), "reply")
        eq([len(r) for r in a.received if r], [len(hello)] * 4,
           "hellos the live backend got (besides the checks' connects)")


# ---- a real handshake ----

def _self_signed(s, name):
    """A key and certificate for name, made now with openssl."""
    key, cert = s.path("key.pem"), s.path("cert.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                        "-subj", "/CN=" + name, "-addext",
                        "subjectAltName=DNS:" + name],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=60)
    true(r.returncode == 0, "openssl req made a certificate",
         status=r.returncode, stderr=r.stderr[-300:])
    return key, cert


def _tls_echo(key, cert):
    """Backend handler: a TLS server that echoes one line, then closes."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    def handler(conn, backend):
        with ctx.wrap_socket(conn, server_side=True) as tls:
            line = lbtest.recv_line(tls)
            backend.note_served(line)
            tls.sendall(b"secure " + line)
    return handler


def test_tls_handshake_end_to_end_through_a_route():
    """A TLS client that checks the certificate (made at test time for
    a.example.com) completes its handshake with route a's TLS backend
    through the balancer and gets its line echoed; the balancer never
    terminates TLS."""
    with lbtest.Scope() as s:
        key, cert = _self_signed(s, "a.example.com")
        d = s.backend(first_bytes_reply("D"))
        a = s.backend(_tls_echo(key, cert))
        b = s.backend(first_bytes_reply("B"))
        port = lbtest.free_port()
        lb = s.balancer(routes_config(port, d.port, a.port, b.port),
                        wait_ports=[port])
        ctx = ssl.create_default_context(cafile=cert)
        with lbtest.connect(port) as raw:
            with ctx.wrap_socket(raw, server_hostname="a.example.com") as c:
                c.sendall(b"hello\n")
                reply = lbtest.recv_line(c)
                version = c.version()
        eq(reply, b"secure hello\n", "reply over TLS")
        true(version in ("TLSv1.2", "TLSv1.3"), "TLS version",
             version=version)
        eq(a.received, [b"hello\n"], "what the TLS backend decrypted")
        true(lb.wait_log(r"route=a backend=127\.0\.0\.1:%d .* end=closed$"
                         % a.port), "connection line", log=lb.tail())


def test_curl_through_a_route():
    """curl (a real client, another TLS library's hello) fetches a page
    over HTTPS from route a's backend; DNS is pinned with --resolve so
    the name goes to 127.0.0.1."""
    with lbtest.Scope() as s:
        key, cert = _self_signed(s, "a.example.com")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)

        def https(conn, backend):
            with ctx.wrap_socket(conn, server_side=True) as tls:
                req = b""
                while b"\r\n\r\n" not in req:
                    chunk = tls.recv(4096)
                    if not chunk:
                        return
                    req += chunk
                backend.note_served(req.split(b"\r\n", 1)[0])
                tls.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n"
                            b"Connection: close\r\n\r\nroute\n")
        d = s.backend(first_bytes_reply("D"))
        a = s.backend(https)
        b = s.backend(first_bytes_reply("B"))
        port = lbtest.free_port()
        s.balancer(routes_config(port, d.port, a.port, b.port),
                   wait_ports=[port])
        r = subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert",
                            cert, "--resolve",
                            "a.example.com:%d:127.0.0.1" % port,
                            "https://a.example.com:%d/x" % port],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
        true((r.returncode, r.stdout) == (0, b"route\n"),
             "curl fetched the page", status=r.returncode, stdout=r.stdout,
             stderr=r.stderr[-300:])
        eq(a.received, [b"GET /x HTTP/1.1"], "request line at route a")
