"""Per-client limits (max_conns_per_client, max_conn_rate_per_client),
counted over every worker process, with accept_proxy's client, and TCP
keepalive (tcp_keepalive) on both of a connection's sockets."""

import re
import socket
import subprocess

import lbtest
from lbtest import LOG_STAMP, eq, true
from test_acl import _client, _refused, _served

LIMIT_RE = (r"^" + LOG_STAMP + r"%s: refused (\d+) client\(s\) over "
            r"per-client limits \(last from (\S+): (\w+)\)$")


def _hold(port, src):
    """A connection from src, served once (its line echoed): kept open."""
    s = socket.socket()
    s.settimeout(10)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(b"ping\n")
    eq(lbtest.recv_line(s), b"B ping\n", "a held connection from %s is "
       "served" % src)
    return s


def _refused_value(stats_port, reason):
    with lbtest.connect(stats_port) as c:
        c.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        text = lbtest.drain(c).decode()
    m = re.search(r'^pumpkinlb_connections_refused_total\{[^}]*reason="%s"'
                  r'\} (\d+)$' % reason, text, re.M)
    true(m, "the %s sample in /metrics" % reason, metrics=text[-2000:])
    return int(m.group(1))


def test_third_connection_from_one_client_is_refused():
    """max_conns_per_client = 2, two worker processes: two connections
    from 127.0.0.1 are held open; a third from it is reset without data
    (whichever worker accepts it), while 127.0.0.2 is served; once one
    closes, 127.0.0.1 is served again. The refusal is logged with a count
    and counted with reason max_conns_per_client."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.line_reply("B"))
        port, stats = lbtest.free_ports(2)
        lb = s.balancer(lbtest.mapping_config(port, [b.port], options={
            "max_conns_per_client": 2, "processes": 2,
            "stats": "127.0.0.1:%d" % stats}), wait_ports=[port, stats])
        held = [_hold(port, "127.0.0.1"), _hold(port, "127.0.0.1")]
        for _ in range(3):
            _refused(port, "127.0.0.1")
        _served(port, "127.0.0.2", "B")
        eq(_refused_value(stats, "max_conns_per_client"), 3,
           "clients refused by max_conns_per_client")
        held.pop().close()
        true(lbtest.wait_until(lambda: _client(port, "127.0.0.1") ==
                               (b"B ping\n", "line"), 5),
             "127.0.0.1 is served again once one of its connections ended")
        found = lb.wait_log(LIMIT_RE % re.escape("127.0.0.1:%d" % port))
        true(found, "the refused line", log=lb.tail())
        eq(found[-1][2], "max_conns_per_client", "the limit it names")
        true(found[-1][1].startswith("127.0.0.1:"), "its last client",
             line=found[-1])
        for h in held:
            h.close()


def test_rate_limit_refuses_past_n_in_s():
    """max_conn_rate_per_client = 3/30: three connections in a row from
    127.0.0.1 are served, the fourth and fifth are reset; 127.0.0.2 has a
    rate of its own."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.line_reply("B"))
        port, stats = lbtest.free_ports(2)
        lb = s.balancer(lbtest.mapping_config(port, [b.port], options={
            "max_conn_rate_per_client": "3/30",
            "stats": "127.0.0.1:%d" % stats}), wait_ports=[port, stats])
        for _ in range(3):
            _served(port, "127.0.0.1", "B")
        _refused(port, "127.0.0.1")
        _refused(port, "127.0.0.1")
        for _ in range(3):
            _served(port, "127.0.0.2", "B")
        found = lb.wait_log(LIMIT_RE % re.escape("127.0.0.1:%d" % port))
        true(found and found[-1][2] == "max_conn_rate_per_client",
             "the refused line names the rate limit", found=found)
        eq(_refused_value(stats, "max_conn_rate_per_client"), 2,
           "clients refused by the rate")
        eq(b.accepted, 6, "connections the backend saw")


def test_accept_proxy_limits_the_client_the_header_names():
    """With accept_proxy, the limit counts the client each PROXY header
    names: two held connections claiming 203.0.113.9 exhaust its
    max_conns_per_client = 2, while the same proxy (127.0.0.1) may still
    connect for 203.0.113.10."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.line_reply("B"))
        port = lbtest.free_port()
        s.balancer(lbtest.mapping_config(port, [b.port], options={
            "max_conns_per_client": 2, "accept_proxy": 1}),
            wait_ports=[port])

        def via_proxy(src):
            c = lbtest.connect(port)
            c.sendall(b"PROXY TCP4 %s 127.0.0.1 4000 %d\r\nping\n"
                      % (src.encode(), port))
            try:
                return c, lbtest.recv_line(c)
            except ConnectionResetError:
                return c, b"reset"
        held = [via_proxy("203.0.113.9") for _ in range(2)]
        eq([r for _, r in held], [b"B ping\n"] * 2, "the first two")
        c3, r3 = via_proxy("203.0.113.9")
        eq(r3 in (b"", b"reset"), True, "the third for 203.0.113.9 is "
           "refused (got %r)" % r3)
        c4, r4 = via_proxy("203.0.113.10")
        eq(r4, b"B ping\n", "another client behind the same proxy")
        for c, _ in held + [(c3, 0), (c4, 0)]:
            c.close()


# ---- TCP keepalive ----

def _sockets(filter_expr):
    """ss -tno lines of established sockets matching filter_expr."""
    r = subprocess.run(["ss", "-tnoH", "state", "established", filter_expr],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=10)
    eq(r.returncode, 0, "ss exit status")
    return r.stdout.decode().splitlines()


def test_tcp_keepalive_on_client_and_backend_sockets():
    """tcp_keepalive = 60: while a connection is open, the balancer's
    socket to the client (local port = the listener's) and its socket to
    the backend (peer port = the backend's) both show a keepalive timer
    in ss -o; the test's own sockets, which ask for none, show none."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.line_reply("B"))
        port = lbtest.free_port()
        s.balancer(lbtest.mapping_config(port, [b.port], options={
            "tcp_keepalive": 60}), wait_ports=[port])
        held = _hold(port, "127.0.0.1")
        client_side = _sockets("( sport = :%d )" % port)
        backend_side = _sockets("( dport = :%d )" % b.port)
        ours = _sockets("( dport = :%d )" % port)
        held.close()
        eq(len(client_side), 1, "balancer sockets to the client")
        eq(len(backend_side), 1, "balancer sockets to the backend")
        for what, lines in (("client", client_side),
                            ("backend", backend_side)):
            true(re.search(r"timer:\(keepalive,", lines[0]),
                 "a keepalive timer on the balancer's %s socket" % what,
                 line=lines[0])
            m = re.search(r"timer:\(keepalive,(?:(\d+)min)?(\d+)(?:\.\d+)?sec",
                          lines[0])
            if m:
                secs = int(m.group(1) or 0) * 60 + int(m.group(2))
                true(secs <= 60, "keepalive due within 60 s", line=lines[0])
        true(not re.search(r"keepalive", ours[0]),
             "no keepalive on the test client's own socket", line=ours[0])
