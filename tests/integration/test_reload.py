"""Reload (SIGHUP on POSIX): the new config is checked first and a bad one
changes nothing; unchanged listeners keep their socket, so a client loop
running through reloads sees no failure; removed listeners stop accepting
and drain; connections open across a reload are never cut."""

import os
import signal
import threading
import time

import lbtest
from lbtest import eq, true


class ClientLoop:
    """Connects, sends a line and reads the tagged reply, again and again,
    counting successes per backend tag and every failure."""

    def __init__(self, port):
        self.port = port
        self.tags = {}
        self.failures = []
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        i = 0
        while not self.stopping:
            i += 1
            line = b"loop-%d\n" % i
            try:
                with lbtest.connect(self.port, timeout=10) as c:
                    c.sendall(line)
                    reply = lbtest.recv_line(c)
                if not reply.endswith(b" " + line):
                    raise ValueError("reply %r" % reply)
                tag = reply.split(b" ")[0].decode()
                self.tags[tag] = self.tags.get(tag, 0) + 1
            except (OSError, ValueError) as e:
                self.failures.append("%d: %r" % (i, e))

    def total(self):
        return sum(self.tags.values())

    def stop(self):
        self.stopping = True
        self.thread.join(15)


def _config(listeners, options=""):
    text = "[options]\n" + options + "\n[mappings]\n"
    for port, backends in listeners:
        text += "127.0.0.1:%d = %s\n" % (port, ", ".join(
            "127.0.0.1:%d" % b for b in backends))
    return text


def _rewrite(lb, text):
    # A new file moved into place, as editors and config managers do.
    tmp = lb.cfg_path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, lb.cfg_path)


def _slow_transfer(conn, backend):
    """Reads a line, then sends 20 chunks over about 2 s and closes."""
    lbtest.recv_line(conn)
    for i in range(20):
        conn.sendall(b"chunk-%02d\n" % i)
        time.sleep(0.1)


@lbtest.posix_only("reload is SIGHUP here; the Windows service's "
                   "PARAMCHANGE is tested in test_windows_service.py")
def test_reload_keeps_serving():
    """A client loop runs against listener A through two reloads; A moves
    from backend B0 to B1, listener C is removed and D added. Zero failed
    clients; afterwards A's clients reach B1 only, D serves, C refuses; a
    transfer running across the reload completes intact; the old workers
    exit once drained."""
    with lbtest.Scope() as s:
        b0 = s.backend(lbtest.line_reply("B0"))
        b1 = s.backend(lbtest.line_reply("B1"))
        slow = s.backend(_slow_transfer)
        pa, pc, pd = lbtest.free_ports(3)
        lb = s.balancer(_config([(pa, [b0.port]), (pc, [slow.port])]),
                        wait_ports=[pa, pc])
        old_workers = set(lbtest.children_of(lb.pid))
        loop = ClientLoop(pa)
        long_conn = lbtest.connect(pc)
        long_conn.sendall(b"go\n")
        true(lbtest.wait_until(lambda: loop.total() >= 20, 10),
             "the client loop runs before the reload")
        _rewrite(lb, _config([(pa, [b1.port]), (pd, [b0.port])]))
        lb.signal(signal.SIGHUP)
        true(lb.wait_log(r"Reloaded .*: 2 listener\(s\)", timeout=10),
             "the reload is logged", log=lb.tail(15))
        true(lb.wait_log(r"Listener on 127\.0\.0\.1:%d removed" % pc,
                         timeout=1), "the removed listener is logged")
        # The transfer started before the reload goes on to its end.
        data = b""
        long_conn.settimeout(10)
        while True:
            chunk = long_conn.recv(4096)
            if not chunk:
                break
            data += chunk
        long_conn.close()
        eq(data, b"".join(b"chunk-%02d\n" % i for i in range(20)),
           "the transfer across the reload")
        before = loop.tags.get("B1", 0)
        true(lbtest.wait_until(lambda: loop.tags.get("B1", 0) >= before + 20,
                               10), "clients reach the new backend")
        # A second reload while nothing changes must not disturb either.
        lb.signal(signal.SIGHUP)
        true(lb.wait_log(r"Reloaded .*: 2 listener\(s\)", count=2,
                         timeout=10), "the second reload is logged")
        n = loop.total()
        true(lbtest.wait_until(lambda: loop.total() >= n + 20, 10),
             "the loop goes on after the second reload")
        loop.stop()
        eq(loop.failures, [], "failed clients during the reloads")
        true(loop.total() >= 60, "clients served", total=loop.total())
        eq(lbtest.request_line(pd, b"to-d\n"), b"B0 to-d\n",
           "the added listener serves")
        true(not lbtest.is_listening(pc), "the removed listener is closed")
        left = lambda: not any(lbtest.alive(p, t) for p, t in old_workers)
        true(lbtest.wait_until(left, 15),
             "the previous workers exit once drained",
             old=sorted(old_workers))
        true(lbtest.alive(lb.pid), "the balancer runs on")
        lb.signal(signal.SIGTERM)
        eq(lb.wait_exit(15), 0, "exit status after reloads and a stop")
        eq(lb.stderr().count("double free") + lb.stderr().count("Abort"), 0,
           "no crash at exit")


