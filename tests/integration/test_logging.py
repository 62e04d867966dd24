"""The log: writing it never holds up traffic (a reader that stalls costs
log lines, counted, never connections); log_file is opened without
following a symbolic link, handed to `user` so that a reload can reopen it
after privileges are dropped (log rotation), and a relative log_file is
taken beside the config file."""

import os
import re
import shutil
import threading
import time

import lbtest
from lbtest import contains, eq, fail, read_text, true

# "[ Tue Nov 24 21:40:59 2026 ] " and some text: a whole log line.
WHOLE_LINE = re.compile(r"^\[ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} \] "
                        r"\S.*$")
NOBODY = 65534


def _metrics_value(port, name):
    """The value of an unlabelled metric on /metrics (None if absent)."""
    with lbtest.connect(port) as c:
        c.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        body = lbtest.drain(c).decode("utf-8", "replace")
    m = re.search(r"^%s (\d+)\s*$" % re.escape(name), body, re.M)
    return int(m.group(1)) if m else None


def _json_value(port, key):
    import json
    with lbtest.connect(port) as c:
        c.sendall(b"GET /stats.json HTTP/1.0\r\n\r\n")
        body = lbtest.drain(c)
    return json.loads(body.partition(b"\r\n\r\n")[2]).get(key)


def _serve(port, n):
    """n clients one after another, each checked; fails at the first that
    is not served within 5 s."""
    for i in range(n):
        line = b"c%d\n" % i
        try:
            reply = lbtest.request_line(port, line, timeout=5)
        except OSError as e:
            fail("client %d of %d not served: %r" % (i + 1, n, e))
        if reply != b"B " + line:
            fail("client %d of %d: wrong reply" % (i + 1, n), reply=reply)


def test_log_pipe_nobody_reads():
    """stdout and stderr are a pipe nobody reads (a stuck journald, a
    pager): 3,000 clients one after another are all served (the build
    before this froze after about 350, when the pipe's 64 KiB were full);
    the lines that did not fit are dropped and counted in
    pumpkinlb_log_lines_dropped_total and /stats.json. Once the pipe is
    read again, it holds whole lines only (none cut or mixed), among them
    one saying how many were dropped, and the connection lines that came
    through plus those dropped cover every client."""
    n = 3000
    with lbtest.Scope() as s:
        b = s.backend(lbtest.line_reply("B"))
        port, stats = lbtest.free_ports(2)
        lb = s.balancer(lbtest.mapping_config(
            port, [b.port], options={"stats": "127.0.0.1:%d" % stats}),
            start=False)
        r, w = os.pipe()
        lb.start(wait_ports=[port, stats], output=w)
        os.close(w)
        out = []
        reader = threading.Thread(target=lambda: out.append(_read_all(r)),
                                  daemon=True)
        try:
            t0 = time.monotonic()
            _serve(port, n)
            took = time.monotonic() - t0
            dropped = _metrics_value(stats,
                                     "pumpkinlb_log_lines_dropped_total")
            true(dropped is not None and dropped > 0,
                 "lines dropped and counted in /metrics", dropped=dropped)
            true(_json_value(stats, "log_lines_dropped_total") >= dropped,
                 "and in /stats.json")
            reader.start()
            lb.stop()
            reader.join(20)
        finally:
            if not reader.is_alive() and not out:
                os.close(r)
        text = out[0].decode("utf-8", "replace") if out else ""
        lines = text.splitlines()
        bad = [l for l in lines if not WHOLE_LINE.match(l)]
        eq(bad[:3], [], "lines that are not whole log lines")
        notes = [int(m.group(1)) for m in
                 (re.search(r"\] (\d+) log line\(s\) dropped: ", l)
                  for l in lines) if m]
        true(notes, "a line says lines were dropped", tail=lines[-5:])
        conns = sum(1 for l in lines if "] Connection client=" in l)
        true(conns + sum(notes) >= n, "connection lines shown or dropped",
             shown=conns, dropped=notes, clients=n)
        lbtest.note("%d of %d clients served in %.1f s with the log pipe "
                    "unread; %d connection lines came through, %d lines "
                    "dropped" % (n, n, took, conns, sum(notes)))


def _read_all(fd):
    chunks = []
    while True:
        data = os.read(fd, 65536)
        if not data:
            break
        chunks.append(data)
    os.close(fd)
    return b"".join(chunks)


