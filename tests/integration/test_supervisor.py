"""The parent process: it restarts a worker that dies, and workers resolve
names per connection when pre_resolve_workers = 0."""

import os
import signal

import lbtest
from lbtest import eq, true


def _served(port, tag):
    c = lbtest.connect(port, timeout=10)
    try:
        c.sendall(tag + b"\n")
        return lbtest.recv_line(c)
    finally:
        c.close()


@lbtest.posix_only("worker processes")
def test_dead_worker_is_restarted():
    """SIGKILL to the worker: the parent logs it and starts a new worker,
    which serves the listener again (the listening socket was kept)."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.echo)
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(port, [b.port]),
                        wait_ports=[port])
        true(lbtest.wait_until(lambda: len(lbtest.children_of(lb.pid)) == 1,
                               5), "one worker forked",
             children=lbtest.children_of(lb.pid))
        old = lbtest.children_of(lb.pid)[0][0]
        eq(_served(port, b"before"), b"before\n", "echo before the kill")
        os.kill(old, signal.SIGKILL)
        true(lb.wait_log(r"worker process %d was killed by signal 9; "
                         r"restarting it" % old, timeout=5),
             "the parent logs the dead worker", log=lb.tail())
        true(lbtest.wait_until(
            lambda: [p for p, _ in lbtest.children_of(lb.pid) if p != old],
            5), "a new worker runs", children=lbtest.children_of(lb.pid))
        true(lbtest.wait_until(lambda: _served(port, b"after") == b"after\n",
                               5), "echo after the restart")
        lb.signal(lbtest.GRACEFUL)
        eq(lb.wait_exit(15), 0, "exit status after the stop")


def test_names_resolved_per_connection():
    """pre_resolve_workers = 0 with backend 'localhost': each connection
    looks the name up (off the event loop) and is served."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.echo)
        port = lbtest.free_port()
        cfg = ("[options]\npre_resolve_workers = 0\n[mappings]\n"
               "127.0.0.1:%d = localhost:%d\n" % (port, b.port))
        s.balancer(cfg, wait_ports=[port])
        for i in range(5):
            tag = b"conn %d" % i
            eq(_served(port, tag), tag + b"\n", "echo through localhost")
        eq(b.accepted, 5, "connections the backend saw")
