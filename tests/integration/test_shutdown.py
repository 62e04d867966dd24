"""Graceful shutdown: listeners close at once, active connections drain
up to graceful_shutdown_timeout (default 6 s), exit status 0; a second
signal stops at once.

"SIGTERM" below is lbtest.GRACEFUL: SIGTERM on POSIX, Ctrl+C (SIGINT to
the wine process) under Wine, where SIGTERM kills without any handler."""

import signal
import socket
import threading
import time

import lbtest
from lbtest import eq, true


def _reader(sock, deadline):
    """Reads sock to EOF in a thread, then closes it as a real client
    would; result gets (n, hash, how, time)."""
    result = {}

    def run():
        n, h, how = lbtest.recv_hash(sock, deadline)
        result.update(n=n, hash=h, how=how, time=time.monotonic())
        sock.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, result


def _wait_first_bytes(sock, timeout):
    """Blocks until some bytes arrive; returns them (bounded)."""
    sock.settimeout(timeout)
    data = sock.recv(65536)
    true(data, "first bytes of the transfer arrive")
    return data


def test_sigterm_during_transfer():
    """SIGTERM while a backend sends 30 x 64 KiB over ~3 s: a new
    connection 0.3 s after the signal is refused, the transfer completes
    in full (sha256), and the balancer exits 0 once it ends, well before
    the 6 s deadline; no worker process stays behind."""
    with lbtest.Scope() as s:
        chunks = [lbtest.pattern_bytes(64 * 1024, 100 + i) for i in range(30)]
        whole = b"".join(chunks)
        b = s.backend(lbtest.slow_sender(chunks, 0.1))
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(port, [b.port]),
                        wait_ports=[port])
        c = lbtest.connect(port, timeout=10)
        s.on_close(c.close)
        first = _wait_first_bytes(c, 10)
        watcher = lb.exit_watcher()
        t0 = time.monotonic()
        lb.signal(lbtest.GRACEFUL)
        t, res = _reader(c, t0 + 20)
        time.sleep(0.3)  # the spec's window for listeners to close
        probe = lbtest.probe_refused(port, wait=2.0)
        t.join(25)
        watcher.join(25)
        eq(probe, None, "new connection after SIGTERM (None = refused)")
        true(res, "transfer reader finished")
        eq(len(first) + res["n"], len(whole), "bytes of the transfer")
        eq(lbtest.sha256(whole[:len(first)]), lbtest.sha256(first),
           "sha256 of the first bytes")
        eq(res["hash"], lbtest.sha256(whole[len(first):]),
           "sha256 of the rest of the transfer")
        eq(res["how"], "eof", "transfer ended with")
        true(lb.exit_time is not None, "balancer exited within 25 s")
        eq(lb.proc.returncode, 0, "exit status after SIGTERM")
        lbtest.between(lb.exit_time - t0, 0.0, 5.0,
                       "seconds from SIGTERM to exit (transfer ~3 s, "
                       "deadline 6 s)")
        true(res["time"] <= lb.exit_time + 1.0,
             "client saw the end of the transfer before the balancer exit",
             eof_after_signal=res["time"] - t0,
             exit_after_signal=lb.exit_time - t0)
        eq(lb.workers_left(), [], "worker PIDs alive 3 s after exit")


test_sigterm_during_transfer.timeout = 60


def _idle_connection(s, options=None):
    """Balancer + idle backend + one connected, idle client whose backend
    connection is established. Returns (lb, backend, client, port)."""
    b = s.backend(lbtest.idle)
    port = lbtest.free_port()
    lb = s.balancer(lbtest.mapping_config(port, [b.port], options=options),
                    wait_ports=[port])
    c = lbtest.connect(port, timeout=10)
    s.on_close(c.close)
    true(lbtest.wait_until(lambda: b.accepted == 1, 5),
         "backend accepted the relayed connection", accepted=b.accepted)
    return lb, b, c, port


