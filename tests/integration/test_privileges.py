"""user / group: the balancer binds first (ports below 1024 need root),
then runs as the given user; and a config anyone can write is warned of."""

import os
import signal
import socket
import subprocess

import lbtest
from lbtest import contains, eq, true


def _uids(pid):
    """(real, effective, saved, fs) uids of pid from /proc."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return tuple(int(x) for x in line.split()[1:5])
    return ()


def _free_privileged_port():
    for port in range(1023, 900, -1):
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    return None


@lbtest.posix_only("user and group are POSIX options")
def test_runs_as_user_after_binding():
    """As root: user = nobody and a port below 1024: every process of the
    balancer runs as nobody (root cannot be had back), and it relays. As
    another user: refused with a clear message (exit 3)."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.echo)
        if os.geteuid() != 0:
            port = lbtest.free_port()
            path = s.path("u.cfg")
            open(path, "w").write(lbtest.mapping_config(
                port, [b.port], options={"user": "nobody"}))
            rc, out, err = lbtest.run_binary([path])
            eq(rc, 3, "exit status when not root")
            contains(err, "only root can switch to user 'nobody'", "stderr")
            return
        port = _free_privileged_port()
        true(port, "a free port below 1024 on 127.0.0.1")
        lb = s.balancer(lbtest.mapping_config(
            port, [b.port], options={"user": "nobody"}), wait_ports=[port])
        nobody = 65534
        true(lbtest.wait_until(lambda: lbtest.children_of(lb.pid), 5),
             "a worker runs")
        eq(_uids(lb.pid), (nobody,) * 4, "parent uids (real, eff, saved, fs)")
        for pid, _ in lbtest.children_of(lb.pid):
            eq(_uids(pid), (nobody,) * 4, "worker %d uids" % pid)
        c = lbtest.connect(port, timeout=10)
        s.on_close(c.close)
        c.sendall(b"as nobody\n")
        eq(lbtest.recv_line(c), b"as nobody\n", "echo through port %d" % port)
        true(lb.wait_log(r"Running as user nobody", timeout=5),
             "log says who it runs as", log=lb.tail())


@lbtest.posix_only("user and group are POSIX options")
def test_unknown_user_is_a_config_error():
    """user = a name that does not exist: exit 3, the message names it, and
    nothing is left listening."""
    with lbtest.Scope() as s:
        port = lbtest.free_port()
        path = s.path("u.cfg")
        open(path, "w").write(lbtest.mapping_config(
            port, [9], options={"user": "no-such-user-x"}))
        rc, out, err = lbtest.run_binary([path])
        eq(rc, 3, "exit status")
        contains(err, "user 'no-such-user-x' does not exist", "stderr")
        true(not lbtest.is_listening(port), "nothing left listening")


def _writable_by_everyone(path):
    """Mode 666; on Windows an ACE giving Everyone (S-1-1-0) Modify, which
    is what Wine makes of o+w."""
    if lbtest.NATIVE:
        subprocess.run(["icacls", path, "/grant", "*S-1-1-0:(M)"],
                       check=True, stdout=subprocess.DEVNULL, timeout=30)
    else:
        os.chmod(path, 0o666)


def test_world_writable_config_is_warned():
    """A config file others can write: a warning at start naming who can
    (POSIX: group or others; Windows: the account in its DACL, which Wine
    makes from the mode bits: o+w is Everyone); none for mode 644."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.echo)
        port, port2 = lbtest.free_ports(2)
        lb = s.balancer(lbtest.mapping_config(port, [b.port]), start=False)
        _writable_by_everyone(lb.cfg_path)
        lb.start(wait_ports=[port])
        who = (r"can be written by .*S-1-1-0" if lbtest.WINDOWS else
               r"can be written by its group or by others")
        true(lb.wait_log(who, timeout=5), "warning in the log",
             log=lb.tail())
        quiet = s.balancer(lbtest.mapping_config(port2, [b.port]),
                           name="quiet", start=False)
        os.chmod(quiet.cfg_path, 0o644)
        quiet.start(wait_ports=[port2])
        true(quiet.wait_log(r"PumpkinLB .* starting", timeout=5),
             "start logged")
        true("can be written" not in quiet.log(),
             "no warning for a config only its owner can write",
             log=quiet.tail())


@lbtest.posix_only("reload is SIGHUP here; the Windows service's "
                   "PARAMCHANGE runs the same check")
def test_world_writable_config_is_warned_at_reload():
    """The check runs again at each reload: a config made writable by
    others after the start is warned of at the next SIGHUP."""
    with lbtest.Scope() as s:
        b = s.backend(lbtest.echo)
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(port, [b.port]), start=False)
        os.chmod(lb.cfg_path, 0o644)
        lb.start(wait_ports=[port])
        os.chmod(lb.cfg_path, 0o664)
        lb.signal(signal.SIGHUP)
        true(lb.wait_log(r"Reloaded", timeout=10), "reload done",
             log=lb.tail())
        true(lb.wait_log(r"can be written by its group or by others",
                         timeout=5), "warning at the reload",
             log=lb.tail())



@lbtest.posix_only("file owners and root")
def test_permission_warnings_at_start_and_reload():
    """Warned at start and again at each reload: running as root without
    `user`; a config owned by a user who is neither root nor the one who
    started PumpkinLB (that user decides where traffic goes); a config
    others can write. Not as root, only the last can be arranged, and the
    root warning must not appear."""
    root = os.geteuid() == 0
    as_root = r"running as root without `user`"
    foreign = r"is owned by a user who is neither root nor the one"
    writable = r"can be written by its group or by others"
    with lbtest.Scope() as s:
        b = s.backend(lbtest.echo)
        port = lbtest.free_port()
        lb = s.balancer(lbtest.mapping_config(port, [b.port]),
                        wait_ports=[port])
        true(lb.wait_log(r"Starting up listener", timeout=5), "started")
        eq(len(lb.wait_log(as_root, timeout=1 if root else 0.2)),
           1 if root else 0, "the root warning at start")
        eq(lb.wait_log(foreign + "|" + writable, timeout=0.2), [],
           "no warning about a config only its owner can write")
        os.chmod(lb.cfg_path, 0o666)
        if root:
            os.chown(lb.cfg_path, 65534, -1)
        lb.signal(lbtest.signal.SIGHUP)
        true(lb.wait_log(r"Reloaded ", timeout=10), "reloaded",
             log=lb.tail())
        true(lb.wait_log(writable, timeout=5),
             "the reload checks the config's mode again", log=lb.tail())
        if root:
            true(lb.wait_log(foreign, timeout=5),
                 "and its owner", log=lb.tail())
            eq(len(lb.wait_log(as_root, timeout=5, count=2)), 2,
               "the root warning again at the reload")
