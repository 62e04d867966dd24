"""The admin API on the statistics address (admin_token_file): drain a
backend while a connection to it keeps relaying and new clients go
elsewhere; 401 without the token (logged), other refusals; maint with
drain_timeout cuts at the deadline; the drain kept across SIGHUP and
across worker processes, a backend whose address changed starting as the
config says; pumpkinlb --admin show and set; slow start's share rising
over its window after the checks bring a backend back."""

import json
import os
import signal
import socket
import subprocess
import time

import tempfile

import lbtest
import test_stats as st
import test_windows_service as svc  # the Wine service helpers
from lbtest import LOG_STAMP, eq, true

TOKEN = "adm1n-T0ken"


def _token_file(s, mode=0o600):
    path = s.path("admin.token")
    with open(path, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(path, mode)
    return path


def _config(s, stats, port, backends, extra="", name="web"):
    return ("[options]\nstats = 127.0.0.1:%d\nadmin_token_file = %s\n%s"
            "[listener:%s]\nlisten = 127.0.0.1:%d\nbackends = %s\n"
            % (stats, _token_file(s), extra, name, port,
               ", ".join("127.0.0.1:%d" % b for b in backends)))


def _put(stats, path, body, token=TOKEN, extra=b""):
    """A PUT; returns (status, headers, parsed JSON or raw body)."""
    if isinstance(body, str):
        body = body.encode()
    req = (b"PUT %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: "
           b"application/json\r\nContent-Length: %d\r\n"
           % (path.encode(), stats, len(body)))
    if token is not None:
        req += b"Authorization: Bearer %s\r\n" % token.encode()
    status, headers, data = st._http(stats, req + extra + b"\r\n" + body)
    try:
        return status, headers, json.loads(data.decode())
    except ValueError:
        return status, headers, data


def _set(stats, backend_port, body, listener="web"):
    status, _, doc = _put(stats, "/api/v1/listeners/%s/backends/127.0.0.1:%d"
                          % (listener, backend_port), body)
    eq(status, 200, "PUT %s" % body)
    return doc


def _backends(stats, token=None):
    req = b"GET /api/v1/backends HTTP/1.0\r\n"
    if token:
        req += b"Authorization: Bearer %s\r\n" % token.encode()
    status, headers, body = st._http(stats, req + b"\r\n")
    eq(status, 200, "GET /api/v1/backends")
    eq(headers["content-type"], "application/json", "its type")
    doc = json.loads(body.decode())
    return {(l["name"], b["name"]): b for l in doc["listeners"]
            for b in l["backends"]}


def _two_backends(s, extra=""):
    """An echo backend a and a tagging one b behind listener "web";
    returns (balancer, a, b, port, stats port)."""
    a = s.backend(lbtest.echo)
    b = s.backend(lbtest.line_reply("B"))
    port, stats = lbtest.free_ports(2)
    lb = s.balancer(_config(s, stats, port, [a.port, b.port], extra),
                    wait_ports=[port, stats])
    return lb, a, b, port, stats


def _tag(port, i=0):
    reply = lbtest.request_line(port, b"req-%d\n" % i)
    true(reply.endswith(b" req-%d\n" % i), "client %d served" % i,
         reply=reply)
    return reply.split(b" ")[0].decode()


def test_drain_keeps_open_connections_and_moves_new_clients():
    """state drain on the backend a client is relaying through: that
    client goes on (bytes both ways after the PUT), every new client goes
    to the other backend; the change is logged with who made it, the HTML
    page shows the admin state, weight and max_conns; ready brings the
    backend back."""
    with lbtest.Scope() as s:
        lb, a, b, port, stats = _two_backends(s)
        held = lbtest.connect(port)  # round robin: the first goes to a
        held.sendall(b"one\n")
        eq(lbtest.recv_line(held), b"one\n", "relayed through a")
        doc = _set(stats, a.port, '{"state": "drain", "weight": 3, '
                                  '"max_conns": 50}')
        eq((doc["listener"], doc["backend"]["name"],
            doc["backend"]["admin_state"], doc["backend"]["weight"],
            doc["backend"]["max_conns"]),
           ("web", "127.0.0.1:%d" % a.port, "drain", 3, 50),
           "the answer: the backend's new state")
        held.sendall(b"two\n")
        eq(lbtest.recv_line(held), b"two\n", "the open connection goes on")
        tags = [_tag(port, i) for i in range(6)]
        eq(tags, ["B"] * 6, "new clients all go to the other backend")
        eq(a.accepted, 1, "nothing new reached the drained backend")
        held.close()
        true(lb.wait_log(r"^" + LOG_STAMP + r"Admin API: backend 127\.0\.0"
                         r"\.1:%d of web: state drain \(was ready\), weight 3 "
                         r"\(was 1\), max_conns 50 \(was 0\), by 127\.0\.0\.1:"
                         r"\d+$" % a.port, timeout=3),
             "the change is logged with who made it", log=lb.tail(10))
        status, _, page = st._http(stats, b"GET / HTTP/1.0\r\n\r\n")
        tables = st._Tables()
        tables.feed(page.decode())
        rows = {r[1][0]: r[1] for r in tables.tables[0][1]}
        eq(rows["127.0.0.1:%d" % a.port][7:10], ["drain", "3", "50"],
           "the page: admin state, weight, max_conns")
        eq(rows["127.0.0.1:%d" % b.port][7:10], ["ready", "1", "no limit"],
           "the other backend on the page")
        _set(stats, a.port, '{"state": "ready"}')
        for i in range(4):
            lbtest.request_line(port, b"again-%d\n" % i)
        true(a.accepted >= 2, "ready again: it gets clients",
             accepted=a.accepted)


def test_api_refusals():
    """No token or a wrong one: 401 (with WWW-Authenticate), nothing
    changes, and the refusals are logged at most once a second with a
    count; a bad body 400 with a reason; an unknown listener or backend
    404; a body over 1 KiB 413; no Content-Length 411; a backend written
    percent-encoded is found; without admin_token_file a PUT is 405."""
    with lbtest.Scope() as s:
        a = s.backend(lbtest.echo)
        port, stats = lbtest.free_ports(2)
        lb = s.balancer(_config(s, stats, port, [a.port]),
                        wait_ports=[port, stats])
        path = "/api/v1/listeners/web/backends/127.0.0.1:%d" % a.port
        for token in (None, "guess", TOKEN + "x"):
            status, headers, _ = _put(stats, path, '{"state":"drain"}',
                                      token=token)
            eq(status, 401, "PUT with token %r" % token)
            true("bearer" in headers.get("www-authenticate", "").lower(),
                 "WWW-Authenticate", headers=headers)
        eq(_backends(stats)[("web", "127.0.0.1:%d" % a.port)]
           ["admin_state"], "ready", "nothing changed")
        true(lb.wait_log(r"Statistics on 127\.0\.0\.1:%d: \d+ request\(s\) "
                         r"refused without a valid token \(401\), the last "
                         r"from 127\.0\.0\.1:\d+: PUT /api/v1/listeners/web/"
                         % stats, timeout=3), "the 401s are logged",
             log=lb.tail(10))
        true(len(lb.wait_log(r"refused without a valid token", timeout=1.5,
                             count=3)) < 3, "at most a line a second")
        for body, why in (('{"state":"off"}', "must be"),
                          ('{"weight":0}', "from 1 to 1000"),
                          ('{"weight":"3"}', "whole number"),
                          ('{"color":"red"}', "unknown key"),
                          ('{"state":"drain","state":"maint"}', "twice"),
                          ('{}', "nothing to change"),
                          ('[1]', "JSON object"),
                          ('{"max_conns":5} x', "after the object")):
            status, headers, doc = _put(stats, path, body)
            eq(status, 400, "status for %s" % body)
            true(isinstance(doc, dict) and why in doc.get("error", ""),
                 "a reason for %s" % body, doc=doc)
        eq(_put(stats, "/api/v1/listeners/nope/backends/127.0.0.1:%d"
                % a.port, '{"state":"drain"}')[0], 404, "unknown listener")
        eq(_put(stats, "/api/v1/listeners/web/backends/127.0.0.1:1",
                '{"state":"drain"}')[0], 404, "unknown backend")
        eq(_put(stats, path, '{"weight": 2}' + " " * 1100)[0], 413,
           "a body over 1 KiB")
        status, _, _ = st._http(stats, b"PUT %s HTTP/1.0\r\nAuthorization: "
                                b"Bearer %s\r\n\r\n"
                                % (path.encode(), TOKEN.encode()))
        eq(status, 411, "no Content-Length")
        status, _, doc = _put(stats, "/api/v1/listeners/web/backends/"
                              "127.0.0.1%%3A%d" % a.port, '{"weight": 7}')
        eq((status, doc["backend"]["weight"]), (200, 7),
           "a percent-encoded backend")
        b0 = s.backend(lbtest.echo)
        p2, stats2 = lbtest.free_ports(2)
        s.balancer("[options]\nstats = 127.0.0.1:%d\n[mappings]\n"
                   "127.0.0.1:%d = 127.0.0.1:%d\n" % (stats2, p2, b0.port),
                   wait_ports=[p2, stats2])
        eq(_put(stats2, "/api/v1/listeners/127.0.0.1:%d/backends/127.0.0.1:"
                "%d" % (p2, b0.port), '{"state":"drain"}')[0], 405,
           "without admin_token_file: no writes")


def test_maint_cut_at_drain_timeout():
    """state maint with drain_timeout = 1.5: no new clients at once; the
    open connection goes on until the deadline, then it is reset and its
    line says end=maint."""
    with lbtest.Scope() as s:
        lb, a, b, port, stats = _two_backends(s, "drain_timeout = 1.5\n")
        held = lbtest.connect(port)
        held.sendall(b"one\n")
        eq(lbtest.recv_line(held), b"one\n", "relayed through a")
        t0 = time.monotonic()
        _set(stats, a.port, '{"state": "maint"}')
        eq(_tag(port, 1), "B", "a new client goes to the other backend")
        time.sleep(0.5)
        held.sendall(b"two\n")
        eq(lbtest.recv_line(held), b"two\n", "before the deadline it goes on")
        held.settimeout(10)
        try:
            data = held.recv(100)
            how = "eof" if not data else "data"
        except ConnectionResetError:
            how = "reset"
        cut = time.monotonic() - t0
        held.close()
        eq(how, "reset", "at the deadline the connection is reset")
        lbtest.between(cut, 1.3, 4.0, "seconds from the PUT to the reset")
        true(lb.wait_log(r"Connection client=\S+ listener=127\.0\.0\.1:%d "
                         r"route=- backend=127\.0\.0\.1:%d .* end=maint"
                         % (port, a.port), timeout=5),
             "its line says end=maint", log=lb.tail(10))
        lbtest.note("cut %.2f s after the PUT (drain_timeout 1.5 s)" % cut)


def _over_workers(lb, port):
    """Echo clients held open until two worker processes serve some
    (test_stats' helper), then closed."""
    clients, sizes = st._clients_over_workers(lb, port)
    for c in clients:
        st._finish_client(c)
    return len(clients)


@lbtest.posix_only("SIGHUP reloads and processes = 2 are POSIX's")
def test_drain_kept_across_reload_and_workers():
    """processes = 2: a drain made through one worker holds in both (the
    clients of both go elsewhere); after a SIGHUP whose config keeps that
    backend's address it holds in the new workers too, while a backend
    whose address changed starts as the config says."""
    with lbtest.Scope() as s:
        a, b, c, d = [s.backend(lbtest.echo) for _ in range(4)]
        port, stats = lbtest.free_ports(2)
        lb = s.balancer(_config(s, stats, port, [a.port, b.port, c.port],
                                "processes = 2\n"),
                        wait_ports=[port, stats])
        _set(stats, a.port, '{"state": "drain"}')
        _set(stats, c.port, '{"state": "maint", "weight": 4}')
        n = _over_workers(lb, port)
        eq((a.accepted, c.accepted, b.accepted), (0, 0, n),
           "neither worker sends a client to the drained or the maint one")
        # The same config, but C's address is now D's.
        with open(lb.cfg_path) as f:
            text = f.read().replace("127.0.0.1:%d" % c.port,
                                    "127.0.0.1:%d" % d.port)
        with open(lb.cfg_path, "w") as f:
            f.write(text)
        lb.signal(signal.SIGHUP)
        true(lb.wait_log(r"Reloaded ", timeout=10), "reloaded",
             log=lb.tail(10))
        true(lb.wait_log(r"Admin API: backend 127\.0\.0\.1:%d of web keeps "
                         r"across the reload: state drain" % a.port,
                         timeout=3), "the drain is carried, and said",
             log=lb.tail(10))
        # The old workers (the statistics' too) may answer for a moment.
        true(lbtest.wait_until(lambda: ("web", "127.0.0.1:%d" % d.port) in
                               _backends(stats), 10, 0.1),
             "the new workers serve the statistics")
        now = _backends(stats)
        eq(now[("web", "127.0.0.1:%d" % a.port)]["admin_state"], "drain",
           "A stays drained")
        eq((now[("web", "127.0.0.1:%d" % d.port)]["admin_state"],
            now[("web", "127.0.0.1:%d" % d.port)]["weight"]), ("ready", 1),
           "D, at C's place, starts as the config says")
        before = b.accepted
        n = _over_workers(lb, port)
        eq(a.accepted, 0, "after the reload, still nothing on A")
        eq(b.accepted - before + d.accepted, n, "B and D take the clients")
        true(d.accepted > 0, "D is in service", d=d.accepted)


@svc.windows_only
def test_drain_kept_across_service_reload():
    """The Windows service's in-loop reload (--reload-service, as
    SERVICE_CONTROL_PARAMCHANGE) with a listener added: a backend drained
    before it stays drained in the new configuration's server."""
    a, b = lbtest.Backend(lbtest.echo), lbtest.Backend(lbtest.echo)
    port, p2, stats = lbtest.free_ports(3)
    work = tempfile.mkdtemp(prefix="lbsvc-")
    cfg = os.path.join(work, "svc.cfg")
    token = os.path.join(work, "admin.token")
    with open(token, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(token, 0o600)
    text = ("[options]\nstats = 127.0.0.1:%d\nadmin_token_file = %s\n"
            "[listener:web]\nlisten = 127.0.0.1:%d\n"
            "backends = 127.0.0.1:%d, 127.0.0.1:%d\n"
            % (stats, svc.winpath(token), port, a.port, b.port))
    with open(cfg, "w") as f:
        f.write(text)
    name = "PumpkinLBAdminTest"
    try:
        svc.create_and_start(name, cfg)
        true(lbtest.wait_until(lambda: lbtest.is_listening(stats), 20),
             "the service serves statistics", log=svc.service_log()[-1500:])
        _set(stats, a.port, '{"state": "drain"}')
        with open(cfg + ".new", "w") as f:
            f.write(text + "[mappings]\n127.0.0.1:%d = 127.0.0.1:%d\n"
                    % (p2, b.port))
        os.replace(cfg + ".new", cfg)
        rc, out = svc.wine(lbtest.BINARY, "--reload-service", name)
        eq(rc, 0, "--reload-service exit status (%s)" % out)
        true(lbtest.wait_until(lambda: lbtest.is_listening(p2), 20),
             "the reload is done", log=svc.service_log()[-1500:])
        eq(_backends(stats)[("web", "127.0.0.1:%d" % a.port)]
           ["admin_state"], "drain", "still drained after the reload")
        for i in range(6):
            lbtest.request_line(port, b"after-%d\n" % i)
        eq(a.accepted, 0, "no client reached the drained backend")
        eq(svc.wine("sc", "stop", name)[0], 0, "sc stop exit status")
    finally:
        svc.remove_service(name)
        a.close()
        b.close()


def test_drain_a_route_backend():
    """A backend that two routes of a listener list ([route:NAME]) is
    drained in both by one PUT naming the listener; a client for the
    route that has no other backend is refused, one for the other route
    goes to its other backend; GET /api/v1/backends and --admin show name
    the routes; on POSIX the drain holds across SIGHUP too."""
    import test_routing as rt
    with lbtest.Scope() as s:
        d = s.backend(rt.first_bytes_reply("D"))
        x = s.backend(rt.first_bytes_reply("X"))
        y = s.backend(rt.first_bytes_reply("Y"))
        port, stats = lbtest.free_ports(2)
        text = ("[options]\nstats = 127.0.0.1:%d\nadmin_token_file = %s\n"
                "[listener:tls]\nlisten = 127.0.0.1:%d\n"
                "backends = 127.0.0.1:%d\n"
                "[route:a]\nlistener = tls\nsni = a.example.com\n"
                "backends = 127.0.0.1:%d\n"
                "[route:b]\nlistener = tls\nsni = b.example.com\n"
                "backends = 127.0.0.1:%d, 127.0.0.1:%d\n"
                % (stats, _token_file(s), port, d.port, x.port, x.port,
                   y.port))
        lb = s.balancer(text, wait_ports=[port, stats])
        doc = _set(stats, x.port, '{"state": "drain"}', listener="tls")
        eq(doc["backend"]["route"], "a", "the first route that lists it")
        routes = {b["route"]: b["admin_state"]
                  for b in json.loads(st._http(stats, b"GET /api/v1/backends "
                                               b"HTTP/1.0\r\n\r\n")[2])
                  ["listeners"][0]["backends"]
                  if b["name"] == "127.0.0.1:%d" % x.port}
        eq(routes, {"a": "drain", "b": "drain"}, "drained in both routes")
        hello_a = rt.client_hello("a.example.com")
        eq(rt.ask(port, hello_a), b"", "route a's only backend is drained")
        hello_b = rt.client_hello("b.example.com")
        eq(rt.ask(port, hello_b), b"Y %d" % len(hello_b), "route b: Y")
        rc, out, err = _admin([lb.cfg_path, "show"])
        true("a/127.0.0.1:%d" % x.port in out and
             "b/127.0.0.1:%d" % x.port in out, "show names the routes",
             out=out)
        eq(x.accepted, 0, "nothing reached the drained backend")
        if lbtest.WINDOWS:
            return
        lb.signal(signal.SIGHUP)
        true(lb.wait_log(r"Reloaded ", timeout=10), "reloaded")
        true(lb.wait_log(r"backend 127\.0\.0\.1:%d of b keeps across the "
                         r"reload: state drain" % x.port, timeout=3),
             "route b's drain is carried", log=lb.tail(10))
        time.sleep(0.5)  # the old workers stop accepting
        eq(rt.ask(port, hello_a), b"", "still drained after the reload")


def _admin(args, timeout=20):
    return lbtest.run_binary(["--admin"] + args, timeout=timeout)


def test_admin_command_line():
    """pumpkinlb --admin CFG show prints a table of every backend;
    pumpkinlb --admin CFG LISTENER BACKEND state=drain weight=2 changes it
    (exit 0, the new state as JSON); an unknown backend is exit 1 with the
    server's reason; a mistake on the command line exit 2."""
    with lbtest.Scope() as s:
        lb, a, b, port, stats = _two_backends(s)
        rc, out, err = _admin([lb.cfg_path, "show"])
        eq(rc, 0, "--admin show exit status")
        lines = out.splitlines()
        true(lines and lines[0].split()[:4] ==
             ["LISTENER", "BACKEND", "STATE", "ADMIN"], "a table",
             out=out)
        row = [l.split() for l in lines if "127.0.0.1:%d" % a.port in l]
        eq(row[0][:5], ["web", "127.0.0.1:%d" % a.port, "up", "ready", "1"],
           "a's row")
        rc, out, err = _admin([lb.cfg_path, "web", "127.0.0.1:%d" % a.port,
                               "state=drain", "weight=2"])
        eq(rc, 0, "--admin set exit status (stderr %r)" % err)
        doc = json.loads(out)
        eq((doc["backend"]["admin_state"], doc["backend"]["weight"]),
           ("drain", 2), "the new state")
        eq(_tag(port, 1), "B", "a drained: clients go to b")
        rc, out, err = _admin([lb.cfg_path, "show"])
        row = [l.split() for l in out.splitlines()
               if "127.0.0.1:%d" % a.port in l]
        eq(row[0][3:5], ["drain", "2"], "show says so")
        rc, out, err = _admin([lb.cfg_path, "web", "127.0.0.1:1",
                               "state=drain"])
        eq(rc, 1, "an unknown backend")
        true("404" in err and "no such backend" in err, "the reason",
             err=err)
        rc, out, err = _admin([lb.cfg_path, "web", "x", "colour=red"])
        eq(rc, 2, "a mistake on the command line")
        true(lb.wait_log(r"Admin API: backend 127\.0\.0\.1:%d of web: state "
                         r"drain \(was ready\), weight 2 \(was 1\), by "
                         % a.port, timeout=3), "logged", log=lb.tail(10))
