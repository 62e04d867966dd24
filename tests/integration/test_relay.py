"""Relay: exact bytes in bulk, half-close, short replies, resets, tiny
buffers, many concurrent connections; the worker's event backend."""

import os
import queue
import selectors
import signal
import socket
import struct
import sys
import threading
import time

import lbtest
from lbtest import eq, true

MiB = 1 << 20


def _echo_through(port, size, seed, deadline_s):
    """Sends size bytes through an echo backend while reading the echo in
    parallel; returns (sent hash, (nbytes, hash, how), sender result)."""
    data = lbtest.pattern_bytes(size, seed)
    want = lbtest.sha256(data)
    c = lbtest.connect(port, timeout=30)
    try:
        t, res = lbtest.send_in_thread(c, data)
        got = lbtest.recv_hash(c, time.monotonic() + deadline_s)
        t.join(10)
    finally:
        c.close()
    return want, got, res


def _check_echo(want, got, res, size, what):
    eq(res["error"], None, "%s: sender error" % what)
    eq(got[0], size, "%s: bytes echoed back" % what)
    eq(got[1], want, "%s: sha256 of echoed bytes" % what)
    eq(got[2], "eof", "%s: stream ended with" % what)


def test_echo_64mib():
    """64 MiB through the balancer to an echo backend and back: the
    sha256 of what came back equals what was sent, then a clean EOF
    (the backend's half-close passed on)."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.echo)
        port = lbtest.free_port()
        s.balancer(lbtest.mapping_config(port, [b.port]), wait_ports=[port])
        size = 64 * MiB
        # Wine relays about 100 MB/s at best; 64 MiB took 16-36 s on two
        # cores, so the deadline is wider there (80 s on POSIX).
        want, got, res = _echo_through(port, size, 64,
                                       lbtest.pick(80, 110))
        _check_echo(want, got, res, size, "64 MiB echo")
        eq(b.errors, [], "backend errors")


test_echo_64mib.timeout = lbtest.pick(120, 150)
test_echo_64mib.exclusive = True


def test_echo_buffer_size_1():
    """buffer_size=1 still relays 1 MiB exactly both ways (16 KiB under
    Wine, where every 1-byte overlapped operation is a wineserver round
    trip: about 1 KB/s echoed, so 1 MiB would take over 15 minutes)."""
    size = lbtest.pick(MiB, 16 * 1024)
    with lbtest.Scope() as s:
        b = s.backend(lbtest.echo)
        port = lbtest.free_port()
        s.balancer(lbtest.mapping_config(port, [b.port],
                                         options={"buffer_size": 1}),
                   wait_ports=[port])
        want, got, res = _echo_through(port, size, 1, 100)
        _check_echo(want, got, res, size,
                    "%d KiB echo with buffer_size=1" % (size // 1024))


test_echo_buffer_size_1.timeout = 120
test_echo_buffer_size_1.exclusive = True


def test_client_half_close():
    """Client sends a request then shutdown(SHUT_WR); the backend sees EOF
    while it can still send, then sends 8 MiB and closes: the client gets
    all 8 MiB (sha256) and then EOF."""
    with lbtest.Scope() as s:
        payload = lbtest.pattern_bytes(8 * MiB, 8)
        b = s.backend(lbtest.send_after_eof(payload))
        port = lbtest.free_port()
        s.balancer(lbtest.mapping_config(port, [b.port]), wait_ports=[port])
        request = b"GET /big please\n" * 100
        with lbtest.connect(port, timeout=30) as c:
            c.sendall(request)
            c.shutdown(socket.SHUT_WR)
            n, h, how = lbtest.recv_hash(c, time.monotonic() + 40)
        eq(b.received, [request], "request bytes seen by the backend")
        eq(n, len(payload), "bytes received after half-close")
        eq(h, lbtest.sha256(payload), "sha256 received after half-close")
        eq(how, "eof", "stream ended with")
        eq(b.errors, [], "backend errors")


def _recv_exactly(c, n, deadline):
    got = bytearray()
    while len(got) < n:
        c.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = c.recv(n - len(got))
        except socket.timeout:
            break
        if not chunk:
            break
        got += chunk
    return bytes(got)


def test_whole_buffers_then_silence():
    """Messages of exactly 1, 2, 3, 16 and 64 buffers, then 100 of exactly
    one, each echoed in full before the next is sent, on one connection
    that stays open. On Linux a full buffer is spliced on with "more is
    coming"; when nothing more comes, those bytes must go at once, not
    when TCP's delayed-ACK timer (40 ms or more) flushes them: 100 round
    trips must not take 100 such waits (4 s)."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.echo)
        port = lbtest.free_port()
        s.balancer(lbtest.mapping_config(port, [b.port],
                                         options={"buffer_size": 4096}),
                   wait_ports=[port])
        with lbtest.connect(port, timeout=10) as c:
            sizes = (1, 2, 3, 16, 64) + (1,) * 100
            started = time.monotonic()
            for i, k in enumerate(sizes):
                if i == 5:
                    started = time.monotonic()
                data = lbtest.pattern_bytes(k * 4096, i)
                c.sendall(data)
                got = _recv_exactly(c, len(data), time.monotonic() + 5)
                eq(len(got), len(data),
                   "message %d (%d buffers): bytes echoed within 5 s" % (i, k))
                true(got == data, "message %d: the same bytes" % i)
            took = time.monotonic() - started
            lbtest.note("100 one-buffer round trips took %.3f s" % took)
            true(took < 4.0, "100 one-buffer round trips took %.2f s, "
                 "as if each waited for a timer" % took)
        eq(b.errors, [], "backend errors")


