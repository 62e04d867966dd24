"""Windows service and MSI scenarios (windows_only).

Under Wine they drive the Service Control Manager of the Wine prefix with
`wine sc ...` and `wine msiexec ...`; on Windows (lbtest.NATIVE) the same
commands run directly against the host's SCM: an elevated prompt on a
test host, since they install and remove service PumpkinLB. They run one
at a time (exclusive) and each removes what it registered, also on
failure.
"""

import hashlib
import os
import re
import socket
import subprocess
import tempfile
import threading
import time

import lbtest
from lbtest import contains, eq, fail, true

MSI = os.environ.get("LBTEST_MSI", "")
MSI_UPGRADE = os.environ.get("LBTEST_MSI_UPGRADE", "")
MSI_SAME = os.environ.get("LBTEST_MSI_SAME", "")
SERVICE_KEY = "HKLM\\System\\CurrentControlSet\\Services\\PumpkinLB"


def windows_only(fn):
    fn.windows_only = "the Windows Service Control Manager and MSI"
    fn.exclusive = True
    fn.timeout = 180
    return fn


def wine(*args, timeout=60):
    """Runs `wine ARGS` (bounded), or ARGS on Windows itself; returns
    (rc, stdout text)."""
    argv = list(args) if lbtest.NATIVE else ["wine"] + list(args)
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        fail("wine %s did not finish within %ds" % (" ".join(args), timeout))
    return p.returncode, p.stdout.decode("utf-8", "replace").replace("\r", "")


def winpath(path):
    """The Windows name of a Linux path (drive Z: is /)."""
    if lbtest.NATIVE:
        return os.path.abspath(path)
    return "Z:" + os.path.abspath(path).replace("/", "\\")


def drive_c(*parts):
    if lbtest.NATIVE:
        return os.path.join(os.environ.get("SystemDrive", "C:") + "\\",
                            *parts)
    return os.path.join(os.environ["WINEPREFIX"], "drive_c", *parts)


def sc_state(name):
    """(STATE number or None, WIN32_EXIT_CODE, SERVICE_EXIT_CODE)."""
    rc, out = wine("sc", "query", name)
    if rc != 0:
        return None, None, None
    vals = {}
    for line in out.splitlines():
        if ":" in line:
            key, _, rest = line.partition(":")
            fields = rest.split()
            if fields and fields[0].isdigit():
                vals[key.strip()] = int(fields[0])
    return (vals.get("STATE"), vals.get("WIN32_EXIT_CODE"),
            vals.get("SERVICE_EXIT_CODE"))


def wait_state(name, state, timeout):
    lbtest.wait_until(lambda: sc_state(name)[0] == state, timeout, 0.25)
    return sc_state(name)


def remove_service(name):
    wine("sc", "stop", name)
    wait_state(name, 1, 15)
    wine("sc", "delete", name)


def create_and_start(name, cfg):
    """sc create NAME for `pumpkinlb.exe --service CFG` (demand start),
    then sc start; fails unless both succeed."""
    rc, out = wine("sc", "create", name, "binPath=", '"%s" --service "%s"'
                   % (winpath(lbtest.BINARY), winpath(cfg)),
                   "start=", "demand")
    eq(rc, 0, "sc create exit status (%s)" % out)
    eq(wine("sc", "start", name)[0], 0, "sc start exit status")


def service_log():
    path = drive_c("ProgramData", "PumpkinLB", "logs", "pumpkinlb.log")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def create_and_start(name, cfg):
    """sc create (demand start, cfg as its config), sc start; waits for
    RUNNING."""
    rc, out = wine("sc", "create", name, "binPath=", '"%s" --service "%s"'
                   % (winpath(lbtest.BINARY), winpath(cfg)),
                   "start=", "demand")
    eq(rc, 0, "sc create exit status (%s)" % out)
    eq(wine("sc", "start", name)[0], 0, "sc start exit status")
    eq(wait_state(name, 4, 20)[0], 4, "service state (4 = RUNNING)")