@lbtest.posix_only("reload is SIGHUP here")
def test_bad_reload_changes_nothing():
    """A config with a mistake, then one whose new listener cannot be
    bound: each reload fails with FILE:LINE and the reason, and the
    running configuration keeps serving the same backend and workers."""
    with lbtest.Scope() as s:
        b0 = s.backend(lbtest.line_reply("B0"))
        b1 = s.backend(lbtest.line_reply("B1"))
        pa = lbtest.free_port()
        busy = s.backend(lbtest.echo)  # holds a port, so binding it fails
        lb = s.balancer(_config([(pa, [b0.port])]), wait_ports=[pa])
        workers = sorted(lbtest.children_of(lb.pid))
        _rewrite(lb, "[mappings]\n127.0.0.1:%d = 127.0.0.1:%d\n"
                 "127.0.0.1:%d = nonsense\n" % (pa, b1.port, pa + 1))
        lb.signal(signal.SIGHUP)
        true(lb.wait_log(r"Reload failed, the running configuration stays: "
                         r".*lb0\.cfg:3: .*nonsense", timeout=10),
             "a bad config is refused with file and line", log=lb.tail(10))
        _rewrite(lb, _config([(pa, [b1.port]), (busy.port, [b1.port])]))
        lb.signal(signal.SIGHUP)
        true(lb.wait_log(r"lb0\.cfg:\d+: cannot listen on 127\.0\.0\.1:%d"
                         % busy.port, timeout=10),
             "a listener that cannot be bound is named", log=lb.tail(10))
        true(lb.wait_log(r"Reload failed", count=2, timeout=5),
             "and the reload fails")
        for i in range(5):
            eq(lbtest.request_line(pa, b"x%d\n" % i), b"B0 x%d\n" % i,
               "the old configuration still serves")
        eq(sorted(lbtest.children_of(lb.pid)), workers,
           "the same workers serve")
        lb.signal(signal.SIGTERM)
        eq(lb.wait_exit(15), 0, "exit status after failed reloads")


@lbtest.posix_only("reload is SIGHUP here; the Windows in-loop reload's "
                   "no-deadline drain is a session test")
def test_reload_never_cuts_a_connection():
    """graceful_shutdown_timeout = 1: a quiet connection open before a
    reload still relays 4 s after it (a reload drains with no deadline);
    a stop then gives the old worker its 1 s, and everything exits 0."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.echo)
        port = lbtest.free_port()
        lb = s.balancer(_config([(port, [b.port])],
                                "graceful_shutdown_timeout = 1\n"),
                        wait_ports=[port])
        c = lbtest.connect(port)
        c.sendall(b"before\n")
        eq(lbtest.recv_line(c), b"before\n", "echo before the reload")
        lb.signal(signal.SIGHUP)
        true(lb.wait_log(r"Reloaded ", timeout=10), "the reload is logged")
        time.sleep(4)
        c.sendall(b"after\n")
        eq(lbtest.recv_line(c), b"after\n",
           "echo on the same connection 4 s after the reload")
        eq(lbtest.request_line(port, b"new\n"), b"new\n",
           "a new client is served too")
        lb.signal(signal.SIGTERM)
        eq(lb.wait_exit(15), 0, "exit status after the stop")
        c.close()


@lbtest.posix_only("the supervisor's SIGKILL deadline is POSIX; the Windows "
                   "service's retired server drains in the same process")
def test_stop_waits_for_a_retired_workers_own_timeout():
    """A reload shortens graceful_shutdown_timeout from 8 s to 0.5 s; at the
    stop, the worker of the old config still drains for its own 8 s: its
    connection echoes 4.5 s after SIGTERM (the new config's 0.5 s plus the
    supervisor's 3 s margin would have killed it by then), and the
    balancer exits 0 once the client closes, killing nobody."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.echo)
        port = lbtest.free_port()
        lb = s.balancer(_config([(port, [b.port])],
                                "graceful_shutdown_timeout = 8\n"),
                        wait_ports=[port])
        c = lbtest.connect(port, timeout=10)
        c.sendall(b"before\n")
        eq(lbtest.recv_line(c), b"before\n", "echo before the reload")
        _rewrite(lb, _config([(port, [b.port])],
                             "graceful_shutdown_timeout = 0.5\n"))
        lb.signal(signal.SIGHUP)
        true(lb.wait_log(r"Reloaded ", timeout=10), "the reload is logged")
        lb.signal(signal.SIGTERM)
        time.sleep(4.5)
        c.sendall(b"late\n")
        eq(lbtest.recv_line(c), b"late\n",
           "echo through the old worker 4.5 s after the stop")
        c.close()
        eq(lb.wait_exit(15), 0, "exit status after the stop")
        true("killing them" not in lb.log(), "no worker was killed",
             log=lb.tail())