def _delayed_ack_sink(arrived):
    """Handler: reads and acknowledges late (TCP_QUICKACK off again after
    every read, as a server's socket is once a connection looks
    interactive), sends nothing; each chunk goes to the queue."""
    def handler(conn, backend):
        while True:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)
            data = conn.recv(4096)
            if not data:
                break
            arrived.put(data)
    return handler


def test_small_writes_not_held_by_nagle():
    """Fifty one-byte messages on one connection, each sent once the
    backend has the one before, to a backend that delays its ACKs. A relay
    with Nagle's algorithm on holds each byte until the ACK of the one
    before (20 ms each here with the option left out: 0.84 s for forty;
    0.004 s with it). PumpkinLB sends its first
    bytes on a backend connection without TCP_NODELAY (nothing is in
    flight to wait for) and sets it before the second send."""
    arrived = queue.Queue()
    with lbtest.Scope() as s:
        b = s.backend(_delayed_ack_sink(arrived))
        port = lbtest.free_port()
        s.balancer(lbtest.mapping_config(port, [b.port]), wait_ports=[port])
        with lbtest.connect(port, timeout=10) as c:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            started = time.monotonic()
            for i in range(50):
                c.sendall(b"%c" % (65 + i % 26))
                try:
                    got = arrived.get(timeout=5)
                except queue.Empty:
                    lbtest.fail("message %d never reached the backend" % i)
                eq(len(got), 1, "message %d: bytes the backend read" % i)
            took = time.monotonic() - started
        lbtest.note("50 one-byte messages took %.3f s" % took)
        true(took < 0.5, "50 one-byte messages took %.2f s, as if each "
             "waited for a delayed ACK" % took)
        eq(b.errors, [], "backend errors")


def test_short_reply_then_close():
    """A backend that sends b'hello\\n' and closes at once without reading:
    the client still receives the reply, then EOF (20 times)."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.reply_and_close(b"hello\n"))
        port = lbtest.free_port()
        s.balancer(lbtest.mapping_config(port, [b.port]), wait_ports=[port])
        for i in range(20):
            with lbtest.connect(port, timeout=10) as c:
                try:
                    got = lbtest.drain(c)
                except socket.timeout:
                    lbtest.fail("attempt %d: no EOF within 10s" % i)
            eq(got, b"hello\n", "attempt %d: bytes the client received" % i)
        eq(b.accepted, 20, "connections the backend accepted")


def test_backend_reset_passed_on():
    """A backend that resets the connection after reading a request: the
    client sees a reset, not a clean EOF."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.reset_after_line)
        port = lbtest.free_port()
        s.balancer(lbtest.mapping_config(port, [b.port]), wait_ports=[port])
        with lbtest.connect(port, timeout=10) as c:
            c.sendall(b"please reset\n")
            try:
                data = c.recv(4096)
                how = "eof" if not data else "data %r" % data
            except ConnectionResetError:
                how = "reset"
            except socket.timeout:
                how = "timeout"
        eq(b.received, [b"please reset\n"], "request seen by the backend")
        eq(how, "reset", "what the client saw after the backend's reset")


def _while_stopped(worker, go, sent, what):
    """Stops the worker, lets the backend go (go), waits until it has sent
    (sent) and a moment more for the bytes to land, and lets the worker
    run again: the worker then finds all of it at once."""
    os.kill(worker, signal.SIGSTOP)
    try:
        go.set()
        true(sent.wait(5), what)
        time.sleep(0.05)
    finally:
        os.kill(worker, signal.SIGCONT)


