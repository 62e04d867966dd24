"""allow/deny source lists: clients from 127.0.0.1 and 127.0.0.2 (the
client socket bound to it), per-listener overrides, deny over allow, an
IPv6 listener on ::1, the rate-limited log line, and config mistakes."""

import re
import socket
import time

import lbtest
from lbtest import LOG_STAMP, contains, eq, true
from test_config import _expect_config_error

REFUSED_RE = (r"^" + LOG_STAMP + r"%s: refused (\d+) client\(s\) by "
              r"allow/deny \(last from (\S+)\)$")


def _client(port, src, host="127.0.0.1"):
    """A client bound to src sends a line to host:port and reads the reply
    line. Returns (bytes received, how it ended): 'line' when a whole line
    came, 'eof', or 'reset' (also when the reset beat connect())."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(10)
    data = b""
    try:
        s.bind((src, 0))
        s.connect((host, port))
        s.sendall(b"ping\n")
        while not data.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                return data, "eof"
            data += chunk
        return data, "line"
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
        return data, "reset"
    finally:
        s.close()


def _served(port, src, tag, host="127.0.0.1"):
    data, how = _client(port, src, host)
    eq((data, how), (tag.encode() + b" ping\n", "line"),
       "client from %s to %s:%d is served by %s" % (src, host, port, tag))


def _refused(port, src, host="127.0.0.1"):
    """The client sees a reset with no byte before it."""
    data, how = _client(port, src, host)
    eq((data, how), (b"", "reset"),
       "client from %s to %s:%d is reset without data" % (src, host, port))


def _refused_lines(lb, label, count=1, timeout=5.0):
    """[(count, last client)] of the 'refused' lines for listener label,
    once there are count of them (or timeout)."""
    rx = REFUSED_RE % re.escape(label)
    return [(int(n), who) for n, who in
            lb.wait_log(rx, timeout=timeout, count=count)]


def test_acl_allow_serves_only_listed():
    """allow = 127.0.0.1 in [options]: a client from 127.0.0.1 is served;
    one from 127.0.0.2 is reset without data, its backend never sees a
    connection, and the refusal is logged with the client's address."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.line_reply("B"))
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(
            port, [b.port], options={"allow": "127.0.0.1"}),
            wait_ports=[port])
        _served(port, "127.0.0.1", "B")
        _refused(port, "127.0.0.2")
        _served(port, "127.0.0.1", "B")
        found = _refused_lines(lb, "127.0.0.1:%d" % port)
        eq(len(found), 1, "'refused' log lines")
        eq(found[0][0], 1, "clients counted in the 'refused' line")
        true(found[0][1].startswith("127.0.0.2:"),
             "the line names the refused client", line=found[0])
        time.sleep(0.3)
        eq(b.accepted, 2, "connections the backend got (the two served)")


def test_acl_deny_per_listener():
    """deny = 127.0.0.2/32 in one [listener:NAME] section: that listener
    refuses 127.0.0.2 and serves 127.0.0.1; a mapping without a list
    serves both."""
    with lbtest.Scope() as s:
        b1 = s.backend(lbtest.line_reply("B1"))
        b2 = s.backend(lbtest.line_reply("B2"))
        p1, p2 = lbtest.free_ports(2)
        cfg = ("[mappings]\n127.0.0.1:%d = 127.0.0.1:%d\n"
               "[listener:guarded]\nlisten = 127.0.0.1:%d\n"
               "backends = 127.0.0.1:%d\ndeny = 127.0.0.2/32\n"
               % (p1, b1.port, p2, b2.port))
        s.balancer(cfg, wait_ports=[p1, p2])
        _served(p1, "127.0.0.2", "B1")
        _served(p2, "127.0.0.1", "B2")
        _refused(p2, "127.0.0.2")
        time.sleep(0.3)
        eq(b2.accepted, 1, "connections the guarded listener's backend got")


