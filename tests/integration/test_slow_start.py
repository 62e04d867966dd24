"""slow_start: a backend the health checks bring back gets its share of
new clients ramped up over the window rather than all at once (a coarse
check of the ratio early in the window against after it), and at process
start every backend has its full share."""

import time

import lbtest
from lbtest import eq, true


def _share(port, seconds, tag):
    """Sends clients one after another for seconds; returns the share
    that backend tag served, and how many there were."""
    deadline = time.monotonic() + seconds
    seen = {}
    i = 0
    while time.monotonic() < deadline:
        reply = lbtest.request_line(port, b"c%d\n" % i)
        seen[reply.split(b" ")[0]] = seen.get(reply.split(b" ")[0], 0) + 1
        i += 1
    return seen.get(tag, 0) / float(i), i


def test_slow_start_ramps_a_backend_back():
    """algorithm weighted, two backends of weight 1, slow_start = 4: at
    start B serves about half; taken out by the checks and back, B serves
    little in the first second after it is UP again, and about half again
    once the window has passed."""
    with lbtest.Scope() as s:
        a = s.backend(lbtest.line_reply("A"))
        b = s.backend(lbtest.line_reply("B"))
        port = lbtest.free_port()
        lb = s.balancer(
            "[options]\nalgorithm = weighted\nslow_start = 4\n"
            "check_interval = 0.1\nfall = 1\nrise = 1\nmax_fails = 0\n"
            "[mappings]\n127.0.0.1:%d = 127.0.0.1:%d, 127.0.0.1:%d\n"
            % (port, a.port, b.port), wait_ports=[port])
        start, n0 = _share(port, 0.5, b"B")
        lbtest.between(start, 0.4, 0.6, "B's share at start (no ramp)")
        b.close()
        true(lb.wait_log(r"127\.0\.0\.1:%d of 127\.0\.0\.1:%d is DOWN"
                         % (b.port, port), timeout=10), "B taken out",
             log=lb.tail(5))
        s.backend(lbtest.line_reply("B"), port=b.port)
        true(lb.wait_log(r"127\.0\.0\.1:%d of 127\.0\.0\.1:%d is UP again"
                         % (b.port, port), timeout=10), "B back",
             log=lb.tail(5))
        t_up = time.monotonic()
        early, n1 = _share(port, 1.0, b"B")
        time.sleep(max(0.0, t_up + 4.3 - time.monotonic()))
        late, n2 = _share(port, 1.0, b"B")
        lbtest.note("B's share: %.2f at start (%d clients), %.2f in the "
                    "first second back (%d), %.2f after the 4 s window (%d)"
                    % (start, n0, early, n1, late, n2))
        true(early < 0.3, "little for B in its first second back",
             early=early, clients=n1)
        true(late > 0.38, "about half for B after the window", late=late,
             clients=n2)
        true(late > early + 0.15, "the share rose", early=early, late=late)


test_slow_start_ramps_a_backend_back.timeout = 90