@lbtest.posix_only("SIGSTOP holds the worker while the reply and the reset "
                   "arrive")
def test_short_reply_then_reset_passed_on():
    """A backend answers a few bytes and resets right behind them, while
    the worker is stopped, so it finds both at once (5 times): each client
    gets the bytes, then a reset, never a clean EOF. (On Linux the balancer
    looks behind a short read once the peer's end is in, to send the last
    bytes with a FIN; a reset it meets there must stay a reset.)"""
    go, sent = threading.Event(), threading.Event()

    def reply_then_reset(conn, backend):
        backend.note_served(lbtest.recv_line(conn))
        go.wait(10)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
        conn.sendall(b"bye\n")
        conn.close()
        sent.set()

    with lbtest.Scope() as s:
        b = s.backend(reply_then_reset)
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(port, [b.port]),
                        wait_ports=[port])
        worker = lb.worker_pid()
        for i in range(5):
            go.clear()
            sent.clear()
            with lbtest.connect(port, timeout=10) as c:
                c.sendall(b"hello\n")
                true(lbtest.wait_until(lambda: len(b.received) > i, 5),
                     "attempt %d: the backend read the request" % i)
                _while_stopped(worker, go, sent,
                               "attempt %d: the backend reset" % i)
                got = lbtest.recv_hash(c, time.monotonic() + 10)
            eq((got[0], got[2]), (4, "reset"),
               "attempt %d: bytes received and how the stream ended" % i)


@lbtest.posix_only("SIGSTOP holds the worker while the bytes arrive")
def test_bytes_behind_urgent_data_relayed():
    """A backend sends b'abc', one urgent byte (MSG_OOB) and b'def', all
    while the worker is stopped, then waits for the client: the client
    gets b'abcdef' (the urgent byte is not part of the stream), sends a
    line, and gets the backend's answer. A read stops short at the urgent
    mark with bytes still behind it, so a short read must not be taken as
    "nothing more to read" there: no new data would come to say so."""
    def then_wait(conn, backend):
        backend.note_served(lbtest.recv_line(conn))
        conn.sendall(b"bye\n")

    def client(c, b):
        c.sendall(b"ok\n")
        c.settimeout(5)
        eq(lbtest.recv_line(c), b"bye\n", "the answer to the client")

    b = _urgent_bytes_through(then_wait, client)
    eq(b.received, [b"ok\n"], "the client's line at the backend")


@lbtest.posix_only("SIGSTOP holds the worker while the bytes and the end "
                   "arrive")
def test_bytes_behind_urgent_data_then_end_relayed():
    """As above, but the backend closes right after b'def': the worker
    finds the bytes, the urgent mark and the end at once. The read stops
    short at the mark with the end already reported, which must not be
    taken for "only the end is left": the client gets b'abcdef' and then
    a clean end."""
    def then_close(conn, backend):
        lbtest.drain(conn)
        backend.note_served()

    _urgent_bytes_through(then_close,
                          lambda c, b: eq(c.recv(1), b"", "then the end"),
                          end_first=True)


def _urgent_bytes_through(then, client, end_first=False):
    """A backend sends b'abc', an urgent byte and b'def' (and its end,
    with end_first) while the worker is stopped, then runs then(conn,
    backend); the client must get b'abcdef', then runs client(c, backend).
    Returns the backend."""
    go, sent = threading.Event(), threading.Event()

    def handler(conn, backend):
        go.wait(10)
        conn.sendall(b"abc")
        conn.send(b"!", socket.MSG_OOB)
        conn.sendall(b"def")
        if end_first:
            conn.shutdown(socket.SHUT_WR)
        sent.set()
        then(conn, backend)

    with lbtest.Scope() as s:
        b = s.backend(handler)
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(port, [b.port]),
                        wait_ports=[port])
        worker = lb.worker_pid()
        with lbtest.connect(port, timeout=10) as c:
            true(lbtest.wait_until(lambda: b.accepted == 1, 5),
                 "the backend accepted")
            _while_stopped(worker, go, sent, "the backend sent")
            got = _recv_exactly(c, 6, time.monotonic() + 5)
            eq(got, b"abcdef", "bytes around the urgent byte")
            client(c, b)
    return b


