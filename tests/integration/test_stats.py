"""Live statistics (`stats = ADDRESS:PORT`): counters summed over worker
processes and checked against the traffic the test made, /metrics read
with the Prometheus client library's own parser of the text format,
/stats.json with json, the HTML page as headless Chromium renders it,
error statuses, a bind failure (exit 4), a reload that keeps the stats
socket; and who may read them: a bare port on loopback only, a foreign
Host refused (DNS rebinding), stats_allow, the bearer token, slow clients
from one address that must not deny a scrape from another."""

import html.parser
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import lbtest
import test_windows_service as svc  # the Wine service helpers
from lbtest import contains, eq, true

# A listener name with a quote, a backslash and markup: it has to come out
# right through every format's escaping.
NAME = 'web "a\\b" <i>&'
# Debian's python3-prometheus-client, for a python3 that is not Debian's.
DEBIAN_PYTHON = "/usr/lib/python3/dist-packages"


def _parser():
    """prometheus_client's text-format parser, or a loud failure."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        if DEBIAN_PYTHON not in sys.path:
            sys.path.append(DEBIAN_PYTHON)
        try:
            from prometheus_client.parser import \
                text_string_to_metric_families
        except ImportError:
            lbtest.fail("the Prometheus client library is missing: "
                        "apt-get install python3-prometheus-client "
                        "(make test installs it when run as root)")
    return text_string_to_metric_families


def _config(stats, p1, backends1, p2, backends2, processes, extra=""):
    return ("[options]\nprocesses = %d\nstats = 127.0.0.1:%d\n"
            "max_fails = 1\nfail_timeout = 120\n%s"
            "[listener:%s]\nlisten = 127.0.0.1:%d\nbackends = %s\n"
            "[mappings]\n127.0.0.1:%d = %s\n"
            % (processes, stats, extra, NAME, p1,
               ", ".join("127.0.0.1:%d" % b for b in backends1), p2,
               ", ".join("127.0.0.1:%d" % b for b in backends2)))


# ---------------------------------------------------------------- HTTP

def _http(port, request, timeout=10.0, host="127.0.0.1", source=None):
    """Sends a raw request (from address source if given), reads to EOF;
    returns (status, headers, body) after checking the framing
    (Content-Length, Connection: close)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as c:
        c.settimeout(timeout)
        if source is not None:
            c.bind((source, 0))
        c.connect((host, port))
        c.sendall(request)
        data = lbtest.drain(c)
    head, sep, body = data.partition(b"\r\n\r\n")
    true(sep, "a complete response to %r" % request[:40], data=data[:300])
    lines = head.decode("latin-1").split("\r\n")
    headers = dict((k.strip().lower(), v.strip()) for k, v in
                   (l.split(":", 1) for l in lines[1:]))
    eq(int(headers.get("content-length", -1)), len(body),
       "Content-Length of the answer to %r" % request[:40])
    eq(headers.get("connection"), "close", "Connection header")
    return int(lines[0].split()[1]), headers, body


