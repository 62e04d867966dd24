"""UNIX-socket backends (`unix:PATH`): relayed like TCP ones on POSIX,
health-checked and retried; refused with a clear config error on
Windows."""

import os

import lbtest
from lbtest import eq, true


@lbtest.posix_only("UNIX-socket backends are POSIX only; Windows refuses "
                   "them (test_unix_backend_refused_on_windows)")
def test_unix_backend_relays_and_is_health_checked():
    """A listener with a UNIX-socket backend and a missing one: clients
    are served by the live socket, the missing one is taken out of
    service after its failed connect (logged with its unix: label)."""
    with lbtest.Scope() as s:
        live = os.path.join(s.dir, "live.sock")
        gone = os.path.join(s.dir, "gone.sock")
        b = s.backend(lbtest.line_reply("U"), path=live)
        port = lbtest.free_port()
        lb = s.balancer("[mappings]\n127.0.0.1:%d = unix:%s, unix:%s\n"
                        % (port, live, gone), wait_ports=[port])
        for i in range(6):
            eq(lbtest.request_line(port, b"u%d\n" % i), b"U u%d\n" % i,
               "reply through the UNIX-socket backend")
        eq(b.served, 6, "requests the UNIX-socket backend answered")
        true(lb.wait_log(r"Backend unix:%s of 127\.0\.0\.1:%d is DOWN"
                         % (gone, port), timeout=5),
             "the missing socket is taken out of service",
             log=lb.tail(10))


@lbtest.windows_only("Windows has no UNIX-socket backends")
def test_unix_backend_refused_on_windows():
    """unix:PATH is a config error on Windows: exit 3, FILE:LINE and why."""
    with lbtest.Scope() as s:
        port = lbtest.free_port()
        lb = s.balancer("[mappings]\n127.0.0.1:%d = unix:/tmp/x.sock\n"
                        % port, start=False)
        rc, out, err = lbtest.run_binary([lb.cfg_path])
        eq(rc, 3, "exit status")
        lbtest.contains(err, "lb0.cfg:2: backend 'unix:/tmp/x.sock': "
                        "UNIX-socket backends are not supported",
                        "stderr names file, line and value")
