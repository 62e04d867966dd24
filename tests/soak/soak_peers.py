"""The soak's peers, each run as a process of its own by soak.py: a backend
(`--backend PORT`) and a client loop (`--client`). Every byte either way is
a known pattern, so both ends check it byte by byte.

The exchange, one per connection. The client sends a header line

    UP DOWN UPOFF DOWNOFF MODE RESETAT\\n

then UP bytes of the pattern from UPOFF, then FIN. The backend checks them
as they come and, at the same time, sends DOWN bytes of the pattern from
DOWNOFF; once it has all of both, one trailer byte (K: the UP bytes were
exact, X: they were not), then it waits for the client's FIN and closes
with a FIN of its own. MODE r: the backend resets the connection once it
has sent RESETAT of the DOWN bytes (a mid-stream reset, while the client
may still be sending).

Backends set SO_LINGER {1, 0} on what they accept (from their listening
socket, which Linux copies it from at once), so a killed backend
resets its connections (and clear it before a normal close), and clients
reset an exchange they abandon: a clean end either peer sees too early is
then the balancer's doing, never a dying peer's. A backend prints
UPLOAD_TRUNCATED for a clean end before every UP byte.

A client knows what it asked for, so it can tell: the whole reply, its
trailer and a clean end (ok); a reset (visible); a clean end before the
whole reply (a silent truncation); bytes that differ from the pattern
(corruption); no progress for STALL_S (stalled). Only 127.0.0.1."""

import json
import os
import random
import selectors
import signal
import socket
import struct
import sys
import time

BLOCK = random.Random(19).randbytes(1 << 20)
BLOCK2 = BLOCK + BLOCK  # any slice up to 1 MiB from any offset is contiguous
CHUNK = 64 * 1024
STALL_S = 60.0
LINGER_RESET = struct.pack("ii", 1, 0)
LINGER_OFF = struct.pack("ii", 0, 0)


def pattern(off, n):
    """n <= 1 MiB bytes of the endless pattern from offset off."""
    s = off % len(BLOCK)
    return memoryview(BLOCK2)[s:s + n]


def same(off, data):
    """True if data is the pattern from offset off."""
    return pattern(off, len(data)) == data


# ---------------------------------------------------------------- backend

class BackendConn:
    def __init__(self, sock):
        self.sock = sock
        self.head = b""
        self.spec = None
        self.got = 0       # UP bytes received
        self.bad = False   # an UP byte differed, or more came
        self.sent = 0      # DOWN bytes sent
        self.trailer = False
        self.eof = False
        self.end = None    # a send found the peer gone: "fin" or "reset"


def backend(port):
    """Serves the exchange on 127.0.0.1:port until SIGTERM."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Linux copies it to accepted sockets: no moment after an accept when
    # a kill would still end a connection with a FIN.
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(1024)
    lsock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(lsock, selectors.EVENT_READ, None)
    print("listening", port, flush=True)
    while not stop:
        for key, mask in sel.select(0.5):
            if key.data is None:
                _accept(sel, lsock)
            else:
                _serve(sel, key.data, mask)


def _accept(sel, lsock):
    for _ in range(64):
        try:
            s, _ = lsock.accept()
        except (BlockingIOError, InterruptedError):
            return
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, BackendConn(s))


def _close(sel, c, clean):
    sel.unregister(c.sock)
    if clean:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_OFF)
    c.sock.close()


def _backend_read(c):
    """Reads what is there; returns False when the peer is gone."""
    try:
        data = c.sock.recv(256 * 1024)
    except (BlockingIOError, InterruptedError):
        return True
    except OSError:
        return False
    if not data:
        c.eof = True
        return True
    if c.spec is None:
        c.head += data
        if b"\n" not in c.head:
            return len(c.head) < 256
        line, data = c.head.split(b"\n", 1)
        f = line.split()
        c.spec = (int(f[0]), int(f[1]), int(f[2]), int(f[3]), f[4],
                  int(f[5]))
    up, _, upoff = c.spec[:3]
    take = data[:max(0, up - c.got)]
    if len(data) > len(take) or not same(upoff + c.got, take):
        c.bad = True
    c.got += len(take)
    return True


def _send(c, data):
    """Bytes sent, 0 when the socket is full; sets c.end when the send
    found the connection gone. The kernel reports a reset to one call
    only, so the send that takes it must say so: a read after it would
    find a plain end. EPIPE: the reset came after the peer's FIN."""
    try:
        return c.sock.send(data)
    except (BlockingIOError, InterruptedError):
        return 0
    except BrokenPipeError:
        c.end = "fin"
    except OSError:
        c.end = "reset"
    return 0