def _metrics(port):
    """{(name, ((label, value), ...)): value} from /metrics."""
    status, headers, body = _http(port, b"GET /metrics HTTP/1.1\r\n"
                                  b"Host: 127.0.0.1:%d\r\n\r\n" % port)
    eq(status, 200, "/metrics status")
    contains(headers["content-type"], "text/plain; version=0.0.4",
             "/metrics Content-Type")
    samples = {}
    for family in _parser()(body.decode("utf-8")):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def _value(samples, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    true(key in samples, "metric %s%r is there" % (name, labels),
         names=sorted({k[0] for k in samples}))
    return samples[key]


def _json(port):
    status, headers, body = _http(port, b"GET /stats.json HTTP/1.0\r\n\r\n")
    eq(status, 200, "/stats.json status")
    eq(headers["content-type"], "application/json", "/stats.json type")
    return json.loads(body.decode("utf-8"))


# ------------------------------------------------------------- clients

def _recv_exact(c, n):
    data = b""
    while len(data) < n:
        chunk = c.recv(min(65536, n - len(data)))
        if not chunk:
            break
        data += chunk
    return data


def _open_client(port, payload):
    """A client that sent payload and got its echo, left open."""
    c = lbtest.connect(port)
    c.sendall(payload)
    eq(_recv_exact(c, len(payload)), payload, "echo through the balancer")
    return c


def _finish_client(c):
    c.shutdown(socket.SHUT_WR)
    eq(lbtest.drain(c), b"", "nothing after the echo")
    c.close()


def _owners(port, pids):
    """{pid: n}: which of pids hold the established connections whose
    local end is 127.0.0.1:port (the balancer's side of its clients)."""
    inodes = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[3] == "01" and int(fields[1].split(":")[1], 16) == port:
                inodes.add(fields[9])
    owners = {}
    for pid in pids:
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                owners[pid] = owners.get(pid, 0) + 1
    return owners


def _clients_over_workers(lb, port):
    """Opens echo clients on port in concurrent batches until two worker
    processes hold some (POSIX; under Wine one batch, over two loops
    of the one process: see test_multiloop.py); returns the open
    clients and the payload sizes sent."""
    clients, sizes, owners, errors = [], [], {}, []
    batch, batches = lbtest.pick(16, 6), lbtest.pick(6, 1)
    lock = threading.Lock()

    def one(i):
        payload = lbtest.pattern_bytes(1000 + 37 * i, i)
        try:
            c = _open_client(port, payload)
        except (OSError, lbtest.TestFailure) as e:
            errors.append(repr(e))
            return
        with lock:
            clients.append(c)
            sizes.append(len(payload))

    for _ in range(batches):

        threads = [threading.Thread(target=one, args=(len(sizes) + i,))
                   for i in range(batch)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        eq(errors, [], "clients served")
        if lbtest.WINDOWS:
            break
        owners = _owners(port, [p for p, _ in lbtest.children_of(lb.pid)])
        if len(owners) >= 2:
            break
    if not lbtest.WINDOWS:
        true(len(owners) >= 2, "clients are served by two worker processes",
             owners=owners, clients=len(clients))
        lbtest.note("%d clients held by workers %s" % (
            len(clients), sorted(owners.values())))
    return clients, sizes


def _wait_idle(stats):
    """Waits until no client or backend connection is counted open."""
    def idle():
        doc = _json(stats)
        return all(l["connections_active"] == 0 and
                   all(b["connections_active"] == 0 for b in l["backends"])
                   for l in doc["listeners"])
    true(lbtest.wait_until(idle, 15, 0.1), "every connection counted closed",
         stats=_json(stats))


# --------------------------------------------------------------- tests

def test_stats_summed_over_workers():
    """Two listeners, two worker processes each (two loops under Wine),
    a dead backend among three: concurrent echo clients until both workers
    serve some. /metrics, parsed by prometheus_client, and /stats.json
    then count exactly the clients and bytes sent, the dead backend is
    down for failed connects, nothing is open; label values with quotes
    and backslashes come back intact. Then 404, 405, 400, 431, and a silent
    client closed after about 5 s."""
    with lbtest.Scope() as s:
        live = [s.backend(lbtest.echo) for _ in range(2)]
        other = s.backend(lbtest.echo)
        dead, p1, p2, stats = lbtest.free_ports(4)
        lb = s.balancer(_config(stats, p1, [live[0].port, dead, live[1].port],
                                p2, [other.port], 2),
                        wait_ports=[p1, p2, stats])
        silent = lbtest.connect(stats)
        silent_at = time.monotonic()
        clients, sizes = _clients_over_workers(lb, p1)
        for c in clients:
            _finish_client(c)
        sizes2 = [10 * (i + 1) for i in range(5)]
        for n in sizes2:
            _finish_client(_open_client(p2, b"x" * n))
        _wait_idle(stats)
        m = _metrics(stats)
        dead_label = "127.0.0.1:%d" % dead
        l2 = "127.0.0.1:%d" % p2
        eq(_value(m, "pumpkinlb_connections_total", listener=NAME),
           len(clients), "clients of the first listener, over both workers")
        eq(_value(m, "pumpkinlb_connections_total", listener=l2),
           len(sizes2), "clients of the second listener")
        for d in ("in", "out"):
            eq(_value(m, "pumpkinlb_bytes_total", listener=NAME,
                      direction=d), sum(sizes), "bytes %s, first" % d)
            eq(_value(m, "pumpkinlb_bytes_total", listener=l2, direction=d),
               sum(sizes2), "bytes %s, second" % d)
        eq(_value(m, "pumpkinlb_connections_active", listener=NAME), 0,
           "open clients")
        eq(_value(m, "pumpkinlb_connections_failed_total", listener=NAME), 0,
           "failed clients")
        eq(_value(m, "pumpkinlb_connections_refused_total", listener=NAME,
                  reason="allow_deny"), 0, "refused clients")
        eq(_value(m, "pumpkinlb_listener_info", listener=NAME,
                  address="127.0.0.1:%d" % p1), 1, "listener address")
        eq(_value(m, "pumpkinlb_backend_up", listener=NAME,
                  backend=dead_label), 0, "the dead backend is down")
        eq(_value(m, "pumpkinlb_backend_state", listener=NAME,
                  backend=dead_label, state="failed_connects"), 1,
           "down for failed connects")
        true(_value(m, "pumpkinlb_backend_connect_failures_total",
                    listener=NAME, backend=dead_label) >= 1,
             "its failed connects are counted")
        made = 0
        for b in live:
            label = "127.0.0.1:%d" % b.port
            eq(_value(m, "pumpkinlb_backend_up", listener=NAME,
                      backend=label), 1, "a live backend is up")
            made += _value(m, "pumpkinlb_backend_connections_total",
                           listener=NAME, backend=label)
        eq(made, len(clients), "connects made to the live backends")
        eq(made, sum(b.accepted for b in live), "connects the backends saw")
        doc = _json(stats)
        eq([l["name"] for l in doc["listeners"]], [NAME, l2],
           "listeners in /stats.json")
        first = doc["listeners"][0]
        eq((first["connections_total"], first["bytes_total"]),
           (len(clients), {"in": sum(sizes), "out": sum(sizes)}),
           "/stats.json agrees with /metrics")
        eq([(b["name"], b["state"], b["down_reason"])
            for b in first["backends"]],
           [("127.0.0.1:%d" % live[0].port, "up", None),
            (dead_label, "down", "failed_connects"),
            ("127.0.0.1:%d" % live[1].port, "up", None)],
           "backend states in /stats.json")
        _check_errors(stats)
        silent.settimeout(15)
        eq(lbtest.drain(silent), b"", "a silent client gets nothing")
        took = time.monotonic() - silent_at
        true(1.5 <= took <= 10, "and is closed after about 2 s", took=took)


test_stats_summed_over_workers.timeout = 180


def _check_errors(stats):
    status, headers, body = _http(stats, b"GET /nope HTTP/1.0\r\n\r\n")
    eq(status, 404, "unknown path")
    status, headers, body = _http(stats, b"POST /metrics HTTP/1.0\r\n"
                                  b"Content-Length: 0\r\n\r\n")
    eq((status, headers.get("allow")), (405, "GET"), "POST")
    status, headers, body = _http(stats, b"HELLO\r\n\r\n")
    eq(status, 400, "not HTTP")
    status, headers, body = _http(stats, b"GET / HTTP/1.0\r\nX-Big: " +
                                  b"a" * 8192 + b"\r\n\r\n")
    eq(status, 431, "headers over 4 KiB")
    status, headers, body = _http(stats, b"GET /metrics?x=1 HTTP/1.0\n\n")
    eq(status, 200, "a query string and bare LF line ends")


class _Tables(html.parser.HTMLParser):
    """The listener tables of the page: [(data-listener, [(row classes,
    [cell texts])])]."""

    def __init__(self):
        super().__init__()
        self.tables, self.row, self.cell, self.meta = [], None, None, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "meta":
            self.meta.append(a)
        elif tag == "table" and "listener" in a.get("class", "").split():
            self.tables.append((a.get("data-listener"), []))
        elif tag == "tr" and "backend" in a.get("class", "").split():
            self.row = (a["class"].split(), [])
            self.tables[-1][1].append(self.row)
        elif tag == "td" and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.row[1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr":
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def _chromium_dom(url):
    """The DOM headless Chromium renders for url (its process group is
    killed afterwards, by its id)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    true(exe, "chromium is not installed: apt-get install chromium (make "
         "test installs it when run as root)")
    profile = tempfile.mkdtemp(prefix="lbchromium-")
    proc = subprocess.Popen(
        [exe, "--headless", "--no-sandbox", "--disable-gpu",
         "--no-first-run", "--user-data-dir=" + profile, "--dump-dom", url],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        out, err = b"", b"timed out after 90 s"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait(10)
        shutil.rmtree(profile, ignore_errors=True)
    true(out.strip(), "chromium printed the page's DOM",
         status=proc.returncode, stderr=err[-1500:])
    return out.decode("utf-8", "replace")


def test_stats_page_in_chromium():
    """The HTML page as headless Chromium renders it: a table per listener
    (names with quotes and markup intact), a row per backend with its
    state, the dead backend down, the clients counted; it reloads every
    5 s."""
    with lbtest.Scope() as s:
        live = s.backend(lbtest.echo)
        other = s.backend(lbtest.echo)
        dead, p1, p2, stats = lbtest.free_ports(4)
        s.balancer(_config(stats, p1, [live.port, dead], p2, [other.port],
                           2), wait_ports=[p1, p2, stats])
        for i in range(4):
            _finish_client(_open_client(p1, b"hello %d" % i))
        _finish_client(_open_client(p2, b"hi"))
        _wait_idle(stats)
        page = _Tables()
        page.feed(_chromium_dom("http://127.0.0.1:%d/" % stats))
        eq([t[0] for t in page.tables], [NAME, "127.0.0.1:%d" % p2],
           "a table per listener, named")
        rows = page.tables[0][1]
        eq([(r[1][0], r[0][1]) for r in rows],
           [("127.0.0.1:%d" % live.port, "up"),
            ("127.0.0.1:%d" % dead, "down")], "backend rows and states")
        eq(rows[1][1][1], "down (failed connects)", "why it is down")
        eq(rows[0][1][3], "4", "connections made to the live backend")
        eq(page.tables[1][1][0][1][:2], ["127.0.0.1:%d" % other.port, "up"],
           "the second listener's backend")
        true({"http-equiv": "refresh", "content": "5"} in page.meta,
             "the page reloads every 5 s", meta=page.meta)


test_stats_page_in_chromium.timeout = 150


def test_stats_address_in_use():
    """A stats address another socket holds: exit 4, FILE:LINE and the
    address on stderr, as for a listener."""
    with lbtest.Scope() as s:
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.on_close(holder.close)
        holder.bind(("127.0.0.1", 0))
        holder.listen(8)
        port = holder.getsockname()[1]
        p1, b = lbtest.free_ports(2)
        path = s.path("inuse.cfg")
        with open(path, "w") as f:
            f.write("[options]\nstats = 127.0.0.1:%d\n[mappings]\n"
                    "127.0.0.1:%d = 127.0.0.1:%d\n" % (port, p1, b))
        rc, out, err = lbtest.run_binary([path], timeout=15)
        eq(rc, 4, "stats address in use: exit status")
        contains(err, "inuse.cfg:2: cannot listen on 127.0.0.1:%d" % port,
                 "stats address in use: stderr")
        true(not lbtest.is_listening(p1), "nothing is left listening")


def test_stats_linger_ends_cleanly():
    """A client that reads its /stats.json answer but never closes: the
    server sends its FIN after the answer, lingers (2 s) for the client's,
    then closes without a reset: read again after that, the client still
    finds a clean end, not ConnectionResetError (Windows resets a socket
    closed with its read pending)."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.echo)
        stats, port = lbtest.free_ports(2)
        s.balancer("[options]\nstats = 127.0.0.1:%d\n[mappings]\n"
                   "127.0.0.1:%d = 127.0.0.1:%d\n" % (stats, port, b.port),
                   wait_ports=[stats, port])
        c = socket.create_connection(("127.0.0.1", stats), timeout=10)
        s.on_close(c.close)
        c.sendall(b"GET /stats.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
        true(re.match(rb"HTTP/1\.[01] 200 ", data), "the answer",
             data=data[:80])
        time.sleep(3)  # past the linger: the server has closed by now
        try:
            end = c.recv(1)
        except ConnectionResetError:
            end = "reset"
        eq(end, b"", "what the client reads after the server's close")


@lbtest.posix_only("reload is SIGHUP here")
def test_stats_kept_across_reload():
    """Scrapes every 20 ms through a reload that adds a listener: none
    fails (the stats socket is kept, old workers finish their scrapes);
    afterwards the new listener is there and the counters started over."""
    with lbtest.Scope() as s:
        b0 = s.backend(lbtest.echo)
        p1, p2, p3, stats = lbtest.free_ports(4)
        text = _config(stats, p1, [b0.port], p2, [b0.port], 2)
        lb = s.balancer(text, wait_ports=[p1, p2, stats])
        for i in range(3):
            _finish_client(_open_client(p1, b"before %d" % i))
        before = _metrics(stats)
        eq(_value(before, "pumpkinlb_connections_total", listener=NAME), 3,
           "clients before the reload")
        failures, scrapes, stop = [], [0], threading.Event()

        def scrape():
            while not stop.is_set():
                try:
                    status = _http(stats, b"GET /metrics HTTP/1.0\r\n\r\n")[0]
                    if status != 200:
                        failures.append(status)
                    scrapes[0] += 1
                except (OSError, lbtest.TestFailure) as e:
                    failures.append(repr(e))
                time.sleep(0.02)

        t = threading.Thread(target=scrape, daemon=True)
        t.start()
        time.sleep(0.3)
        tmp = lb.cfg_path + ".new"
        with open(tmp, "w") as f:
            f.write(text + "127.0.0.1:%d = 127.0.0.1:%d\n" % (p3, b0.port))
        os.replace(tmp, lb.cfg_path)
        lb.signal(signal.SIGHUP)
        true(lb.wait_log(r"Reloaded .*: 3 listener\(s\)", timeout=10),
             "the reload is logged", log=lb.tail(10))
        lb.wait_listening(p3)
        time.sleep(0.5)
        stop.set()
        t.join(15)
        eq(failures, [], "failed scrapes through the reload")
        true(scrapes[0] >= 10, "scrapes ran", scrapes=scrapes[0])
        after = _metrics(stats)
        eq(_value(after, "pumpkinlb_connections_total",
                  listener="127.0.0.1:%d" % p3), 0, "the added listener")
        eq(_value(after, "pumpkinlb_connections_total", listener=NAME), 0,
           "counters start over at a reload")
        true(_value(after, "pumpkinlb_start_time_seconds", ) >=
             _value(before, "pumpkinlb_start_time_seconds"),
             "the start time moves on")


@lbtest.needs(lbtest.have_ipv6_loopback, "no IPv6 on the loopback here")
def test_stats_on_ipv6_loopback():
    """stats = [::1]:PORT serves over IPv6."""
    with lbtest.Scope() as s:
        b0 = s.backend(lbtest.echo)
        p1, stats = lbtest.free_ports(2)
        s.balancer("[options]\nstats = [::1]:%d\n[mappings]\n"
                   "127.0.0.1:%d = 127.0.0.1:%d\n" % (stats, p1, b0.port),
                   wait_ports=[p1])
        ok = lbtest.wait_until(lambda: _try_v6(stats), 10, 0.1)
        true(ok, "GET /stats.json over [::1]")


def _try_v6(port):
    try:
        status, headers, body = _http(port, b"GET /stats.json HTTP/1.0\r\n"
                                      b"\r\n", host="::1")
    except OSError:
        return False
    return status == 200 and json.loads(body)["listeners"][0]["name"]


@svc.windows_only
def test_stats_kept_across_service_reload():
    """The Windows service's in-loop reload (--reload-service, as
    SERVICE_CONTROL_PARAMCHANGE) with the stats address unchanged: scrapes
    every 50 ms never fail, the new server answers for the new config (an
    added listener, counters started over), and the service stops
    cleanly."""
    b0 = lbtest.Backend(lbtest.echo)
    p1, p2, p3, stats = lbtest.free_ports(4)
    work = tempfile.mkdtemp(prefix="lbsvc-")
    cfg = os.path.join(work, "svc.cfg")
    text = _config(stats, p1, [b0.port], p2, [b0.port], 1)
    with open(cfg, "w") as f:
        f.write(text)
    name = "PumpkinLBStatsTest"
    failures, scrapes, stop = [], [0], threading.Event()

    def scrape():
        while not stop.is_set():
            try:
                if _http(stats, b"GET /metrics HTTP/1.0\r\n\r\n")[0] != 200:
                    failures.append("status")
                scrapes[0] += 1
            except (OSError, lbtest.TestFailure) as e:
                failures.append(repr(e))
            time.sleep(0.05)

    t = threading.Thread(target=scrape, daemon=True)
    try:
        svc.create_and_start(name, cfg)
        true(lbtest.wait_until(lambda: lbtest.is_listening(stats), 20),
             "the service serves statistics", log=svc.service_log()[-1500:])
        _finish_client(_open_client(p1, b"before"))
        eq(_value(_metrics(stats), "pumpkinlb_connections_total",
                  listener=NAME), 1, "a client before the reload")
        t.start()
        with open(cfg + ".new", "w") as f:
            f.write(text + "127.0.0.1:%d = 127.0.0.1:%d\n" % (p3, b0.port))
        os.replace(cfg + ".new", cfg)
        rc, out = svc.wine(lbtest.BINARY, "--reload-service", name)
        eq(rc, 0, "--reload-service exit status (%s)" % out)
        true(lbtest.wait_until(lambda: lbtest.is_listening(p3), 20),
             "the added listener listens", log=svc.service_log()[-1500:])
        n = scrapes[0]
        true(lbtest.wait_until(lambda: scrapes[0] >= n + 5, 20),
             "scrapes go on after the reload")
        stop.set()
        t.join(30)
        eq(failures, [], "failed scrapes through the reload")
        after = _metrics(stats)
        eq(_value(after, "pumpkinlb_connections_total",
                  listener="127.0.0.1:%d" % p3), 0, "the added listener")
        eq(_value(after, "pumpkinlb_connections_total", listener=NAME), 0,
           "counters start over at a reload")
        eq(svc.wine("sc", "stop", name)[0], 0, "sc stop exit status")
        state = svc.wait_state(name, 1, 15)
        eq(state[:2], (1, 0), "STOPPED with exit code 0")
    finally:
        stop.set()
        svc.remove_service(name)
        b0.close()


# ----------------------------------------------------------- who may read

def _stats_lb(s, stats, extra=""):
    """A balancer with one listener and `stats = stats` (plus extra
    [options] lines); returns it once the stats port listens."""
    b0 = s.backend(lbtest.echo)
    p1 = lbtest.free_port()
    while str(p1) == stats.rsplit(":", 1)[-1]:  # the kernel may repeat one
        p1 = lbtest.free_port()
    lb = s.balancer("[options]\nstats = %s\n%s[mappings]\n127.0.0.1:%d = "
                    "127.0.0.1:%d\n" % (stats, extra, p1, b0.port),
                    wait_ports=[p1])
    return lb


def _scrape(port, headers=b"", source=None):
    return _http(port, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                 % port + headers + b"\r\n", source=source)


def test_stats_bare_port_listens_on_loopback_only():
    """`stats = PORT` with no address listens on 127.0.0.1 only, not on
    every interface: the numbers describe every listener and backend, so
    exposing them takes an address written out (*:PORT)."""
    with lbtest.Scope() as s:
        stats = lbtest.free_port()
        _stats_lb(s, "%d" % stats)
        true(lbtest.wait_until(lambda: lbtest.is_listening(stats), 10),
             "the stats port listens")
        addrs = {a for a, p in lbtest.listening_ports() if p == stats}
        eq(addrs, {"0100007F"}, "addresses the stats port listens on "
           "(/proc/net/tcp: 0100007F is 127.0.0.1, 00000000 every one)")
        eq(_scrape(stats)[0], 200, "a scrape on 127.0.0.1")


def test_stats_foreign_host_refused():
    """A Host header naming anything but an IP literal, localhost or a
    stats_host name gets 421: a web page that rebinds its own name to
    127.0.0.1 (DNS rebinding) reads nothing. What Prometheus sends (the
    address it scrapes), localhost and a stats_host name are answered."""
    with lbtest.Scope() as s:
        stats = lbtest.free_port()
        _stats_lb(s, "127.0.0.1:%d" % stats,
                  "stats_host = metrics.example.net\n")
        lbtest.wait_until(lambda: lbtest.is_listening(stats), 10)
        for host in (b"attacker.example:%d" % stats, b"attacker.example",
                     b"localhost.attacker.example"):
            status, headers, body = _http(
                stats, b"GET /metrics HTTP/1.1\r\nHost: " + host +
                b"\r\n\r\n")
            eq(status, 421, "status for Host: %s" % host.decode())
            true(b"pumpkinlb_" not in body, "no statistics in the 421")
        for host in (b"127.0.0.1:%d" % stats, b"localhost:%d" % stats,
                     b"Metrics.Example.Net:%d" % stats):
            status = _http(stats, b"GET /metrics HTTP/1.1\r\nHost: " + host +
                           b"\r\n\r\n")[0]
            eq(status, 200, "status for Host: %s" % host.decode())


def _refused(port, source):
    """True if a client from source gets no byte of an answer: a reset, or
    a close with nothing."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as c:
            c.settimeout(10)
            c.bind((source, 0))
            c.connect(("127.0.0.1", port))
            c.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            return c.recv(65536) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def test_stats_allow_refuses():
    """stats_allow = 127.0.0.2: a client from 127.0.0.1 is reset without a
    byte of statistics (and it is logged), one from 127.0.0.2 is served.
    The listeners' allow and deny never applied to the stats address."""
    with lbtest.Scope() as s:
        stats = lbtest.free_port()
        lb = _stats_lb(s, "127.0.0.1:%d" % stats,
                       "stats_allow = 127.0.0.2\nallow = 127.0.0.1\n")
        lbtest.wait_until(lambda: lbtest.is_listening(stats), 10)
        true(_refused(stats, "127.0.0.1"), "a scrape from 127.0.0.1 is "
             "refused")
        eq(_scrape(stats, source="127.0.0.2")[0], 200,
           "a scrape from 127.0.0.2")
        true(lb.wait_log(r"refused 1 connection\(s\) .*127\.0\.0\.1:\d+: "
                         r"not in stats_allow"), "the refusal is logged",
             log=lb.tail(5))


def _token_file(s, mode):
    path = s.path("stats.token")
    with open(path, "w") as f:
        f.write("s3cret-T0ken\n")
    os.chmod(path, mode)
    return path


def test_stats_token_required():
    """stats_token_file: a scrape without "Authorization: Bearer TOKEN",
    or with another token, gets 401 and no statistics; with it, 200."""
    with lbtest.Scope() as s:
        stats = lbtest.free_port()
        _stats_lb(s, "127.0.0.1:%d" % stats, "stats_token_file = %s\n"
                  % _token_file(s, 0o600))
        lbtest.wait_until(lambda: lbtest.is_listening(stats), 10)
        status, headers, body = _scrape(stats)
        eq(status, 401, "status without a token")
        eq(headers.get("www-authenticate"),
           'Bearer realm="PumpkinLB statistics"', "WWW-Authenticate")
        true(b"pumpkinlb_" not in body, "no statistics in the 401")
        eq(_scrape(stats, b"Authorization: Bearer guess\r\n")[0], 401,
           "status with a wrong token")
        status, headers, body = _scrape(
            stats, b"Authorization: Bearer s3cret-T0ken\r\n")
        eq(status, 200, "status with the token")
        contains(body.decode(), "pumpkinlb_connections_total", "the metrics")


@lbtest.posix_only("mode bits: Windows has ACLs")
def test_stats_token_file_readable_by_others_refused():
    """A token file its group or others can read: exit status 3 with
    FILE:LINE, nothing listening."""
    with lbtest.Scope() as s:
        p1, stats = lbtest.free_ports(2)
        path = s.path("token.cfg")
        with open(path, "w") as f:
            f.write("[options]\nstats = %d\nstats_token_file = %s\n"
                    "[mappings]\n127.0.0.1:%d = 127.0.0.1:9\n"
                    % (stats, _token_file(s, 0o644), p1))
        rc, out, err = lbtest.run_binary([path])
        eq(rc, 3, "exit status")
        contains(err, "token.cfg:3: stats_token_file '%s' can be read by its "
                 "group or others" % s.path("stats.token"), "stderr")
        true(not lbtest.is_listening(stats), "nothing listens")


def test_stats_slow_clients_cannot_starve_a_scrape():
    """100 slow clients from 127.0.0.1, each with half a request, against
    one stats worker (the issue's attack: 64 of them, renewed every 5 s,
    denied every scrape): at most 8 from one address are kept, and a
    scrape from 127.0.0.2 is answered."""
    with lbtest.Scope() as s:
        stats = lbtest.free_port()
        _stats_lb(s, "127.0.0.1:%d" % stats)
        lbtest.wait_until(lambda: lbtest.is_listening(stats), 10)
        slow = []
        for _ in range(100):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.on_close(c.close)
            c.settimeout(5)
            try:
                c.connect(("127.0.0.1", stats))
                c.sendall(b"GET /metrics HTTP/1.1\r\n")
            except ConnectionResetError:
                continue  # turned away at once: the cap at work
            slow.append(c)
        eq(_scrape(stats, source="127.0.0.2")[0], 200,
           "a scrape from 127.0.0.2 while they wait")
        kept = 0
        for c in slow:
            c.setblocking(False)
            try:
                kept += c.recv(1) != b""
            except BlockingIOError:
                kept += 1  # still open, still waiting
            except OSError:
                pass
        true(kept <= 8, "slow connections kept from one address", kept=kept)