@lbtest.posix_only("symbolic links")
def test_symlinked_log_file_not_followed():
    """log_file is a symbolic link (one planted by whoever can write the
    log's directory) to another file: the balancer does not start (exit 3,
    the message says why) and the file it points to is untouched. A link
    put in its place while running is refused at a reload too: the
    previous log file stays."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.line_reply("B"))
        port = lbtest.free_port()
        target = s.path("precious")
        with open(target, "w") as f:
            f.write("precious\n")
        link = s.path("lb.log")
        os.symlink(target, link)
        lb = s.balancer(lbtest.mapping_config(
            port, [b.port], options={"log_file": link}), start=False)
        lb.start()
        rc = lb.wait_exit(10)
        eq(rc, 3, "exit status with a symlinked log_file")
        contains(lb.stderr(), "symbolic link", "stderr")
        eq(open(target).read(), "precious\n", "the link's target")
        os.unlink(link)
        lb.start(wait_ports=[port])
        eq(lbtest.request_line(port, b"x\n"), b"B x\n", "a client")
        os.rename(link, link + ".1")
        os.symlink(target, link)
        lb.signal(lbtest.signal.SIGHUP)
        true(lb.wait_log(r"keeping the previous log file", timeout=10),
             "the reload keeps the previous log file", log=lb.tail())
        eq(lbtest.request_line(port, b"y\n"), b"B y\n", "a client")
        eq(open(target).read(), "precious\n", "the link's target")


def _client_port_line(port):
    """Serves one client; returns its connection line's client field."""
    with lbtest.connect(port) as c:
        c.sendall(b"z\n")
        eq(lbtest.recv_line(c), b"B z\n", "a client")
        return "client=127.0.0.1:%d " % c.getsockname()[1]


@lbtest.posix_only("user and file owners")
def test_log_reopened_after_privilege_drop():
    """Run as root with user = nobody and log_file in a directory only
    root can write (as /var/log): the log file is made nobody's (mode 0640)
    so that a reload, run as nobody, can reopen it. After logrotate's
    `create` (renamed, a new file made with the old one's owner and mode)
    and a reload, new lines go to the new file and none to the old one;
    after `copytruncate` they go on in the same file from its start. Not
    as root: the same without user."""
    with lbtest.Scope() as s:
        os.chmod(s.dir, 0o755)  # nobody must reach the log
        b = s.backend(lbtest.line_reply("B"))
        port = lbtest.free_port()
        logs = s.path("logs")
        os.mkdir(logs, 0o755)
        log = os.path.join(logs, "lb.log")
        root = os.geteuid() == 0
        options = {"log_file": log}
        if root:
            options["user"] = "nobody"
        lb = s.balancer(lbtest.mapping_config(port, [b.port],
                                              options=options),
                        wait_ports=[port])
        first = _client_port_line(port)
        true(lbtest.wait_until(lambda: first in read_text(log), 5),
             "the connection line in the log file", log=read_text(log)[-500:])
        st = os.stat(log)
        eq(st.st_mode & 0o777, 0o640, "the log file's mode")
        if root:
            eq(st.st_uid, NOBODY, "the log file's owner")
        # logrotate `create`: rename, then a new file like the old one.
        os.rename(log, log + ".1")
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.fchown(fd, st.st_uid, st.st_gid)
        os.fchmod(fd, st.st_mode & 0o777)
        os.close(fd)
        lb.signal(lbtest.signal.SIGHUP)
        true(lb.wait_log(r"Reloaded ", timeout=10), "reloaded",
             log=lb.tail())
        second = _client_port_line(port)
        true(lbtest.wait_until(lambda: second in read_text(log), 5),
             "after `create` and a reload: the new file gets the lines",
             new=read_text(log)[-500:], old=read_text(log + ".1")[-300:],
             log=lb.tail())
        true(second not in read_text(log + ".1"), "and the old one none")
        true("cannot open log_file" not in lb.log(), "no reopen error",
             log=lb.tail())
        # logrotate `copytruncate`: copied, then cut to nothing in place.
        shutil.copyfile(log, log + ".2")
        os.truncate(log, 0)
        third = _client_port_line(port)
        true(lbtest.wait_until(lambda: third in read_text(log), 5),
             "after `copytruncate`: the same file gets the lines")
        true(read_text(log).startswith("["), "from its start (no hole)",
             head=read_text(log)[:80])


def test_relative_log_file_beside_config():
    """log_file = rel.log in a config in conf/, run from the directory
    above: the log lands in conf/ beside the config (one rule on every
    platform; a Windows service runs in System32), and the start says
    where it logs to."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.line_reply("B"))
        port = lbtest.free_port()
        os.mkdir(s.path("conf"))
        lb = s.balancer(lbtest.mapping_config(
            port, [b.port], options={"log_file": "rel.log"}),
            name=os.path.join("conf", "lb"), wait_ports=[port])
        eq(lbtest.request_line(port, b"x\n"), b"B x\n", "a client")
        beside = s.path(os.path.join("conf", "rel.log"))
        true(lbtest.wait_until(lambda: "Connection client=" in
                               read_text(beside), 5),
             "the log beside the config", there=os.listdir(s.path("conf")),
             cwd=os.listdir(s.dir))
        true(not os.path.exists(s.path("rel.log")), "nothing in the cwd")
        true(lb.wait_log(r"Logging to .*rel\.log", timeout=5),
             "the start names the log file", log=lb.tail())