def _backend_write(c):
    """Sends what the socket takes; returns False for a planned reset."""
    up, down, _, downoff, mode, reset_at = c.spec
    limit = reset_at if mode == b"r" else down
    while c.sent < limit and c.end is None:
        k = _send(c, pattern(downoff + c.sent, min(CHUNK, limit - c.sent)))
        if k == 0:
            return True
        c.sent += k
    if mode == b"r":
        return False
    if not c.trailer and c.got >= up and c.end is None:
        c.trailer = _send(c, b"X" if c.bad else b"K") == 1
    return True


def _serve(sel, c, mask):
    if mask & selectors.EVENT_READ or c.spec is None:
        if not _backend_read(c):
            _close(sel, c, clean=False)
            return
    if c.spec is None:
        if c.eof:
            _close(sel, c, clean=True)
        return
    if not _backend_write(c) or c.end == "reset":
        _close(sel, c, clean=False)  # SO_LINGER {1, 0}: a reset
        return
    if c.trailer and c.eof:
        _close(sel, c, clean=True)
        return
    if (c.eof or c.end == "fin") and c.got < c.spec[0]:
        # A clean end before every UP byte: the client's data was cut
        # and the backend was told it was complete. Clients reset what
        # they abandon, so this is the balancer's doing.
        print("UPLOAD_TRUNCATED %.3f got %d of %d"
              % (time.time(), c.got, c.spec[0]), flush=True)
        _close(sel, c, clean=False)
        return
    if c.end is not None:
        _close(sel, c, clean=False)  # gone after the whole upload
        return
    want = selectors.EVENT_READ if not c.eof else 0
    if not c.trailer:
        want |= selectors.EVENT_WRITE
    sel.modify(c.sock, want or selectors.EVENT_READ, c)


# ----------------------------------------------------------------- client

SIZES = [(0.55, 0, 16 << 10), (0.33, 16 << 10, 1 << 20),
         (0.12, 1 << 20, 8 << 20)]


def _size(rng):
    x = rng.random()
    for share, lo, hi in SIZES:
        if x < share:
            return rng.randint(lo, hi)
        x -= share
    return 0


class ClientConn:
    def __init__(self, rng, small=False):
        self.up = rng.randint(0, 4096) if small else _size(rng)
        self.down = rng.randint(0, 4096) if small else _size(rng)
        if not small and rng.random() < 0.3:
            # one way only, the other a few bytes: uploads and downloads
            if rng.random() < 0.5:
                self.up = rng.randint(0, 64)
            else:
                self.down = rng.randint(0, 64)
        self.upoff = rng.randrange(len(BLOCK))
        self.downoff = rng.randrange(len(BLOCK))
        self.mode = "r" if rng.random() < 0.03 and self.down > 0 else "n"
        self.reset_at = rng.randint(0, self.down) if self.mode == "r" else 0
        self.head = ("%d %d %d %d %s %d\n" % (
            self.up, self.down, self.upoff, self.downoff, self.mode,
            self.reset_at)).encode()
        self.small = small
        self.sock = None
        self.port = 0
        self.connected = False
        self.hsent = 0
        self.sent = 0
        self.shut = False
        self.got = 0
        self.trailer = None
        self.result = None
        self.start = time.monotonic()
        self.progress = self.start

    def record(self, how, detail=""):
        self.result = {"port": self.port, "up": self.up, "down": self.down,
                       "mode": self.mode, "small": self.small,
                       "sent": self.sent, "got": self.got,
                       "trailer": self.trailer, "how": how,
                       "detail": detail, "t0": self.start,
                       "t1": time.monotonic()}


def _client_open(sel, lb_port, c):
    s = socket.socket()
    s.setblocking(False)
    c.sock = s
    try:
        rc = s.connect_ex(("127.0.0.1", lb_port))
    except OSError as e:
        rc = e.errno
    if rc not in (0, 115):  # EINPROGRESS
        c.record("connect_error", os.strerror(rc))
        s.close()
        return False
    c.port = s.getsockname()[1]
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    return True