def transfer(port, result):
    """Client: connect, read everything to EOF into result['data']."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            s.settimeout(20)
            result["data"] = lbtest.drain(s)
    except OSError as e:
        result["error"] = e


@windows_only
def test_service_stop_drains_transfer():
    """sc create/start: the service serves its config; sc stop during a
    3 s transfer: the transfer completes in full and STOPPED is reported
    within about 7 s; exit code 0."""
    chunks = [lbtest.pattern_bytes(64 * 1024, i) for i in range(30)]
    backend = lbtest.Backend(lbtest.slow_sender(chunks, 0.1))
    port = lbtest.free_port()
    work = tempfile.mkdtemp(prefix="lbsvc-")
    cfg = os.path.join(work, "svc.cfg")
    with open(cfg, "w") as f:
        f.write(lbtest.with_processes(lbtest.mapping_config(port,
                                                            [backend.port])))
    name = "PumpkinLBTest"
    try:
        create_and_start(name, cfg)
        true(lbtest.wait_until(lambda: lbtest.is_listening(port), 10),
             "service listens on its port", port=port)
        result = {}
        client = threading.Thread(target=transfer, args=(port, result))
        client.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        eq(wine("sc", "stop", name)[0], 0, "sc stop exit status")
        state = wait_state(name, 1, 15)
        took = time.monotonic() - t0
        client.join(30)
        eq(state[0], 1, "service state after sc stop (1 = STOPPED)")
        lbtest.between(took, 0.0, 9.0, "seconds from sc stop to STOPPED")
        eq(state[1], 0, "WIN32_EXIT_CODE")
        true("error" not in result, "client transfer failed",
             error=result.get("error"))
        eq(hashlib.sha256(result.get("data", b"")).hexdigest(),
           hashlib.sha256(b"".join(chunks)).hexdigest(),
           "sha256 of the transfer cut by nothing")
    finally:
        remove_service(name)
        backend.close()


def _loop_clients(port, stats, stop):
    """Sequential clients through port until stop is set: a line each,
    the tagged reply checked; counts per tag and failures."""
    i = 0
    while not stop.is_set():
        i += 1
        line = b"svc-%d\n" % i
        try:
            with socket.create_connection(("127.0.0.1", port), 15) as c:
                c.settimeout(15)
                c.sendall(line)
                reply = lbtest.recv_line(c)
            if not reply.endswith(b" " + line):
                raise ValueError("reply %r" % reply)
            tag = reply.split(b" ")[0].decode()
            stats[tag] = stats.get(tag, 0) + 1
        except (OSError, ValueError) as e:
            stats.setdefault("failures", []).append(repr(e))


@windows_only
def test_service_paramchange_reloads():
    """SERVICE_CONTROL_PARAMCHANGE (pumpkinlb --reload-service NAME, as
    `sc control NAME paramchange`): a client loop runs through a reload
    that moves the listener to another backend and adds a listener, with
    zero failures; a transfer open across it completes in full; a config
    with a mistake is refused and the service keeps serving; then the
    service still stops cleanly."""
    b0 = lbtest.Backend(lbtest.line_reply("B0"))
    b1 = lbtest.Backend(lbtest.line_reply("B1"))
    chunks = [lbtest.pattern_bytes(32 * 1024, i) for i in range(20)]
    slow = lbtest.Backend(lbtest.slow_sender(chunks, 0.1))
    port, port2, port3 = lbtest.free_ports(3)
    work = tempfile.mkdtemp(prefix="lbsvc-")
    cfg = os.path.join(work, "svc.cfg")

    def write(text):
        with open(cfg + ".new", "w") as f:
            f.write(lbtest.with_processes(text))
        os.replace(cfg + ".new", cfg)
    write("[mappings]\n127.0.0.1:%d = 127.0.0.1:%d\n"
          "127.0.0.1:%d = 127.0.0.1:%d\n" % (port, b0.port, port2,
                                             slow.port))
    name = "PumpkinLBTest"
    stop = threading.Event()
    stats = {}
    loop = threading.Thread(target=_loop_clients, args=(port, stats, stop))
    try:
        create_and_start(name, cfg)
        true(lbtest.wait_until(lambda: lbtest.is_listening(port), 10),
             "service listens on its port", port=port)
        result = {}
        client = threading.Thread(target=transfer, args=(port2, result))
        client.start()
        loop.start()
        true(lbtest.wait_until(lambda: stats.get("B0", 0) >= 5, 20),
             "the client loop runs before the reload", stats=stats)
        write("[mappings]\n127.0.0.1:%d = 127.0.0.1:%d\n"
              "127.0.0.1:%d = 127.0.0.1:%d\n" % (port, b1.port, port3,
                                                 b0.port))
        rc, out = wine(lbtest.BINARY, "--reload-service", name)
        eq(rc, 0, "--reload-service exit status (%s)" % out)
        true(lbtest.wait_until(lambda: stats.get("B1", 0) >= 5, 20),
             "clients reach the new backend after the reload",
             stats=stats, log=service_log()[-1500:])
        true(lbtest.wait_until(lambda: lbtest.is_listening(port3), 10),
             "the added listener listens")
        client.join(30)
        true("error" not in result, "the transfer across the reload",
             error=result.get("error"))
        eq(hashlib.sha256(result.get("data", b"")).hexdigest(),
           hashlib.sha256(b"".join(chunks)).hexdigest(),
           "sha256 of the transfer open across the reload")
        true(lbtest.wait_until(lambda: not lbtest.is_listening(port2), 10),
             "the removed listener is closed")
        write("[mappings]\n127.0.0.1:%d = nonsense\n" % port)
        eq(wine(lbtest.BINARY, "--reload-service", name)[0], 0,
           "--reload-service exit status (bad config)")
        true(lbtest.wait_until(lambda: "Reload failed" in service_log(), 10),
             "the bad config is refused in the log",
             log=service_log()[-1500:])
        n = stats.get("B1", 0)
        true(lbtest.wait_until(lambda: stats.get("B1", 0) >= n + 5, 20),
             "the service keeps serving after a refused reload")
        stop.set()
        loop.join(30)
        eq(stats.get("failures", []), [], "failed clients through reloads")
        eq(wine("sc", "stop", name)[0], 0, "sc stop exit status")
        state = wait_state(name, 1, 15)
        eq(state[0], 1, "service state after sc stop (1 = STOPPED)")
        eq(state[1], 0, "WIN32_EXIT_CODE")
    finally:
        stop.set()
        remove_service(name)
        for b in (b0, b1, slow):
            b.close()


@windows_only
def test_install_and_uninstall_service():
    """--install-service registers PumpkinLB (sc query succeeds, runs as
    LocalService, automatic start); --uninstall-service removes it (sc query
    fails); each again gives a clear error and exit 1."""
    work = tempfile.mkdtemp(prefix="lbsvc-")
    cfg = os.path.join(work, "svc.cfg")
    with open(cfg, "w") as f:
        f.write(lbtest.mapping_config(lbtest.free_port(), [9], options={
            "graceful_shutdown_timeout": 9}))
    try:
        rc, out = wine(lbtest.BINARY, "--install-service", cfg)
        eq(rc, 0, "--install-service exit status (%s)" % out)
        eq(wine("sc", "query", "PumpkinLB")[0], 0, "sc query after install")
        contains(out, "Configuring service PumpkinLB", "--install-service "
                 "runs the configure step")
        reg = service_registry()
        contains(reg, "NT AUTHORITY\\LocalService", "service account")
        contains(reg, "--service", "service command line")
        check_configured(reg, 9000 + 5000)
        rc, out = wine(lbtest.BINARY, "--configure-service", cfg)
        eq(rc, 0, "--configure-service exit status (%s)" % out)
        rc, out = wine(lbtest.BINARY, "--install-service", cfg)
        eq(rc, 1, "second --install-service exit status")
        contains(out, "already exists", "second --install-service message")
        rc, out = wine(lbtest.BINARY, "--uninstall-service")
        eq(rc, 0, "--uninstall-service exit status (%s)" % out)
        true(wine("sc", "query", "PumpkinLB")[0] != 0,
             "sc query fails after --uninstall-service")
        rc, out = wine(lbtest.BINARY, "--uninstall-service")
        eq(rc, 1, "second --uninstall-service exit status")
        contains(out, "not installed", "second --uninstall-service message")
    finally:
        remove_service("PumpkinLB")


@windows_only
def test_service_with_bad_config_fails_to_start():
    """A service whose config is invalid stops at start with
    ERROR_SERVICE_SPECIFIC_ERROR (1066) and the program's exit code 3, and
    its log says why (FILE:LINE and the bad value)."""
    work = tempfile.mkdtemp(prefix="lbsvc-")
    cfg = os.path.join(work, "bad.cfg")
    with open(cfg, "w") as f:
        f.write("[mappings]\n99999 = 127.0.0.1:9\n")
    name = "PumpkinLBBad"
    try:
        eq(wine("sc", "create", name, "binPath=", '"%s" --service "%s"'
                % (winpath(lbtest.BINARY), winpath(cfg)), "start=",
                "demand")[0], 0, "sc create exit status")
        wine("sc", "start", name)
        state = wait_state(name, 1, 20)
        eq(state, (1, 1066, 3), "(STATE, WIN32_EXIT_CODE, SERVICE_EXIT_CODE)")
        true(lbtest.wait_until(lambda: "'99999'" in service_log(), 5),
             "service log names the bad value",
             log_tail=service_log()[-800:])
        contains(service_log(), "bad.cfg:2:", "service log names FILE:LINE")
    finally:
        remove_service(name)


def installed(*parts):
    return drive_c(*parts)


def service_registry():
    rc, reg = wine("reg", "query", SERVICE_KEY)
    eq(rc, 0, "reg query %s" % SERVICE_KEY)
    return reg


def reg_value(reg, name):
    """The data of value name in `reg query` output, or None."""
    for line in reg.splitlines():
        fields = line.split(None, 2)
        if len(fields) == 3 and fields[0] == name:
            return fields[2].strip()
    return None


def check_configured(reg, preshutdown_ms):
    """What --configure-service leaves in the service's key that Wine
    stores: the command line with the exe's path quoted (Wine's msiexec
    writes it unquoted), the preshutdown timeout (the drain plus 5 s), the
    dependencies and the description. Wine accepts failure actions but stores nothing,
    and refuses delayed start, the failure-actions flag, the SID type and
    the privileges (ERROR_INVALID_LEVEL): those only a Windows host shows
    (tests/windows/check-service.ps1)."""
    true((reg_value(reg, "ImagePath") or "").startswith('"'),
         "ImagePath starts with the quoted exe path", key=reg)
    eq(reg_value(reg, "PreshutdownTimeout"), "0x%x" % preshutdown_ms,
       "PreshutdownTimeout (drain + 5 s) in\n" + reg)
    eq(reg_value(reg, "DependOnService"), "Tcpip\\0Afd",
       "DependOnService in\n" + reg)
    contains(reg_value(reg, "Description") or "", "Balances TCP",
             "Description")


def products_named(name):
    """How many installed products are called name (Uninstall keys)."""
    rc, out = wine("reg", "query", "HKLM\\Software\\Microsoft\\Windows\\"
                   "CurrentVersion\\Uninstall", "/s")
    return sum(1 for line in out.splitlines()
               if reg_value(line, "DisplayName") == name)


def hold_port(port, timeout=60):
    """A listener on 127.0.0.1:port held by this test. Another Wine prefix's
    MSI test may hold the port for a while (the default config's): wait
    for it, bounded."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen(1)
            return s
        except OSError as e:
            s.close()
            if time.monotonic() >= deadline:
                fail("cannot hold 127.0.0.1:%d for %ds: %s"
                     % (port, timeout, e))
            time.sleep(0.5)


def point_config_at(path, listen_port, backend_port):
    with open(path, "w", newline="\r\n") as f:
        f.write(lbtest.with_processes(
            "; edited by the test\n[mappings]\n127.0.0.1:%d = "
            "127.0.0.1:%d\n" % (listen_port, backend_port)))


def relays(port):
    """One request through the installed service: True if echoed."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.settimeout(10)
            s.sendall(b"through the service\n")
            return lbtest.recv_line(s) == b"through the service\n"
    except OSError:
        return False


def restart(name):
    wine("sc", "stop", name)
    eq(wait_state(name, 1, 15)[0], 1, "service stopped for the restart")
    eq(wine("sc", "start", name)[0], 0, "sc start exit status")
    eq(wait_state(name, 4, 20)[0], 4, "service running again")


@windows_only
def test_msi_install_upgrade_uninstall():
    """msiexec /i: service PumpkinLB exists and runs, exe and config are in
    place; pointed at a test backend and restarted it relays; a newer MSI
    over it keeps the edited config and still relays; msiexec /x removes
    the service and the program files."""
    true(MSI and os.path.isfile(MSI), "MSI to test not found", path=MSI)
    true(MSI_UPGRADE and os.path.isfile(MSI_UPGRADE),
         "newer MSI to test not found", path=MSI_UPGRADE)
    exe = installed("Program Files", "PumpkinLB", "pumpkinlb.exe")
    cfg = installed("ProgramData", "PumpkinLB", "pumpkinlb.cfg")
    backend = lbtest.Backend(lbtest.echo)
    port = lbtest.free_port()
    uninstall_with = MSI
    try:
        rc, out = wine("msiexec", "/i", winpath(MSI), "/qn", timeout=120)
        eq(rc, 0, "msiexec /i exit status (%s)" % out)
        eq(wait_state("PumpkinLB", 4, 20)[0], 4, "installed service runs")
        true(os.path.isfile(exe), "exe installed", path=exe)
        true(lbtest.wait_until(lambda: os.path.isfile(cfg), 10),
             "config created from the default", path=cfg)
        contains(open(cfg).read(), "127.0.0.1", "default config listens "
                 "on 127.0.0.1 only")
        point_config_at(cfg, port, backend.port)
        restart("PumpkinLB")
        true(lbtest.wait_until(lambda: relays(port), 15),
             "installed service relays to the test backend")
        edited = open(cfg, "rb").read()

        rc, out = wine("msiexec", "/i", winpath(MSI_UPGRADE), "/qn", timeout=120)
        eq(rc, 0, "msiexec /i (upgrade) exit status (%s)" % out)
        uninstall_with = MSI_UPGRADE
        eq(open(cfg, "rb").read(), edited, "edited config after upgrade")
        eq(wait_state("PumpkinLB", 4, 20)[0], 4, "service runs after upgrade")
        true(lbtest.wait_until(lambda: relays(port), 15),
             "upgraded service relays with the kept config")

        rc, out = wine("msiexec", "/x", winpath(uninstall_with), "/qn", timeout=120)
        eq(rc, 0, "msiexec /x exit status (%s)" % out)
        uninstall_with = None
        true(wine("sc", "query", "PumpkinLB")[0] != 0,
             "service gone after msiexec /x")
        true(not os.path.exists(exe), "exe removed", path=exe)
    finally:
        if uninstall_with:
            wine("msiexec", "/x", winpath(uninstall_with), "/qn", timeout=120)
        remove_service("PumpkinLB")
        backend.close()


@windows_only
def test_msi_installs_with_its_port_taken():
    """The default config listens on 127.0.0.1:8080; with that port taken,
    msiexec /i still succeeds (the start is not waited for): the service
    exists, stopped with ERROR_SERVICE_SPECIFIC_ERROR and exit status 4;
    the configure custom action ran (PreshutdownTimeout 11 s for the
    default 6 s drain, DependOnService, Description), made pumpkinlb.cfg
    from the default (an earlier install's is moved aside meanwhile) and
    the logs folder, and neither the config nor its
    folder is writable by others (under Wine a DACL is mode bits:
    Everyone-write is o+w)."""
    true(MSI and os.path.isfile(MSI), "MSI to test not found", path=MSI)
    data = installed("ProgramData", "PumpkinLB")
    cfg = os.path.join(data, "pumpkinlb.cfg")
    saved = cfg + ".lbtest-saved"
    if os.path.exists(cfg):  # an earlier install's, kept by design
        os.replace(cfg, saved)
    holder = hold_port(8080)
    installed_msi = False
    try:
        rc, out = wine("msiexec", "/i", winpath(MSI), "/qn", timeout=120)
        eq(rc, 0, "msiexec /i exit status with 8080 taken (%s)" % out)
        installed_msi = True
        true(os.path.isfile(installed("Program Files", "PumpkinLB",
                                      "pumpkinlb.exe")), "exe installed")
        eq(wait_state("PumpkinLB", 1, 20), (1, 1066, 4),
           "(STATE, WIN32_EXIT_CODE, SERVICE_EXIT_CODE): port in use")
        check_configured(service_registry(), 6000 + 5000)
        true(os.path.isfile(cfg), "pumpkinlb.cfg made from the default",
             path=cfg)
        true(os.path.isdir(os.path.join(data, "logs")), "logs folder")
        for path in (cfg, data):
            if lbtest.NATIVE:
                break  # ACLs: tests/windows/check-service.ps1 reads them
            mode = os.stat(path).st_mode
            eq(mode & 0o002, 0, "%s not writable by others (mode %s)"
               % (path, oct(mode)))
        rc, out = wine(installed("Program Files", "PumpkinLB",
                                 "pumpkinlb.exe"), "-t", winpath(cfg))
        eq(rc, 0, "the made config checks out (%s)" % out)
    finally:
        holder.close()
        if installed_msi:
            wine("msiexec", "/x", winpath(MSI), "/qn", timeout=120)
        remove_service("PumpkinLB")
        if os.path.exists(saved):
            os.replace(saved, cfg)


@windows_only
def test_msi_same_version_upgrade():
    """The same version built again (a new ProductCode) installs over the
    first: one PumpkinLB in the installed products, the service there
    and configured; a newer one replaces it, and the older one is then
    refused; msiexec /x leaves none."""
    for path in (MSI, MSI_SAME, MSI_UPGRADE):
        true(path and os.path.isfile(path), "MSI to test not found",
             path=path)
    uninstall = []
    try:
        for path in (MSI, MSI_SAME):
            rc, out = wine("msiexec", "/i", winpath(path), "/qn",
                           timeout=120)
            eq(rc, 0, "msiexec /i %s exit status (%s)" % (path, out))
            uninstall.append(path)
        eq(products_named("PumpkinLB"), 1, "installed PumpkinLB products "
           "after a same-version upgrade")
        check_configured(service_registry(), 6000 + 5000)
        rc, out = wine("msiexec", "/i", winpath(MSI_UPGRADE), "/qn",
                       timeout=120)
        eq(rc, 0, "msiexec /i of the newer version (%s)" % out)
        uninstall = [MSI_UPGRADE]
        rc, out = wine("msiexec", "/i", winpath(MSI), "/qn", timeout=120)
        true(rc != 0, "the older version is refused over the newer one",
             rc=rc, out=out)
        eq(products_named("PumpkinLB"), 1, "installed PumpkinLB products "
           "after the refused downgrade")
        rc, out = wine("msiexec", "/x", winpath(MSI_UPGRADE), "/qn",
                       timeout=120)
        eq(rc, 0, "msiexec /x exit status (%s)" % out)
        uninstall = []
        eq(products_named("PumpkinLB"), 0, "products after msiexec /x")
    finally:
        for path in reversed(uninstall):
            wine("msiexec", "/x", winpath(path), "/qn", timeout=120)
        remove_service("PumpkinLB")


def _start_service(name, cfg, text):
    """Writes cfg and starts service name on it; waits for RUNNING."""
    with open(cfg, "w") as f:
        f.write(text)
    create_and_start(name, cfg)


@windows_only
def test_service_stop_drains_every_loop():
    """processes = 2, four 3 s transfers under way (two a loop): sc stop;
    both loops drain theirs (their drain lines in the service log), every
    transfer completes whole, STOPPED with exit code 0."""
    chunks = [lbtest.pattern_bytes(32 * 1024, 40 + i) for i in range(30)]
    backend = lbtest.Backend(lbtest.slow_sender(chunks, 0.1))
    port = lbtest.free_port()
    cfg = os.path.join(tempfile.mkdtemp(prefix="lbsvc-"), "svc.cfg")
    name = "PumpkinLBLoops"
    results = [{} for _ in range(4)]
    log_start = len(service_log())
    try:
        _start_service(name, cfg, lbtest.mapping_config(
            port, [backend.port], options={"processes": 2}))
        true(lbtest.wait_until(lambda: lbtest.is_listening(port), 10),
             "service listens on its port", port=port)
        clients = [threading.Thread(target=transfer, args=(port, r))
                   for r in results]
        for c in clients:
            c.start()
        true(lbtest.wait_until(lambda: backend.accepted == 4, 15),
             "4 transfers under way", accepted=backend.accepted)
        time.sleep(0.3)
        eq(wine("sc", "stop", name)[0], 0, "sc stop exit status")
        state = wait_state(name, 1, 15)
        for c in clients:
            c.join(30)
        eq(state[:2], (1, 0), "(STATE, WIN32_EXIT_CODE) after sc stop")
        whole = hashlib.sha256(b"".join(chunks)).hexdigest()
        eq([hashlib.sha256(r.get("data", b"")).hexdigest() for r in results],
           [whole] * 4, "sha256 of each transfer")
        counts = lbtest.drain_counts(service_log()[log_start:])
        eq(sorted(counts), [0, 1], "loops that drained",)
        true(min(counts.values()) >= 1, "both loops had transfers",
             counts=counts)
    finally:
        remove_service(name)
        backend.close()


@windows_only
def test_service_reload_under_load_on_every_loop():
    """processes = 2: three client loops and transfers on each loop run
    through a PARAMCHANGE that moves the listener to another backend:
    parsed once, then taken over by both loops (each logs its old
    server's connections draining); no client fails, the transfers
    complete whole, the new backend serves."""
    b0 = lbtest.Backend(lbtest.line_reply("B0"))
    b1 = lbtest.Backend(lbtest.line_reply("B1"))
    chunks = [lbtest.pattern_bytes(32 * 1024, 70 + i) for i in range(20)]
    slow = lbtest.Backend(lbtest.slow_sender(chunks, 0.1))
    port, port2 = lbtest.free_ports(2)
    cfg = os.path.join(tempfile.mkdtemp(prefix="lbsvc-"), "svc.cfg")
    name = "PumpkinLBLoops"
    text = ("[options]\nprocesses = 2\n[mappings]\n127.0.0.1:%d = "
            "127.0.0.1:%%d\n127.0.0.1:%d = 127.0.0.1:%d\n"
            % (port, port2, slow.port))
    stop = threading.Event()
    stats = [{} for _ in range(3)]
    loops = [threading.Thread(target=_loop_clients, args=(port, st, stop))
             for st in stats]
    results = [{} for _ in range(4)]
    log_start = len(service_log())
    try:
        _start_service(name, cfg, text % b0.port)
        true(lbtest.wait_until(lambda: lbtest.is_listening(port2), 10),
             "service listens")
        transfers = [threading.Thread(target=transfer, args=(port2, r))
                     for r in results]
        for t in transfers:
            t.start()
        true(lbtest.wait_until(lambda: slow.accepted == 4, 15),
             "4 transfers under way (two a loop)", accepted=slow.accepted)
        for t in loops:
            t.start()
        true(lbtest.wait_until(lambda: all(st.get("B0", 0) >= 3
                                           for st in stats), 20),
             "the client loops run before the reload", stats=stats)
        with open(cfg + ".new", "w") as f:
            f.write(text % b1.port)
        os.replace(cfg + ".new", cfg)
        rc, out = wine(lbtest.BINARY, "--reload-service", name)
        eq(rc, 0, "--reload-service exit status (%s)" % out)
        true(lbtest.wait_until(lambda: all(st.get("B1", 0) >= 3
                                           for st in stats), 20),
             "every client loop reaches the new backend", stats=stats,
             log=service_log()[-1500:])
        stop.set()
        for t in transfers + loops:
            t.join(30)
        eq([st.get("failures", []) for st in stats], [[], [], []],
           "failed clients through the reload")
        whole = hashlib.sha256(b"".join(chunks)).hexdigest()
        eq([hashlib.sha256(r.get("data", b"")).hexdigest() for r in results],
           [whole] * 4, "sha256 of the transfers open across the reload")
        log = service_log()[log_start:]
        eq(log.count("Reloading configuration"), 1, "parsed once")
        retired = re.findall(r"Worker \d+ loop (\d): replaced by a reload",
                             log)
        eq(sorted(retired), ["0", "1"], "loops that took the reload over")
        eq(wine("sc", "stop", name)[0], 0, "sc stop exit status")
        eq(wait_state(name, 1, 15)[:2], (1, 0), "(STATE, WIN32_EXIT_CODE)")
    finally:
        stop.set()
        remove_service(name)
        for b in (b0, b1, slow):
            b.close()
