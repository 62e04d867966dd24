"""Config errors (exit 3 with FILE:LINE and the bad value), bind failure
(exit 4), [listener:NAME] sections and continuation lines."""

import os
import re
import socket

import lbtest
from lbtest import contains, eq, true

QUOTED_ZERO = r"""["'`\u2018\u201c]([^"'`\s]*:)?0["'`\u2019\u201d]"""


def _expect_config_error(scope, name, content, line, value=None,
                         value_re=None, listen_port=None):
    """Runs the balancer on content; expects exit 3, FILE:LINE: on stderr
    (no line when line is None), the bad value, and nothing listening."""
    path = scope.path(name)
    with open(path, "wb" if isinstance(content, bytes) else "w") as f:
        f.write(content)
    rc, out, err = lbtest.run_binary([path], timeout=15)
    what = "%s (%s)" % (name, (value or value_re or "no value"))
    eq(rc, 3, "%s: exit status" % what)
    contains(err, name, "%s: stderr names the file" % what)
    if line is not None:
        contains(err, "%s:%d:" % (name, line),
                 "%s: stderr has FILE:LINE:" % what)
    if value is not None:
        contains(err, value, "%s: stderr quotes the bad value" % what)
    if value_re is not None:
        lbtest.matches(err, value_re, "%s: stderr quotes the bad value"
                       % what)
    if listen_port is not None:
        true(not lbtest.is_listening(listen_port),
             "%s: nothing may listen on 127.0.0.1:%d after a config error"
             % (what, listen_port))
    return err


def test_config_missing_file():
    """A config file that does not exist: exit 3, stderr names it."""
    with lbtest.Scope() as s:
        path = s.path("does-not-exist.cfg")
        rc, out, err = lbtest.run_binary([path])
        eq(rc, 3, "missing config file: exit status")
        contains(err, "does-not-exist.cfg", "missing file: stderr names it")


def test_config_no_mappings():
    """No [mappings] and no [listener:...]: exit 3, stderr names the file
    and says what is missing."""
    with lbtest.Scope() as s:
        err = _expect_config_error(
            s, "nomap.cfg", "[options]\nbuffer_size = 4096\n", None)
        true(re.search(r"mapping|listener", err, re.I),
             "no mappings: message mentions mappings/listener", stderr=err)


def test_config_port_zero():
    """Listen port 0 is rejected at its line."""
    with lbtest.Scope() as s:
        b = lbtest.free_port()
        _expect_config_error(
            s, "port0.cfg", "[mappings]\n127.0.0.1:0=127.0.0.1:%d\n" % b, 2,
            value_re=QUOTED_ZERO)


def test_config_port_65536():
    """Listen port 65536 is rejected at its line."""
    with lbtest.Scope() as s:
        b = lbtest.free_port()
        _expect_config_error(
            s, "port65536.cfg",
            "[options]\nbuffer_size = 4096\n\n[mappings]\n"
            "127.0.0.1:65536=127.0.0.1:%d\n" % b, 5, value="65536")


def test_config_backend_without_port():
    """A backend without ':PORT' is rejected at its line."""
    with lbtest.Scope() as s:
        port, b = lbtest.free_ports(2)
        _expect_config_error(
            s, "noport.cfg",
            "[mappings]\n; comment line\n"
            "127.0.0.1:%d=127.0.0.1:%d,127.0.0.9\n" % (port, b), 3,
            value="127.0.0.9", listen_port=port)


def test_config_backend_non_numeric_port():
    """A backend port that is not a number is rejected at its line."""
    with lbtest.Scope() as s:
        port, b = lbtest.free_ports(2)
        _expect_config_error(
            s, "nonnum.cfg",
            "[mappings]\n127.0.0.1:%d=127.0.0.1:%d,127.0.0.1:8x0\n"
            % (port, b), 2, value="8x0", listen_port=port)


