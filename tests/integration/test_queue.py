"""A queue instead of a refusal (queue_timeout, max_queue): with
max_conns = 1 a second client waits and is served once the first closes,
a third past max_queue is refused; a client waiting past queue_timeout is
reset with end=queue_timeout; one that leaves is dropped from the queue
(end=queue_left); the queue's length and waits in /stats.json; what a
waiting client costs the worker."""

import socket
import time

import lbtest
import test_stats as st
from lbtest import eq, true


def _config(port, backends, stats, extra=""):
    return ("[options]\nmax_conns = 1\nstats = 127.0.0.1:%d\n%s"
            "[mappings]\n127.0.0.1:%d = %s\n"
            % (stats, extra, port,
               ", ".join("127.0.0.1:%d" % b for b in backends)))


def _refused(c, wait=5.0):
    """True if c is closed or reset without a byte within wait."""
    c.settimeout(wait)
    try:
        return c.recv(100) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def _hold(port):
    """A client that takes the one slot (max_conns = 1) and keeps it."""
    c = lbtest.connect(port)
    c.sendall(b"x\n")
    eq(lbtest.recv_line(c), b"x\n", "the first client")
    return c


def _queue(stats):
    return st._json(stats)["listeners"][0]["queue"]


def test_second_client_waits_third_refused():
    """max_conns = 1, queue_timeout = 5, max_queue = 1: the second client
    sends its request at once and gets the answer as soon as the first
    closes, not before; a third client, past max_queue, is refused at
    once; the queue's length and the wait are in /stats.json."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.echo)
        port, stats = lbtest.free_ports(2)
        lb = s.balancer(_config(port, [b.port], stats,
                                "queue_timeout = 5\nmax_queue = 1\n"),
                        wait_ports=[port, stats])
        first = _hold(port)
        second = lbtest.connect(port)
        second.sendall(b"second\n")  # waits unread meanwhile
        true(lbtest.wait_until(lambda: _queue(stats)["length"] == 1, 5),
             "the second client waits", queue=_queue(stats))
        third = lbtest.connect(port)
        true(_refused(third), "a third client, past max_queue, is refused")
        third.close()
        second.settimeout(0.5)
        try:
            early = second.recv(100)
        except socket.timeout:
            early = None
        eq(early, None, "the second client is not served while the first "
           "holds the slot")
        t0 = time.monotonic()
        first.close()
        second.settimeout(5)
        eq(lbtest.recv_line(second), b"second\n",
           "the second client is served once the first closes")
        served = time.monotonic() - t0
        second.close()
        eq(b.accepted, 2, "the backend saw two clients")
        q = lbtest.wait_until(lambda: _queue(stats)
                              if _queue(stats)["served_total"] == 1 else None,
                              5)
        true(q and q["length"] == 0 and q["wait_seconds_total"] >= 0.4,
             "served from the queue after its wait", queue=_queue(stats))
        true(lb.wait_log(r"Connection client=\S+ listener=127\.0\.0\.1:%d "
                         r"route=- backend=- .* end=refused" % port,
                         timeout=3),
             "the third client's line says end=refused", log=lb.tail(10))
        lbtest.note("the waiting client was served %.3f s after the first "
                    "closed" % served)


def test_queue_timeout_resets():
    """queue_timeout = 1: a client still waiting after it is reset, and
    its line says end=queue_timeout."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.echo)
        port, stats = lbtest.free_ports(2)
        lb = s.balancer(_config(port, [b.port], stats, "queue_timeout = 1\n"),
                        wait_ports=[port, stats])
        first = _hold(port)
        t0 = time.monotonic()
        second = lbtest.connect(port)
        second.settimeout(10)
        try:
            how = "eof" if second.recv(100) == b"" else "data"
        except ConnectionResetError:
            how = "reset"
        waited = time.monotonic() - t0
        eq(how, "reset", "a client that waited queue_timeout")
        lbtest.between(waited, 0.8, 4.0, "seconds it waited")
        true(lb.wait_log(r"Connection client=\S+ listener=127\.0\.0\.1:%d "
                         r"route=- backend=- .* end=queue_timeout" % port,
                         timeout=3),
             "its line says end=queue_timeout", log=lb.tail(10))
        eq(_queue(stats)["timeouts_total"], 1, "counted")
        first.close()
        second.close()


