"""The Windows service's log files, under Wine only (windows_only): a
relative log_file lands beside the config (the service runs in System32),
the service log can be renamed while the service runs (Windows' sharing
rules, which `cmd /c move` obeys under Wine too) and is opened again on
PARAMCHANGE, and log files are rotated by size (log_rotate_size)."""

import os
import re
import tempfile

import lbtest
from lbtest import eq, read_text, true
from test_windows_service import (drive_c, remove_service, sc_state,
                                  service_log, wait_state, wine,
                                  windows_only, winpath)

NAME = "PumpkinLBLogTest"
STAMPED = re.compile(r"^\[ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} \] \S")


def _service_log_path(suffix=""):
    return drive_c("ProgramData", "PumpkinLB", "logs",
                   "pumpkinlb.log" + suffix)


def _start(cfg, port):
    rc, out = wine("sc", "create", NAME, "binPath=", '"%s" --service "%s"'
                   % (winpath(lbtest.BINARY), winpath(cfg)),
                   "start=", "demand")
    eq(rc, 0, "sc create exit status (%s)" % out)
    rc, out = wine("sc", "start", NAME)
    true(rc == 0, "sc start exit status 0", rc=rc, output=out,
         state=sc_state(NAME), log_tail=read_text(_service_log_path())[-600:])
    eq(wait_state(NAME, 4, 20)[0], 4, "service state (4 = RUNNING)")
    true(lbtest.wait_until(lambda: lbtest.is_listening(port), 10),
         "service listens on its port", port=port)


def _client(port):
    """One client through the service; returns its connection line's
    client field."""
    with lbtest.connect(port, timeout=15) as c:
        c.sendall(b"x\n")
        eq(lbtest.recv_line(c), b"B x\n", "a client through the service")
        # With the listener: the service log holds earlier scenarios'
        # lines, whose clients may have had the same port.
        return "client=127.0.0.1:%d listener=127.0.0.1:%d " % (
            c.getsockname()[1], port)


def _remove_rotated():
    for k in range(1, 7):
        for p in (_service_log_path(".%d" % k), _service_log_path(".moved")):
            if os.path.exists(p):
                os.unlink(p)


def _fresh_service_log():
    """No rotated or renamed logs, and no service log holding other
    scenarios' lines."""
    _remove_rotated()
    if os.path.exists(_service_log_path()):
        os.unlink(_service_log_path())


@windows_only
def test_service_relative_log_file_beside_config():
    """log_file = relative.log in a service's config: the log lands beside
    the config, not in the service's working directory (System32), and the
    service log says where it logs to."""
    backend = lbtest.Backend(lbtest.line_reply("B"))
    port = lbtest.free_port()
    work = tempfile.mkdtemp(prefix="lbsvc-")
    cfg = os.path.join(work, "svc.cfg")
    with open(cfg, "w") as f:
        f.write(lbtest.mapping_config(port, [backend.port],
                                      options={"log_file": "relative.log"}))
    beside = os.path.join(work, "relative.log")
    system32 = drive_c("windows", "system32", "relative.log")
    try:
        _start(cfg, port)
        line = _client(port)
        true(lbtest.wait_until(lambda: line in read_text(beside), 10),
             "the connection line in the log beside the config",
             there=os.listdir(work), log=service_log()[-800:])
        true(not os.path.exists(system32), "nothing in System32")
        true(re.search(r"Logging to \S+relative\.log", service_log()),
             "the service log says where it logs to",
             log=service_log()[-800:])
    finally:
        remove_service(NAME)
        backend.close()


@windows_only
def test_service_log_renamed_then_reopened_on_paramchange():
    """While the service runs, its log is renamed the Windows way (the
    build before this held it without FILE_SHARE_DELETE: 'Sharing
    violation'); lines go on into the renamed file until a reload
    (--reload-service, PARAMCHANGE), after which a new pumpkinlb.log gets
    them."""
    backend = lbtest.Backend(lbtest.line_reply("B"))
    port = lbtest.free_port()
    work = tempfile.mkdtemp(prefix="lbsvc-")
    cfg = os.path.join(work, "svc.cfg")
    with open(cfg, "w") as f:
        f.write(lbtest.mapping_config(port, [backend.port]))
    log, moved = _service_log_path(), _service_log_path(".moved")
    _fresh_service_log()
    try:
        _start(cfg, port)
        first = _client(port)
        true(lbtest.wait_until(lambda: first in read_text(log), 10),
             "a line in the service log", log=read_text(log)[-600:])
        rc, out = wine("cmd", "/c", "move", winpath(log), winpath(moved))
        eq(rc, 0, "renaming the open service log (%s)" % out.strip())
        true(os.path.exists(moved) and not os.path.exists(log),
             "renamed while open")
        second = _client(port)
        true(lbtest.wait_until(lambda: second in read_text(moved), 10),
             "until a reload, lines go on into the renamed file",
             moved=read_text(moved)[-600:])
        rc, out = wine(lbtest.BINARY, "--reload-service", NAME)
        eq(rc, 0, "--reload-service exit status (%s)" % out)
        true(lbtest.wait_until(lambda: "Reloaded" in read_text(log), 10),
             "after the reload a new log gets the lines",
             moved=read_text(moved)[-600:])
        third = _client(port)
        true(lbtest.wait_until(lambda: third in read_text(log), 10),
             "a client's line in the new log", log=read_text(log)[-600:])
        true(third not in read_text(moved), "and none in the renamed one")
    finally:
        remove_service(NAME)
        backend.close()
        _remove_rotated()


@windows_only
def test_service_logs_rotated_by_size():
    """log_rotate_size = 4K: as 120 clients pass, the service log and
    log_file are each rotated (NAME.1, NAME.2, ... up to NAME.5), no file
    grows past 4 KiB, and every line in them is whole."""
    backend = lbtest.Backend(lbtest.line_reply("B"))
    port = lbtest.free_port()
    work = tempfile.mkdtemp(prefix="lbsvc-")
    cfg = os.path.join(work, "svc.cfg")
    own = os.path.join(work, "own.log")
    with open(cfg, "w") as f:
        f.write(lbtest.mapping_config(port, [backend.port], options={
            "log_file": own, "log_rotate_size": "4K"}))
    _fresh_service_log()
    try:
        _start(cfg, port)
        last = [_client(port) for _ in range(120)][-1]
        for base in (_service_log_path(), own):
            true(lbtest.wait_until(lambda: last in read_text(base), 10),
                 "the last client's line in %s" % base,
                 log=read_text(base)[-400:])
            files = [base] + [base + ".%d" % k for k in range(1, 6)]
            there = [p for p in files if os.path.exists(p)]
            true(len(there) >= 4, "rotated files of %s" % base,
                 there=there)
            true(not os.path.exists(base + ".6"), "at most 5 kept")
            for p in there:
                size = os.path.getsize(p)
                true(size <= 4096, "%s within log_rotate_size" % p,
                     size=size)
                bad = [l for l in read_text(p).splitlines()
                       if not STAMPED.match(l)]
                eq(bad[:2], [], "lines of %s that are not whole" % p)
    finally:
        remove_service(NAME)
        backend.close()
        _remove_rotated()