def test_config_buffer_size_abc():
    """buffer_size=abc is rejected at its line."""
    with lbtest.Scope() as s:
        port, b = lbtest.free_ports(2)
        _expect_config_error(
            s, "bufabc.cfg",
            "[options]\nbuffer_size=abc\n[mappings]\n127.0.0.1:%d=127.0.0.1:%d\n"
            % (port, b), 2, value="abc", listen_port=port)


def test_config_buffer_size_zero():
    """buffer_size=0 is rejected at its line."""
    with lbtest.Scope() as s:
        port, b = lbtest.free_ports(2)
        _expect_config_error(
            s, "buf0.cfg",
            "[mappings]\n127.0.0.1:%d=127.0.0.1:%d\n\n[options]\n"
            "buffer_size=0\n" % (port, b), 5, value_re=QUOTED_ZERO,
            listen_port=port)


def test_config_duplicate_listen():
    """The same listen address twice in [mappings] is rejected at the
    second line."""
    with lbtest.Scope() as s:
        port, b1, b2 = lbtest.free_ports(3)
        _expect_config_error(
            s, "dup.cfg",
            "[mappings]\n127.0.0.1:%d=127.0.0.1:%d\n127.0.0.1:%d=127.0.0.1:%d\n"
            % (port, b1, port, b2), 3, value="127.0.0.1:%d" % port,
            listen_port=port)


def test_config_binary_garbage():
    """A NUL byte in the file is rejected at its line."""
    with lbtest.Scope() as s:
        port, b = lbtest.free_ports(2)
        content = ("[mappings]\n127.0.0.1:%d=127.0.0.1:%d\n" % (port, b)
                   ).encode() + b"ab\x00\xfe\xffcd=ef\n"
        _expect_config_error(s, "garbage.cfg", content, 3,
                             listen_port=port)


def test_config_long_line():
    """A line longer than 199 bytes is rejected at its line."""
    with lbtest.Scope() as s:
        port, b = lbtest.free_ports(2)
        long_value = os.path.join(s.dir, "x" * 240 + ".log")
        content = ("[mappings]\n127.0.0.1:%d=127.0.0.1:%d\n[options]\n"
                   "log_file = %s\n" % (port, b, long_value))
        _expect_config_error(s, "long.cfg", content, 4, listen_port=port)
        true(not os.path.exists(long_value),
             "rejected config must not create its log_file")


def test_bind_port_in_use():
    """A listen port already taken by another socket: exit 4 and stderr
    names 127.0.0.1:PORT."""
    with lbtest.Scope() as s:
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.on_close(holder.close)
        holder.bind(("127.0.0.1", 0))
        holder.listen(8)
        port = holder.getsockname()[1]
        b = lbtest.free_port()
        path = s.path("inuse.cfg")
        with open(path, "w") as f:
            f.write(lbtest.mapping_config(port, [b]))
        rc, out, err = lbtest.run_binary([path], timeout=15)
        eq(rc, 4, "port in use: exit status")
        contains(err, "127.0.0.1:%d" % port, "port in use: stderr")


def _served_by(port, n):
    """n sequential line requests; returns the list of backend tags."""
    tags = []
    for i in range(n):
        reply = lbtest.request_line(port, b"req-%d\n" % i)
        lbtest.true(reply.endswith(b" req-%d\n" % i),
                    "reply %d is the backend's echo of the request" % i,
                    reply=reply)
        tags.append(reply.split(b" ")[0].decode())
    return tags


def test_listener_section_with_continuation():
    """[listener:NAME] with listen= and a backends= list continued on an
    indented line: both backends are used, 10 connections each of 20."""
    with lbtest.Scope() as s:
        b1 = s.backend(lbtest.line_reply("B1"))
        b2 = s.backend(lbtest.line_reply("B2"))
        port = lbtest.free_port()
        cfg = ("[listener:web]\n"
               "listen = 127.0.0.1:%d\n"
               "backends = 127.0.0.1:%d,\n"
               "    127.0.0.1:%d\n" % (port, b1.port, b2.port))
        s.balancer(cfg, wait_ports=[port])
        tags = _served_by(port, 20)
        eq(tags.count("B1"), 10, "connections served by B1 (of 20)")
        eq(tags.count("B2"), 10, "connections served by B2 (of 20)")
        eq(b1.served + b2.served, 20, "requests seen by the backends")