def _client_send(c):
    """Sends the header, then the UP bytes, then FIN; returns an end or
    None."""
    try:
        while c.hsent < len(c.head):
            c.hsent += c.sock.send(c.head[c.hsent:])
        while c.sent < c.up:
            n = min(CHUNK, c.up - c.sent)
            c.sent += c.sock.send(pattern(c.upoff + c.sent, n))
            c.progress = time.monotonic()
        if not c.shut:
            c.sock.shutdown(socket.SHUT_WR)
            c.shut = True
    except (BlockingIOError, InterruptedError):
        pass
    except BrokenPipeError:
        return "fin"  # a reset after a FIN: the FIN came first
    except ConnectionResetError:
        return "reset"
    except OSError as e:
        return "error:" + os.strerror(e.errno or 0)
    return None


def _client_recv(c):
    """Reads and checks what is there; returns an end or None."""
    for _ in range(16):
        try:
            data = c.sock.recv(256 * 1024)
        except (BlockingIOError, InterruptedError):
            return None
        except ConnectionResetError:
            return "reset"
        except ConnectionRefusedError:
            return "refused"
        except OSError as e:
            return "error:" + os.strerror(e.errno or 0)
        if not data:
            return "fin"
        c.progress = time.monotonic()
        body = data[:max(0, c.down - c.got)]
        if not same(c.downoff + c.got, body):
            return "corrupt"
        c.got += len(body)
        rest = data[len(body):]
        if rest:
            if c.trailer is not None or len(rest) > 1:
                return "corrupt"
            c.trailer = rest.decode("latin-1")
    return None


def _client_step(sel, c, mask):
    how = None
    if mask & selectors.EVENT_READ:
        how = _client_recv(c)
    if how is None and mask & selectors.EVENT_WRITE and not c.shut:
        how = _client_send(c)
    if how is None and c.shut and not c.result:
        sel.modify(c.sock, selectors.EVENT_READ, c)
    if how is not None:
        _client_end(sel, c, how)


def _client_end(sel, c, how):
    if how == "fin":
        complete = c.got == c.down and c.trailer is not None
        if complete and c.trailer == "K":
            how = "ok"
        elif complete:
            how = "corrupt_upload"  # the backend saw different bytes
        elif c.got == 0 and c.trailer is None:
            how = "fin_empty"       # no reply at all (soak.py asks the log)
        else:
            how = "truncated"       # a clean end before the whole reply
    c.record(how)
    sel.unregister(c.sock)
    if how != "ok":
        # Abandoned: a reset, so the backend never takes a cut upload
        # for a complete one because of us.
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          LINGER_RESET)
    c.sock.close()


def client(lb_port, concurrency, seed, out_path, burst):
    """Keeps `concurrency` exchanges going until SIGTERM, then lets those
    under way finish (each bounded by STALL_S of no progress); SIGUSR1
    adds `burst` small exchanges at once. Writes one JSON line per
    exchange to out_path."""
    rng = random.Random(seed)
    state = {"stop": False, "bursts": 0}
    signal.signal(signal.SIGTERM, lambda *_: state.update(stop=True))
    signal.signal(signal.SIGUSR1,
                  lambda *_: state.update(bursts=state["bursts"] + 1))
    sel = selectors.DefaultSelector()
    live = set()
    with open(out_path, "w") as out:
        while live or not state["stop"]:
            while not state["stop"] and len(live) < concurrency:
                _start(sel, lb_port, ClientConn(rng), live, out)
            while state["bursts"] > 0 and not state["stop"]:
                state["bursts"] -= 1
                for _ in range(burst):
                    _start(sel, lb_port, ClientConn(rng, small=True), live,
                           out)
            for key, mask in sel.select(0.2):
                _client_step(sel, key.data, mask)
            now = time.monotonic()
            for c in list(live):
                if c.result is None and now - c.progress > STALL_S:
                    _client_end(sel, c, "stalled")
                if c.result is not None:
                    out.write(json.dumps(c.result) + "\n")
                    live.discard(c)


def _start(sel, lb_port, c, live, out):
    if _client_open(sel, lb_port, c):
        live.add(c)
    else:
        out.write(json.dumps(c.result) + "\n")


def main(argv):
    if argv[0] == "--backend":
        backend(int(argv[1]))
    elif argv[0] == "--client":
        client(int(argv[1]), int(argv[2]), int(argv[3]), argv[4],
               int(argv[5]))
    else:
        sys.exit("usage: soak_peers.py --backend PORT | --client LBPORT "
                 "CONCURRENCY SEED OUT BURST")


if __name__ == "__main__":
    main(sys.argv[1:])
