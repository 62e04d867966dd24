#!/usr/bin/env python3
"""Idle-connection holder for the benchmark suite (Python 3 stdlib).

    holder.py HOST PORT N SETUP_TIMEOUT MAX_HOLD

Opens up to N TCP connections to HOST:PORT, one after the other, and prints
    READY ok=<opened> fail=<failed> setup_s=<seconds> err=<first error or ->
then holds them, sending nothing, until a line arrives on stdin (or stdin
closes, or MAX_HOLD seconds pass). It then checks them and prints
    ALIVE alive=<not closed> probed=<k> answered=<k that got HTTP 200>
where 'not closed' means no EOF, reset or error is pending on the socket, and
the probe sends one HTTP request on k connections spread over all of them,
so both legs through the proxy are shown to work. Exits after that."""

import errno
import resource
import select
import socket
import sys
import time

PROBES = 20


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def open_all(host, port, n, timeout):
    socks, fail, err = [], 0, ""
    t0 = time.monotonic()
    for i in range(n):
        if time.monotonic() - t0 > timeout:
            fail += n - i
            err = err or "setup_timeout"
            break
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect((host, port))
            socks.append(s)
        except OSError as e:
            s.close()
            fail += 1
            err = err or ("%s_at_%d" % (errno.errorcode.get(e.errno, "timeout"), i))
            if e.errno == errno.EMFILE:
                fail += n - i - 1
                break
    return socks, fail, err, time.monotonic() - t0


def wait_for_go(max_hold):
    r, _, _ = select.select([sys.stdin], [], [], max_hold)
    if r:
        sys.stdin.readline()


def count_alive(socks):
    poller = select.poll()
    for s in socks:
        poller.register(s, select.POLLIN | select.POLLHUP | select.POLLERR)
    pending = dict(poller.poll(0))
    alive = 0
    for s in socks:
        if s.fileno() not in pending:
            alive += 1
            continue
        try:
            s.setblocking(False)
            if s.recv(1):
                alive += 1   # data nobody asked for, but not closed
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    return alive


def probe(socks, k):
    """Send one HTTP request on k connections spread over socks; count 200s."""
    if not socks:
        return 0, 0
    step = max(1, len(socks) // k)
    chosen = socks[::step][:k]
    ok = 0
    for s in chosen:
        try:
            s.settimeout(5)
            s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
            if s.recv(4096).startswith(b"HTTP/1.1 200"):
                ok += 1
        except OSError:
            pass
    return len(chosen), ok


def main():
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    setup_timeout, max_hold = float(sys.argv[4]), float(sys.argv[5])
    raise_nofile()
    socks, fail, err, took = open_all(host, port, n, setup_timeout)
    print("READY ok=%d fail=%d setup_s=%.2f err=%s" % (len(socks), fail, took, err or "-"),
          flush=True)
    wait_for_go(max_hold)
    alive = count_alive(socks)
    probed, answered = probe(socks, PROBES)
    print("ALIVE alive=%d probed=%d answered=%d" % (alive, probed, answered), flush=True)


if __name__ == "__main__":
    main()