def test_two_listeners_separate_round_robin():
    """A [mappings] line and a [listener:NAME] section in one file both
    listen, each relaying to its own backend."""
    with lbtest.Scope() as s:
        a = s.backend(lbtest.line_reply("A"))
        b = s.backend(lbtest.line_reply("B"))
        pa, pb = lbtest.free_ports(2)
        cfg = ("[mappings]\n127.0.0.1:%d=127.0.0.1:%d\n\n"
               "[listener:second]\nlisten = 127.0.0.1:%d\n"
               "backends = 127.0.0.1:%d\n" % (pa, a.port, pb, b.port))
        s.balancer(cfg, wait_ports=[pa, pb])
        eq(_served_by(pa, 3), ["A"] * 3, "backends behind the mapping")
        eq(_served_by(pb, 3), ["B"] * 3, "backends behind [listener:second]")


def _line_of(scope, length):
    """A 'log_file = PATH' line of exactly length characters (no newline)."""
    head = "log_file = " + scope.dir + "/"
    return head + "x" * (length - len(head) - 4) + ".log"


def test_config_line_length_boundary():
    """Line length limit boundary, checked with -t: a 198-character line
    (199 bytes with its newline) is accepted; a 200-character line (201
    bytes) is rejected with exit 3 at its line number."""
    with lbtest.Scope() as s:
        port, b = lbtest.free_ports(2)
        base = "[mappings]\n127.0.0.1:%d=127.0.0.1:%d\n[options]\n" % (port, b)
        for length, want in ((198, 0), (200, 3)):
            line = _line_of(s, length)
            eq(len(line), length, "generated line length")
            path = s.path("len%d.cfg" % length)
            with open(path, "w") as f:
                f.write(base + line + "\n")
            rc, out, err = lbtest.run_binary(["-t", path])
            eq(rc, want, "-t on a %d-character line: exit status" % length)
            if want:
                contains(err, "len%d.cfg:4:" % length,
                         "%d-character line: FILE:LINE" % length)


@lbtest.windows_only("Windows has no descriptor limit to derive the cap "
                     "from; POSIX logs 'up to N open files' instead")
def test_windows_connection_cap_and_loops():
    """No max_connections: the start line gives the cap derived from
    physical memory (1/8 of it, counted up to 128 GiB, at 128 KiB of
    kernel buffers and four buffers per connection; at least 1000), the
    process's, which its loops share; and processes = 2 runs two loop
    threads (named lb-loop-0 and lb-loop-1, seen under Wine), with no
    warning any more."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.echo)
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(
            port, [b.port], options={"processes": 2, "buffer_size": 4096}),
            wait_ports=[port])
        if not lbtest.NATIVE:
            true(lbtest.wait_until(lambda: sorted(lbtest.loop_threads(
                lb.pid)) == ["lb-loop-0", "lb-loop-1"], 5),
                 "two loop threads", threads=lbtest.loop_threads(lb.pid))
        true("processes" not in lb.log(), "no word about processes",
             log=lb.tail(10))
        m = re.search(r"starting \(.*max_connections not set: at most "
                      r"(\d+) connections, for 1/8 of (\d+) MiB of memory",
                      lb.log())
        true(m, "the start line gives the derived cap", log=lb.tail(10))
        n, mib = int(m.group(1)), int(m.group(2))
        per_conn = 128 * 1024 + 4 * 4096

        def cap(mebibytes):
            counted = min(mebibytes, 128 * 1024) << 20
            return max(1000, counted // 8 // per_conn)
        lbtest.between(n, cap(mib), cap(mib + 1),
                       "the cap for %d MiB of memory" % mib)
        lbtest.note("derived max_connections: %d for %d MiB" % (n, mib))