def test_acl_deny_wins_and_sections_override():
    """[options] allow = 10.0.0.0/8 refuses loopback clients on a mapping
    that inherits it. A section that sets allow = 127.0.0.0/8 and deny =
    127.0.0.2 serves 127.0.0.1 and refuses 127.0.0.2, though allow lists
    it (deny wins). A section with the IPv4-mapped rule
    ::ffff:127.0.0.1/128 serves 127.0.0.1 only."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.line_reply("B"))
        p1, p2, p3 = lbtest.free_ports(3)
        cfg = ("[options]\nallow = 10.0.0.0/8\n"
               "[mappings]\n127.0.0.1:%d = 127.0.0.1:%d\n"
               "[listener:both]\nlisten = 127.0.0.1:%d\n"
               "backends = 127.0.0.1:%d\n"
               "allow = 127.0.0.0/8\ndeny = 127.0.0.2\n"
               "[listener:mapped]\nlisten = 127.0.0.1:%d\n"
               "backends = 127.0.0.1:%d\n"
               "allow = 10.0.0.0/8,\n"
               "        ::ffff:127.0.0.1/128\n"
               % (p1, b.port, p2, b.port, p3, b.port))
        s.balancer(cfg, wait_ports=[p1, p2, p3])
        _refused(p1, "127.0.0.1")
        _served(p2, "127.0.0.1", "B")
        _refused(p2, "127.0.0.2")
        _served(p3, "127.0.0.1", "B")
        _refused(p3, "127.0.0.2")
        time.sleep(0.3)
        eq(b.accepted, 2, "connections the backend got (the two served)")


def _wait_listening_v6(lb, port, timeout=10.0):
    """Waits until [::1]:port listens (/proc/net/tcp6)."""
    want = ("00000000000000000000000001000000", port)
    ok = lbtest.wait_until(
        lambda: want in lbtest.listening_ports() or
        lb.proc.poll() is not None, timeout)
    true(ok and lb.proc.poll() is None,
         "balancer listens on [::1]:%d" % port, status=lb.proc.returncode,
         log=lb.tail(10))


@lbtest.needs(lbtest.have_ipv6_loopback, "no IPv6 loopback (::1) here")
def test_acl_ipv6_listener():
    """Listeners on [::1]: allow = ::1 serves an IPv6 client from ::1;
    deny = ::/0 resets it without data, and the log names [::1]."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.line_reply("B6"))
        p1, p2 = lbtest.free_ports(2)
        cfg = ("[listener:open6]\nlisten = [::1]:%d\n"
               "backends = 127.0.0.1:%d\nallow = ::1, 127.0.0.1\n"
               "[listener:closed6]\nlisten = [::1]:%d\n"
               "backends = 127.0.0.1:%d\ndeny = ::/0\n"
               % (p1, b.port, p2, b.port))
        lb = s.balancer(cfg)
        _wait_listening_v6(lb, p1)
        _wait_listening_v6(lb, p2)
        _served(p1, "::1", "B6", host="::1")
        _refused(p2, "::1", host="::1")
        found = _refused_lines(lb, "[::1]:%d" % p2)
        eq(len(found), 1, "'refused' log lines of the IPv6 listener")
        true(found[0][1].startswith("[::1]:"),
             "the line names the IPv6 client", line=found[0])
        time.sleep(0.3)
        eq(b.accepted, 1, "connections the backend got (the one served)")


def test_acl_refusals_logged_once_a_second():
    """Six clients refused in a burst: the first is logged at once (count
    1), the rest in one later line (at most one a second) whose count makes
    six, written without any further client; the last line names the last
    client."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.line_reply("B"))
        port = lbtest.free_port()
        # The rate is each worker's (each loop's): this counts one's.
        lb = s.balancer(lbtest.mapping_config(
            port, [b.port], options={"allow": "127.0.0.1", "processes": 1}),
            wait_ports=[port])
        t0 = time.monotonic()
        for _ in range(6):
            _refused(port, "127.0.0.2")
        burst = time.monotonic() - t0
        label = "127.0.0.1:%d" % port
        rx = REFUSED_RE % re.escape(label)
        lbtest.wait_until(lambda: sum(int(n) for n, _ in re.findall(
            rx, lb.log(), re.M)) >= 6, 5.0, 0.05)
        time.sleep(1.2)  # room for a line too many to show up
        found = _refused_lines(lb, label, timeout=0)
        counts = [n for n, _ in found]
        eq(sum(counts), 6, "clients counted over the 'refused' lines")
        eq(counts[0], 1, "the first refusal is logged at once, alone")
        true(2 <= len(counts) <= 2 + int(burst),
             "at most one 'refused' line a second", counts=counts,
             burst_seconds=burst)
        eq(b.accepted, 0, "connections the backend got")


def test_acl_config_errors():
    """Bad allow/deny entries stop the balancer with exit 3, FILE:LINE and
    the bad value: bits past the prefix (with what to write instead), a
    prefix over 32 or 128, an empty entry, garbage, an empty list, and a
    bad entry on a continuation line (its own line number)."""
    with lbtest.Scope() as s:
        port, b = lbtest.free_ports(2)
        head = "[mappings]\n127.0.0.1:%d = 127.0.0.1:%d\n" % (port, b)
        cases = [
            ("hostbits.cfg", "[options]\nallow = 10.1.2.3/8\n", 4,
             "10.1.2.3/8"),
            ("v4prefix.cfg", "[options]\ndeny = 10.0.0.0/33\n", 4,
             "10.0.0.0/33"),
            ("v6prefix.cfg", "[options]\nallow = ::1, 2001:db8::/129\n", 4,
             "2001:db8::/129"),
            ("empty.cfg", "[options]\nallow = 127.0.0.1,,127.0.0.2\n", 4,
             "127.0.0.1,,127.0.0.2"),
            ("garbage.cfg", "[options]\ndeny = office-network\n", 4,
             "office-network"),
            ("badprefix.cfg", "[options]\ndeny = 127.0.0.1/8x\n", 4,
             "127.0.0.1/8x"),
            ("nolist.cfg", "[options]\nallow =\n", 4, "allow"),
            ("continued.cfg",
             "[listener:a]\nlisten = 127.0.0.1:%d\n"
             "backends = 127.0.0.1:%d\ndeny = 10.0.0.0/8,\n"
             "       fd00::1/8\n" % (lbtest.free_port(), b), 7,
             "fd00::1/8"),
        ]
        for name, text, line, value in cases:
            err = _expect_config_error(s, name, head + text, line,
                                       value=value, listen_port=port)
            if name == "hostbits.cfg":
                contains(err, "write 10.0.0.0/8", "%s: says what to write "
                         "instead" % name)
            if name == "continued.cfg":
                contains(err, "write fd00::/8", "%s: says what to write "
                         "instead" % name)


test_acl_config_errors.timeout = lbtest.pick(60, 120)