@lbtest.posix_only("SIGSTOP holds the worker while the bytes arrive")
def test_urgent_byte_in_bulk_transfer():
    """Two whole buffers through an echo backend, so both directions move
    in bulk (spliced on Linux), then b'abc', an urgent byte and b'def' sent
    while the worker is stopped; then b'abc' alone, and the urgent byte,
    b'def' and the client's FIN while it is stopped: the client gets every
    byte but the urgent one echoed (and then the end). splice cannot pass
    an urgent byte's mark (and says 0 there once the FIN is in, as at the
    end), so the balancer reads past it."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.echo)
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(port, [b.port],
                                              options={"buffer_size": 4096}),
                        wait_ports=[port])
        worker = lb.worker_pid()
        for with_fin in (False, True):
            with lbtest.connect(port, timeout=10) as c:
                data = lbtest.pattern_bytes(8192, 7)
                c.sendall(data)
                eq(_recv_exactly(c, 8192, time.monotonic() + 5), data,
                   "two buffers echoed")
                if with_fin:
                    # The transfer's next step starts at the mark.
                    c.sendall(b"abc")
                    eq(_recv_exactly(c, 3, time.monotonic() + 5), b"abc",
                       "bytes before the urgent byte, echoed")
                os.kill(worker, signal.SIGSTOP)
                try:
                    if not with_fin:
                        c.sendall(b"abc")
                    c.send(b"!", socket.MSG_OOB)
                    c.sendall(b"def")
                    if with_fin:
                        c.shutdown(socket.SHUT_WR)
                    time.sleep(0.05)
                finally:
                    os.kill(worker, signal.SIGCONT)
                want = b"def" if with_fin else b"abcdef"
                got = _recv_exactly(c, len(want) + 1, time.monotonic() + 5)
                eq(got, want, "bytes behind the urgent byte, echoed "
                   "(then the FIN: %s)" % with_fin)


def _greet_then_read(conn, backend):
    """Handler: send a greeting, half-close, then read to EOF."""
    conn.sendall(b"greeting\n")
    conn.shutdown(socket.SHUT_WR)
    got = lbtest.drain(conn)
    backend.note_served(got)


def test_backend_half_close():
    """The backend sends a greeting and shuts down its sending side: the
    client gets the greeting and EOF, yet can still send 1 MiB, all of
    which reaches the backend (sha256)."""
    with lbtest.Scope() as s:
        b = s.backend(_greet_then_read)
        port = lbtest.free_port()
        s.balancer(lbtest.mapping_config(port, [b.port]), wait_ports=[port])
        data = lbtest.pattern_bytes(MiB, 3)
        with lbtest.connect(port, timeout=20) as c:
            eq(lbtest.drain(c), b"greeting\n", "client got greeting + EOF")
            c.sendall(data)
            c.shutdown(socket.SHUT_WR)
            true(lbtest.wait_until(lambda: b.served == 1, 20),
                 "backend read the client's data to EOF")
            rest = lbtest.drain(c)
        eq(rest, b"", "nothing more for the client")
        eq(len(b.received[0]), len(data), "bytes the backend received")
        eq(lbtest.sha256(b.received[0]), lbtest.sha256(data),
           "sha256 of what the backend received")


def test_no_retry_after_relay():
    """Backends [resetter, counter]: the first client's bytes reach the
    resetter, which then resets; the client sees the reset and the request
    is not retried on the counter (it saw no connection), while the next
    client goes to the counter by round robin."""
    with lbtest.Scope() as s:
        r = s.backend(lbtest.reset_after_line)
        k = s.backend(lbtest.line_reply("K"))
        port = lbtest.free_port()
        s.balancer(lbtest.mapping_config(port, [r.port, k.port]),
                   wait_ports=[port])
        with lbtest.connect(port, timeout=10) as c:
            c.sendall(b"first\n")
            try:
                how = "eof" if not c.recv(4096) else "data"
            except ConnectionResetError:
                how = "reset"
            except socket.timeout:
                how = "timeout"
        eq(r.received, [b"first\n"], "bytes the resetting backend got")
        eq(how, "reset", "first client saw")
        eq(lbtest.request_line(port, b"second\n"), b"K second\n",
           "second client's reply")
        eq(k.accepted, 1, "connections the counting backend accepted")
        eq(k.received, [b"second\n"], "requests the counting backend got")


def _many_clients(port, n, deadline):
    """Opens n clients, paced so at most 200 wait for their echo; each
    sends a unique payload and reads it back. All n stay open; then each
    sends a second payload at once. Returns (socks, errors)."""
    sel = selectors.DefaultSelector()
    socks, state, errors = [], {}, []
    opened = done = 0
    phase = 1

    def payload(i, ph):
        return b"conn-%05d-phase-%d-%s\n" % (i, ph, b"x" * (i % 50))

    def start(i, ph):
        state[i] = [payload(i, ph), 0, b""]  # expected, sent, received
        sel.register(socks[i], selectors.EVENT_READ | selectors.EVENT_WRITE,
                     i)

    while time.monotonic() < deadline:
        while phase == 1 and opened < n and opened - done < 200:
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            socks.append(c)
            start(opened, 1)
            opened += 1
        if phase == 1 and done == n:
            phase, done = 2, 0
            for i in range(n):
                start(i, 2)
        if phase == 2 and done == n:
            break
        for key, mask in sel.select(0.2):
            i = key.data
            exp, sent, got = state[i]
            c = socks[i]
            try:
                if mask & selectors.EVENT_WRITE and sent < len(exp):
                    sent += c.send(exp[sent:])
                if mask & selectors.EVENT_READ:
                    chunk = c.recv(65536)
                    if not chunk:
                        raise ConnectionError("EOF")
                    got += chunk
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as e:
                errors.append((i, phase, repr(e)))
                sel.unregister(c)
                done += 1
                continue
            state[i] = [exp, sent, got]
            if len(got) >= len(exp):
                if got != exp:
                    errors.append((i, phase, "got %r want %r" % (got, exp)))
                state[i] = None
                done += 1
                sel.unregister(c)
            elif sent >= len(exp):
                sel.modify(c, selectors.EVENT_READ, i)
    sel.close()
    pending = sum(1 for v in state.values() if v is not None)
    return socks, errors, phase, done, pending


def test_2000_concurrent_echo():
    """2,000 client connections (1,000 under Wine, which accepts about 200
    connections/s) open at the same time, each echoing a unique payload
    twice (once while opening, once with all open): every byte comes back
    to the right client, and the backend sees all of them open at once."""
    n = lbtest.pick(2000, 1000)
    lbtest.raise_nofile(2 * n + 500)
    with lbtest.Scope() as s:
        b = s.selector_echo()
        port = lbtest.free_port()
        s.balancer(lbtest.mapping_config(port, [b.port]), wait_ports=[port])
        deadline = time.monotonic() + 60
        socks, errors, phase, done, pending = _many_clients(port, n,
                                                            deadline)
        try:
            eq(errors[:5], [], "client errors (first 5 of %d)" % len(errors))
            eq((phase, done), (2, n), "(phase, clients finished) at the end")
            eq(b.accepted, n, "connections accepted by the backend")
            eq(b.peak, n, "backend connections open at the same time")
        finally:
            for c in socks:
                c.close()
        eq(b.errors, [], "backend errors")


test_2000_concurrent_echo.timeout = 120
test_2000_concurrent_echo.exclusive = True


# ------------------------------------------------------- event backend

def _has_epoll(pid):
    """Whether process pid holds an epoll descriptor (Linux /proc)."""
    fd_dir = "/proc/%d/fd" % pid
    links = []
    for fd in os.listdir(fd_dir):
        try:
            links.append(os.readlink(os.path.join(fd_dir, fd)))
        except OSError:
            pass  # closed meanwhile
    return "anon_inode:[eventpoll]" in links


@lbtest.posix_only("epoll and PUMPKINLB_POLL are the POSIX loop's")
@lbtest.linux_only("epoll")
def test_event_backend_epoll_unless_poll_forced():
    """A worker waits with epoll on Linux, with poll() (no epoll
    descriptor) when PUMPKINLB_POLL=1 is in its environment; relays either
    way. Elsewhere it never has epoll. Run by both passes of `make test`,
    which set the variable for each balancer here themselves."""
    linux = sys.platform.startswith("linux")
    saved = os.environ.get("PUMPKINLB_POLL")
    try:
        for force, want in ((None, linux), ("1", False), ("0", linux)):
            if force is None:
                os.environ.pop("PUMPKINLB_POLL", None)
            else:
                os.environ["PUMPKINLB_POLL"] = force
            with lbtest.Scope() as s:
                b = s.backend(lbtest.echo)
                port = lbtest.free_port()
                lb = s.balancer(lbtest.mapping_config(port, [b.port]),
                                wait_ports=[port])
                eq(lbtest.request_line(port, b"hello\n"), b"hello\n",
                   "echo with PUMPKINLB_POLL=%s" % force)
                kids = lbtest.children_of(lb.pid)
                eq(len(kids), 1, "worker processes")
                eq(_has_epoll(kids[0][0]), want, "the worker holds an "
                   "epoll descriptor (PUMPKINLB_POLL=%s)" % force)
    finally:
        if saved is None:
            os.environ.pop("PUMPKINLB_POLL", None)
        else:
            os.environ["PUMPKINLB_POLL"] = saved