def test_sigterm_idle_connection_times_out():
    """A connection that never ends + SIGTERM: new connections are
    refused, the balancer exits 0 about 6 s after the signal
    (graceful_shutdown_timeout default) and the client is closed then."""
    with lbtest.Scope() as s:
        lb, b, c, port = _idle_connection(s)
        watcher = lb.exit_watcher()
        t0 = time.monotonic()
        lb.signal(lbtest.GRACEFUL)
        t, res = _reader(c, t0 + 20)
        time.sleep(0.3)  # the spec's window for listeners to close
        eq(lbtest.probe_refused(port, wait=2.0), None,
           "new connection after SIGTERM (None = refused)")
        true(lb.proc.poll() is None,
             "balancer keeps running while a connection is active",
             status=lb.proc.returncode)
        watcher.join(25)
        t.join(10)
        true(lb.exit_time is not None, "balancer exited within 25 s")
        eq(lb.proc.returncode, 0, "exit status after graceful timeout")
        lbtest.between(lb.exit_time - t0, 4.5, 12.0,
                       "seconds from SIGTERM to exit")
        true(res, "client reader finished")
        true(res["how"] in ("eof", "reset"),
             "client connection closed at shutdown", got=res["how"])
        eq(res["n"], 0, "bytes the idle client received")
        lbtest.between(res["time"] - t0, 4.5, 13.0,
                       "seconds from SIGTERM to the client's close")
        true(lbtest.wait_until(lambda: any(e == "closed" for _, e in
                                           b.events), 5),
             "backend side of the connection closed too")
        eq(lb.workers_left(), [], "worker PIDs alive 3 s after exit")


test_sigterm_idle_connection_times_out.timeout = 60


def test_sigint_without_connections_exits_promptly():
    """SIGINT with no active connection: exit status 0, well before the
    graceful deadline (< 4 s), and the port stops listening."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.line_reply("B"))
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(port, [b.port]),
                        wait_ports=[port])
        eq(lbtest.request_line(port, b"x\n"), b"B x\n", "reply before stop")
        t0 = time.monotonic()
        lb.signal(lbtest.INTERRUPT)
        rc = lb.wait_exit(15)
        true(rc is not None, "balancer exited within 15 s after SIGINT")
        eq(rc, 0, "exit status after SIGINT")
        lbtest.between(lb.exit_time - t0, 0.0, 4.0,
                       "seconds from SIGINT to exit with nothing active")
        true(not lbtest.is_listening(port), "port closed after exit")
        eq(lb.workers_left(), [], "worker PIDs alive 3 s after exit")


def test_second_signal_stops_at_once():
    """SIGINT with an idle connection starts draining (still running 1 s
    later); a second signal (SIGTERM; under Wine a second Ctrl+C) stops at
    once (< 3 s), status 0."""
    with lbtest.Scope() as s:
        lb, b, c, port = _idle_connection(s)
        watcher = lb.exit_watcher()
        lb.signal(lbtest.INTERRUPT)
        time.sleep(1.0)  # explicit window: still draining after 1 s
        true(lb.proc.poll() is None, "still running 1 s after first signal",
             status=lb.proc.returncode)
        t1 = time.monotonic()
        lb.signal(lbtest.GRACEFUL)
        watcher.join(15)
        true(lb.exit_time is not None, "balancer exited after second signal")
        lbtest.between(lb.exit_time - t1, 0.0, 3.0,
                       "seconds from the second signal to exit")
        eq(lb.proc.returncode, 0, "exit status after a second signal")
        c.settimeout(5)
        try:
            data = c.recv(10)
            how = "eof" if not data else "data"
        except ConnectionResetError:
            how = "reset"
        except socket.timeout:
            how = "timeout"
        true(how in ("eof", "reset"), "client closed after the stop",
             got=how)
        eq(lb.workers_left(), [], "worker PIDs alive 3 s after exit")


def test_graceful_timeout_option():
    """graceful_shutdown_timeout = 2 with an idle connection: exit status
    0 about 2 s after SIGTERM (between 1.5 and 5 s), not the default 6."""
    with lbtest.Scope() as s:
        lb, b, c, port = _idle_connection(
            s, options={"graceful_shutdown_timeout": 2})
        watcher = lb.exit_watcher()
        t0 = time.monotonic()
        lb.signal(lbtest.GRACEFUL)
        watcher.join(20)
        true(lb.exit_time is not None, "balancer exited within 20 s")
        eq(lb.proc.returncode, 0, "exit status")
        lbtest.between(lb.exit_time - t0, 1.5, 5.0,
                       "seconds from SIGTERM to exit (timeout 2 s)")