def test_queued_client_that_leaves_is_dropped():
    """A waiting client that closes its end is noticed (nothing is read
    from it) and dropped: its line says end=queue_left, the queue is
    empty, and the next client takes the slot the moment it frees."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.echo)
        port, stats = lbtest.free_ports(2)
        lb = s.balancer(_config(port, [b.port], stats, "queue_timeout = 30\n"),
                        wait_ports=[port, stats])
        first = _hold(port)
        leaver = lbtest.connect(port)
        true(lbtest.wait_until(lambda: _queue(stats)["length"] == 1, 5),
             "it waits")
        leaver.close()
        true(lb.wait_log(r"Connection client=\S+ listener=127\.0\.0\.1:%d "
                         r"route=- backend=- .* end=queue_left" % port,
                         timeout=5),
             "its line says end=queue_left", log=lb.tail(10))
        q = _queue(stats)
        eq((q["length"], q["abandoned_total"]), (0, 1), "dropped, counted")
        first.close()
        eq(lbtest.request_line(port, b"next\n", timeout=5), b"next\n",
           "the next client is served")
        eq(b.accepted, 2, "the leaver never reached the backend")


@lbtest.posix_only("reads the worker's memory from /proc")
def test_waiting_clients_hold_no_buffer():
    """500 clients waiting, each having sent 200 bytes that stay unread:
    the worker's memory grows by about what 500 idle connections cost
    (its session and socket), not by a buffer each (4 KiB)."""
    with lbtest.Scope() as s:
        lbtest.raise_nofile(4096)
        b = s.backend(lbtest.echo)
        port, stats = lbtest.free_ports(2)
        lb = s.balancer(_config(port, [b.port], stats, "queue_timeout = 60\n"),
                        wait_ports=[port, stats])
        first = _hold(port)
        worker = [p for p, _ in lbtest.children_of(lb.pid)
                  if st._owners(port, [p])][0]

        def rss():
            with open("/proc/%d/status" % worker) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
            return 0

        before = rss()
        waiting = []
        for i in range(500):
            c = socket.create_connection(("127.0.0.1", port), timeout=10)
            c.sendall(b"w" * 200)
            waiting.append(c)
        true(lbtest.wait_until(lambda: _queue(stats)["length"] == 500, 20,
                               0.2), "500 clients wait",
             queue=_queue(stats))
        per = (rss() - before) * 1024.0 / 500
        for c in waiting:
            c.close()
        first.close()
        true(per < 2048, "memory per waiting client below half a buffer",
             bytes_per_client=per)
        lbtest.note("worker RSS grew %.0f bytes per waiting client "
                    "(buffer_size 4096)" % per)


test_waiting_clients_hold_no_buffer.timeout = 120


def test_queued_after_inspect_timeout_keeps_its_bytes():
    """A listener that reads first bytes (a route) and queues: a client
    that says nothing within inspect_timeout goes to the listener's own
    backends, which are full, so it waits with the inspection's read
    still out; what it sends meanwhile reaches the backend once it is
    served (the read is not taken over by the queue's watch, which would
    lose it)."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.echo)
        other = s.backend(lbtest.echo)
        port, stats = lbtest.free_ports(2)
        lb = s.balancer(
            "[options]\nmax_conns = 1\nstats = 127.0.0.1:%d\n"
            "queue_timeout = 10\ninspect_timeout = 0.3\n"
            "[listener:l]\nlisten = 127.0.0.1:%d\nbackends = 127.0.0.1:%d\n"
            "[route:r]\nlistener = l\nsni = r.example.com\n"
            "backends = 127.0.0.1:%d\n" % (stats, port, b.port, other.port),
            wait_ports=[port, stats])
        first = _hold(port)
        second = lbtest.connect(port)
        true(lbtest.wait_until(lambda: _queue(stats)["length"] == 1, 5),
             "the silent client waits after inspect_timeout",
             queue=_queue(stats))
        second.sendall(b"second\n")
        time.sleep(0.3)  # seen while it waits
        first.close()
        second.settimeout(5)
        try:
            got = lbtest.recv_line(second)
        except socket.timeout:
            got = None
        eq(got, b"second\n", "what it sent while waiting is relayed")
        second.close()
        true(lb.wait_log(r"Connection client=\S+ listener=127\.0\.0\.1:%d "
                         r"route=- backend=127\.0\.0\.1:%d .* end=closed"
                         % (port, b.port), timeout=3),
             "its line says end=closed", log=lb.tail(10))


def test_route_taken_out_holds_up_only_its_own_clients():
    """A route whose backend the admin API put in maint, queue_timeout =
    5: a client of that route waits, and a client of the listener's own
    backend, idle meanwhile, is served at once rather than behind it
    (one queue over the listener reset it at queue_timeout instead)."""
    import test_admin as adm
    from test_routing import client_hello
    with lbtest.Scope() as s:
        own = s.backend(lbtest.echo)
        routed = s.backend(lbtest.echo)
        port, stats = lbtest.free_ports(2)
        s.balancer(
            "[options]\nstats = 127.0.0.1:%d\nadmin_token_file = %s\n"
            "queue_timeout = 5\n"
            "[listener:web]\nlisten = 127.0.0.1:%d\nbackends = 127.0.0.1:%d\n"
            "[route:r]\nlistener = web\nsni = r.example.com\n"
            "backends = 127.0.0.1:%d\n"
            % (stats, adm._token_file(s), port, own.port, routed.port),
            wait_ports=[port, stats])
        adm._set(stats, routed.port, '{"state": "maint"}')
        hello = client_hello("r.example.com")
        waiting = lbtest.connect(port)
        waiting.sendall(hello)
        true(lbtest.wait_until(lambda: _queue(stats)["length"] == 1, 5),
             "the route's client waits", queue=_queue(stats))
        t0 = time.monotonic()
        try:
            got = lbtest.request_line(port, b"own\n", timeout=3)
        except (socket.timeout, ConnectionResetError):
            got = None
        eq(got, b"own\n", "the listener's own backend serves meanwhile")
        lbtest.between(time.monotonic() - t0, 0, 2, "seconds it took")
        eq(_queue(stats)["length"], 1, "the route's client still waits")
        adm._set(stats, routed.port, '{"state": "ready"}')
        waiting.settimeout(5)
        echoed = b""
        try:
            while len(echoed) < len(hello):
                chunk = waiting.recv(len(hello) - len(echoed))
                if not chunk:
                    break
                echoed += chunk
        except socket.timeout:
            pass
        eq(echoed, hello, "the route's client is served once its backend "
           "is ready, its hello relayed")
        waiting.close()
