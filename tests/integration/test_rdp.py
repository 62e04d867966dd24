"""RDP cookie persistence (persist = rdp_cookie): X.224 Connection
Requests with a user's mstshash cookie stick to one backend over repeated
connections, users spread over the backends, a broker's routing token
goes to the backend it names, a user whose backend goes down moves and
stays moved, and the request reaches the backend unchanged."""

import struct
import time

import lbtest
from lbtest import eq, true
from test_routing import ask, first_bytes_reply


def connection_request(cookie):
    """TPKT + X.224 Connection Request with a cookie line and an
    RDP_NEG_REQ, as mstsc sends it."""
    body = cookie + b"\x01\x00\x08\x00\x03\x00\x00\x00"
    x224 = bytes([6 + len(body), 0xE0, 0, 0, 0, 0, 0]) + body
    return struct.pack(">BBH", 3, 0, 4 + len(x224)) + x224


def user(name):
    return connection_request(b"Cookie: mstshash=" + name + b"\r\n")


def routing_token(port):
    """A broker's token for 127.0.0.1:port: the address as the decimal of
    its bytes read little-endian, the port with its bytes swapped."""
    ip = 127 | 1 << 24
    swapped = (port & 0xff) << 8 | port >> 8
    return connection_request(b"Cookie: msts=%d.%d.0000\r\n" % (ip, swapped))


def farm(s, n, extra=""):
    backends = [s.backend(first_bytes_reply("S%d" % i)) for i in range(n)]
    port = lbtest.free_port()
    cfg = ("[listener:rdp]\nlisten = 127.0.0.1:%d\nbackends = %s\n"
           "persist = rdp_cookie\n%s" % (port, ", ".join(
               "127.0.0.1:%d" % b.port for b in backends), extra))
    lb = s.balancer(cfg, wait_ports=[port])
    return backends, port, lb


def server_of(port, request):
    """Which server ('S<i>') answered request."""
    reply = ask(port, request)
    true(reply.startswith(b"S"), "a server answered", reply=reply)
    return reply.split()[0].decode()


def test_users_stick_to_one_backend_and_spread():
    """Four users connect five times each, interleaved, to three backends
    by round robin: each user always reaches the same backend, the users
    are on more than one, and every backend got the requests unchanged;
    requests without a cookie still take turns."""
    with lbtest.Scope() as s:
        backends, port, _ = farm(s, 3)
        names = [b"alice", b"bob", b"carol", b"dave"]
        seen = {n: set() for n in names}
        for _ in range(5):
            for n in names:
                seen[n].add(server_of(port, user(n)))
        eq({n: len(v) for n, v in seen.items()}, {n: 1 for n in names},
           "backends each user reached")
        true(len({next(iter(v)) for v in seen.values()}) > 1,
             "the users are spread over more than one backend", seen=seen)
        got = [r for b in backends for r in b.received]
        eq(sorted(set(got)), sorted(user(n) for n in names),
           "requests the backends received (unchanged)")
        # Without a cookie: the algorithm (round robin: in turn).
        bare = connection_request(b"")
        eq(len({server_of(port, bare) for _ in range(3)}), 3,
           "backends of three cookie-less requests")


def test_routing_token_goes_to_the_named_backend():
    """A routing token naming the third backend's address and port goes
    there, every time, whatever round robin would say."""
    with lbtest.Scope() as s:
        backends, port, _ = farm(s, 3)
        token = routing_token(backends[2].port)
        eq([server_of(port, token) for _ in range(3)], ["S2"] * 3,
           "servers of the token's requests")
        eq(backends[2].received, [token] * 3, "requests at the third")


def test_user_moves_when_its_backend_is_down_and_stays():
    """alice's backend stops: her next connection goes to another backend
    (the table entry is updated), and she stays there once hers comes
    back."""
    with lbtest.Scope() as s:
        backends, port, _ = farm(s, 2, "fail_timeout = 30\n")
        first = server_of(port, user(b"alice"))
        old = backends[int(first[1])]
        old_port = old.port
        old.close()
        second = server_of(port, user(b"alice"))
        true(second != first, "alice moved off the stopped backend",
             first=first, second=second)
        s.backend(first_bytes_reply(first), port=old_port)
        eq([server_of(port, user(b"alice")) for _ in range(3)], [second] * 3,
           "alice's backend after hers came back")


def test_persist_timeout_forgets_a_user():
    """With persist_timeout = 1, a user back after 1.5 s is chosen anew by
    round robin (its next turn, the other backend), and then sticks to
    that one."""
    with lbtest.Scope() as s:
        _, port, _ = farm(s, 2, "persist_timeout = 1\n")
        eq(server_of(port, user(b"erin")), "S0", "erin's first backend")
        eq(server_of(port, user(b"erin")), "S0", "erin sticks within 1 s")
        time.sleep(1.5)
        eq(server_of(port, user(b"erin")), "S1",
           "erin after the timeout: round robin's next turn")
        eq(server_of(port, user(b"erin")), "S1", "erin sticks to it")
