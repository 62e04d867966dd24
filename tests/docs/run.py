#!/usr/bin/env python3
"""Documentation tests: the docs users run from cannot rot.

    python3 tests/docs/run.py BINARY

- The manual pages (installer/man/pumpkinlb.8, pumpkinlb.cfg.5) render
  with `groff -man -Tutf8 -ww` and `man -l` without a warning, and list
  exactly what `BINARY --help` and `BINARY --help-config` print: the same
  options, the same config keys with the same defaults, the same sections,
  exit statuses and signals (plus the Windows-only options, taken from
  platform/win32/win32_main.c, in pumpkinlb.8).
- `make install DESTDIR=... PREFIX=...` installs the binary, the pages, the
  example config and the systemd unit; the installed pages open with
  `man -M`; the unit has the settings installer/README.md promises (a
  user of its own, CAP_NET_BIND_SERVICE only, the usual sandbox), passes
  `systemd-analyze verify` and, rated by `systemd-analyze security
  --offline` (systemd 250 or later, no running systemd needed; skipped and
  said so where it is older or missing), an exposure of at most 2.0; its
  ExecStartPre and ExecStart commands (as nobody, when run as root) start
  the balancer, which drains and exits 0 on the unit's KillSignal sent to
  every process of the group, as systemd does.
- Every tracked *.md file (`git ls-files '*.md'`): every fenced shell
  block carries a marker comment on the line before it:
  `<!-- docs-test: run -->` (run here; `run expect "TEXT"` also wants
  TEXT in its output), `<!-- docs-test: interrupt "TEXT" -->` (run until
  TEXT is printed, then Ctrl+C), `<!-- docs-test: ha NAME -->` (used by
  ha_test.py) or `<!-- docs-test: skip REASON -->` (not run, reason
  printed). Messages name FILE:LINE. The run blocks run file by file
  (README.md first, then the others in path order), in order, in one copy
  of the work tree (with its build/), from its top directory whichever
  file they are in, each with bash -e, a timeout and in its own process
  group, which is killed afterwards; as root, each in a private network
  namespace so fixed ports cannot collide with anything on the host.
- The relative links of those files lead to a file that exists (and to a
  heading in it, for `FILE.md#anchor`), and README.md leads to every
  tracked *.md file through them. README.md is at most 25 KiB: the front
  door, with the detail beside what it describes.
- ha_test.py: two balancers behind keepalived in network namespaces (root
  only; reported as not run otherwise), with the blocks marked `ha NAME`
  in whichever file holds them.

Prints PASS/FAIL/SKIP lines and `docs: N passed, N failed` (then
`, N skipped`). Exit status 0 only if nothing failed.

README.md's `make test` block is marked skip: CI runs exactly that
command (.ci/run), and running it here would run this test inside itself.
"""

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile

from ha_test import tree_pids  # pid and its descendants, from /proc
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MAN8 = os.path.join(REPO, "installer", "man", "pumpkinlb.8")
MAN5 = os.path.join(REPO, "installer", "man", "pumpkinlb.cfg.5")
UNIT = os.path.join(REPO, "installer", "pumpkinlb.service")
WIN_MAIN = os.path.join(REPO, "platform", "win32", "win32_main.c")

SHELL_LANGS = {"sh", "bash", "shell", "console", "bat", "cmd", "powershell",
               "ps1", "pwsh"}

RESULTS = []  # (status, name, detail); status PASS, FAIL or SKIP


def report(status, name, detail=""):
    RESULTS.append((status, name, detail))
    line = "%s %s" % (status, name)
    if detail:
        first, _, rest = detail.partition("\n")
        line += ": " + first
        if rest:
            line += "\n" + "\n".join("    " + l for l in rest.splitlines())
    print(line, flush=True)


def check(name, problems, ok_detail=""):
    if problems:
        report("FAIL", name, "\n".join(problems))
    else:
        report("PASS", name, ok_detail)


def run(args, timeout=60, **kw):
    return subprocess.run(args, capture_output=True, text=True,
                          timeout=timeout, **kw)


# ------------------------------------------------------------- roff parsing

def roff_text(s):
    """Plain text of a bit of roff: font escapes dropped, \\- and friends
    turned into what they print."""
    s = re.sub(r"\\f(\[[^\]]*\]|\(..|.)", "", s)
    s = s.replace("\\-", "-").replace("\\e", "\\").replace("\\(aq", "'")
    s = s.replace("\\(em", "--").replace("\\ ", " ").replace("\\~", " ")
    s = s.replace("\\&", "").replace("\\|", "")
    return s


def macro_line_text(line):
    """The text a font macro line (.B, .BR, .IR, ...) prints."""
    m = re.match(r"^\.(BR|RB|BI|IB|IR|RI|SM|SB|B|I|R)(?:\s+(.*))?$", line)
    if not m:
        return roff_text(line)
    # roff arguments: "quoted, with "" for a quote" or words
    args = [q.replace('""', '"') if q or w == "" else w
            for q, w in re.findall(r'"((?:[^"]|"")*)"|(\S+)',
                                   m.group(2) or "")]
    sep = " " if m.group(1) in ("B", "I", "R", "SM", "SB") else ""
    return roff_text(sep.join(args))


def man_sections(path):
    """{section title: [lines]} for .SH, and for .SS as 'SH/SS'."""
    out, sh, cur = {}, None, None
    for line in open(path, encoding="utf-8").read().splitlines():
        if line.startswith(".SH "):
            sh = roff_text(line[4:].strip().strip('"'))
            cur = out.setdefault(sh, [])
        elif line.startswith(".SS "):
            ss = roff_text(line[4:].strip().strip('"'))
            cur = out.setdefault("%s/%s" % (sh, ss), [])
        elif cur is not None:
            cur.append(line)
    return out


def tags(lines):
    """The tag text of every .TP paragraph in these lines."""
    out = []
    for i, line in enumerate(lines):
        if line.strip() == ".TP" and i + 1 < len(lines):
            out.append(macro_line_text(lines[i + 1]).strip())
    return out


# ------------------------------------------------------ the manual pages

def check_render():
    for page in (MAN8, MAN5):
        name = "man page %s renders" % os.path.basename(page)
        if not shutil.which("groff") or not shutil.which("man"):
            report("FAIL", name, "groff or man is missing: apt-get install "
                   "groff-base man-db (make docs-deps does it as root)")
            continue
        problems = []
        g = run(["groff", "-man", "-Tutf8", "-ww", page])
        if g.returncode != 0 or g.stderr.strip():
            problems.append("groff -man -Tutf8 -ww: status %d, stderr:\n%s"
                            % (g.returncode, g.stderr.strip()))
        env = dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat")
        m = run(["man", "--warnings", "-l", page], env=env)
        if m.returncode != 0 or m.stderr.strip():
            problems.append("man --warnings -l: status %d, stderr:\n%s"
                            % (m.returncode, m.stderr.strip()))
        if "NAME" not in m.stdout or "pumpkinlb" not in m.stdout:
            problems.append("man -l printed no NAME section")
        check(name, problems)


def help_options(text):
    """Options listed in a usage text: indented lines starting with -X,
    with their aliases after a comma ("--help, -h")."""
    out = set()
    for m in re.finditer(r"^ {2,}(--?[A-Za-z][-A-Za-z]*(?:, --?[A-Za-z][-A-Za-z]*)*)",
                         text, re.M):
        out.update(m.group(1).split(", "))
    return out


def c_string_literals_of(path, func):
    """The concatenated string literals returned by FUNC in a C file."""
    src = open(path, encoding="utf-8").read()
    m = re.search(r"\n%s\(void\)\n\{(.*?)\n\}" % re.escape(func), src, re.S)
    if not m:
        return ""
    lits = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))
    return "".join(lits).replace("\\n", "\n").replace("\\\\", "\\")


def check_options(binary):
    h = run([binary, "--help"])
    problems = []
    if h.returncode != 0:
        problems.append("--help exited %d" % h.returncode)
    posix = help_options(h.stdout)
    win = help_options(c_string_literals_of(WIN_MAIN, "lb_platform_usage")) \
        if os.path.exists(WIN_MAIN) else set()
    secs = man_sections(MAN8)
    man_opts = set()
    for title, lines in secs.items():
        if title.startswith("OPTIONS"):
            for t in tags(lines):
                # ".BR \-\-help , \-h": an option and its aliases
                man_opts.update(re.findall(r"(?:^|, )(--?[A-Za-z][-A-Za-z]*)", t))
    for o in sorted(posix | win):
        if o not in man_opts:
            problems.append("%s is in --help%s but not under OPTIONS in "
                            "pumpkinlb.8" % (o, "" if o in posix else
                                             " (Windows)"))
    for o in sorted(man_opts - posix - win):
        problems.append("%s is in pumpkinlb.8 but not in --help" % o)
    # Exit statuses and signals.
    m = re.search(r"Exit status:\s*\n(.*?)(\n\s*\n|\Z)", h.stdout, re.S)
    help_codes = set(re.findall(r"\b(\d) [a-z]", m.group(1))) if m else set()
    man_codes = set(tags(secs.get("EXIT STATUS", [])))
    if not help_codes:
        problems.append("no exit statuses found in --help")
    if help_codes != man_codes:
        problems.append("exit statuses: --help %s, pumpkinlb.8 %s"
                        % (sorted(help_codes), sorted(man_codes)))
    help_sigs = set(re.findall(r"\bSIG[A-Z]+", h.stdout))
    man_sigs = set(re.findall(r"\bSIG[A-Z]+",
                              " ".join(tags(secs.get("SIGNALS", [])))))
    for s in sorted(help_sigs - man_sigs):
        problems.append("%s is in --help but not under SIGNALS" % s)
    check("pumpkinlb.8 lists exactly the options of --help", problems,
          "%d options (%s), exit statuses %s, signals %s"
          % (len(man_opts), " ".join(sorted(man_opts)),
             ",".join(sorted(man_codes)), ",".join(sorted(man_sigs))))


def check_config_keys(binary):
    h = run([binary, "--help-config"])
    problems = []
    if h.returncode != 0:
        problems.append("--help-config exited %d" % h.returncode)
    lines = h.stdout.splitlines()
    help_sections = [lines[i] for i in range(len(lines) - 1)
                     if re.match(r"^\[[^\]]+\]$", lines[i])
                     and re.match(r"^-+$", lines[i + 1])]
    help_keys = [re.sub(r"\s+", " ", l) for l in lines
                 if re.match(r"^[a-z_][a-z0-9_:]* = \S", l)]
    secs = man_sections(MAN5)
    desc = [t.split("/", 1)[1] for t in secs if t.startswith("DESCRIPTION/")]
    man_keys = []
    for title, body in secs.items():
        if title.startswith("DESCRIPTION/"):
            man_keys += [re.sub(r"\s+", " ", t) for t in tags(body)]
    if help_sections != desc:
        problems.append("sections: --help-config %s, pumpkinlb.cfg.5 %s"
                        % (help_sections, desc))
    for k in help_keys:
        if k not in man_keys:
            problems.append("'%s' is in --help-config but not in "
                            "pumpkinlb.cfg.5" % k)
    for k in man_keys:
        if k not in help_keys:
            problems.append("'%s' is in pumpkinlb.cfg.5 but not in "
                            "--help-config" % k)
    if not help_keys:
        problems.append("no keys found in --help-config")
    names = sorted({k.split(" = ")[0] for k in help_keys})
    check("pumpkinlb.cfg.5 lists exactly the sections and keys (with "
          "defaults) of --help-config", problems,
          "%d sections, %d keys: %s" % (len(desc), len(names),
                                        " ".join(names)))


# ------------------------------------------------ install and systemd unit

def unit_settings(path):
    out = {}
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def kill_group(proc, grace=3.0):
    """SIGTERM, then SIGKILL, to the process group of a session leader we
    started; bounded in time."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.time() + grace
        gone = False
        while time.time() < deadline and not gone:
            proc.poll()
            try:
                os.killpg(proc.pid, 0)
                time.sleep(0.05)
            except ProcessLookupError:
                gone = True
        if gone:
            break
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


# Exposure systemd-analyze security may rate the unit at most (1.5 when
# written); 2.0 is its "OK".
UNIT_EXPOSURE_MAX = 2.0


def as_service_user():
    """preexec_fn: as root, become nobody, as the unit's DynamicUser= runs
    it (not root); otherwise stay."""
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)


def unit_sandbox_problems(s):
    """What issue 19 asks of the unit: a user of its own, one capability,
    the usual sandbox."""
    want = {"DynamicUser": "yes", "NoNewPrivileges": "yes",
            "ProtectSystem": "strict", "PrivateTmp": "yes",
            "ProtectHome": "yes", "PrivateDevices": "yes",
            "AmbientCapabilities": "CAP_NET_BIND_SERVICE",
            "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
            "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX"}
    problems = ["%s is %r, not %r" % (k, s.get(k, [None])[0], v)
                for k, v in want.items() if s.get(k, [None])[0] != v]
    if s.get("User", ["root"])[0] in ("root", "0"):
        problems.append("User is not a user of its own")
    return problems


def unit_security(unit):
    """systemd-analyze security --offline (systemd 250 or later; it needs
    no running systemd): ([problem], note)."""
    threshold = str(int(UNIT_EXPOSURE_MAX * 10))
    r = run(["systemd-analyze", "security", "--offline=true",
             "--threshold=" + threshold, "--no-pager", unit], timeout=60)
    out = (r.stdout + r.stderr).strip()
    level = re.search(r"Overall exposure level for \S+: ([\d.]+)", out)
    if level is None:
        return [], "systemd-analyze security --offline not available here"
    if r.returncode != 0 or float(level.group(1)) > UNIT_EXPOSURE_MAX:
        return ["systemd-analyze security rates the unit %s (at most %.1f "
                "allowed):\n%s" % (level.group(1), UNIT_EXPOSURE_MAX,
                                   out[-3000:])], ""
    return [], "systemd-analyze security: exposure %s" % level.group(1)


def check_install_and_unit(binary, tmp):
    stage = os.path.join(tmp, "stage")
    prefix = "/opt/pumpkinlb-test"
    build = os.path.dirname(os.path.abspath(binary))
    r = run(["make", "-C", REPO, "--no-print-directory", "install",
             "DESTDIR=" + stage, "PREFIX=" + prefix, "BUILD=" + build],
            timeout=600)
    root = stage + prefix
    want = {"sbin/pumpkinlb": 0o755,
            "share/man/man8/pumpkinlb.8": 0o644,
            "share/man/man5/pumpkinlb.cfg.5": 0o644,
            "share/doc/pumpkinlb/pumpkinlb.cfg": 0o644,
            "share/doc/pumpkinlb/README.md": 0o644,
            "lib/systemd/system/pumpkinlb.service": 0o644}
    problems = []
    if r.returncode != 0:
        problems.append("make install failed (%d):\n%s%s"
                        % (r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
    for rel, mode in want.items():
        p = os.path.join(root, rel)
        if not os.path.isfile(p):
            problems.append("not installed: $(PREFIX)/" + rel)
        elif os.stat(p).st_mode & 0o777 != mode:
            problems.append("$(PREFIX)/%s has mode %o, not %o"
                            % (rel, os.stat(p).st_mode & 0o777, mode))
    unit = os.path.join(root, "lib/systemd/system/pumpkinlb.service")
    if os.path.isfile(unit) and (prefix + "/sbin/pumpkinlb") not in \
            open(unit).read():
        problems.append("the installed unit does not run $(PREFIX)/sbin/"
                        "pumpkinlb")
    if shutil.which("man") and not problems:
        env = dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat")
        for sect, page in (("8", "pumpkinlb"), ("5", "pumpkinlb.cfg")):
            m = run(["man", "-M", os.path.join(root, "share/man"), sect,
                     page], env=env)
            if m.returncode != 0 or "NAME" not in m.stdout:
                problems.append("man -M ... %s %s failed: %s"
                                % (sect, page, m.stderr.strip()))
    check("make install DESTDIR= PREFIX= installs binary, pages, example "
          "config and unit", problems, "under " + prefix)

    # The unit's promises (installer/README.md, "Linux service").
    s = unit_settings(UNIT)
    problems = []

    def one(key):
        return s.get(key, [""])[0]
    if one("Type") != "simple":
        problems.append("Type is not simple")
    if one("ExecStart") != \
            "/usr/local/sbin/pumpkinlb /etc/pumpkinlb/pumpkinlb.cfg":
        problems.append("ExecStart is %r" % one("ExecStart"))
    if "-t" not in one("ExecStartPre").split():
        problems.append("ExecStartPre does not check with -t")
    if one("KillSignal") != "SIGTERM":
        problems.append("KillSignal is not SIGTERM")
    try:
        if float(one("TimeoutStopSec")) <= 6:
            problems.append("TimeoutStopSec is not beyond the 6 s drain")
    except ValueError:
        problems.append("TimeoutStopSec is not a number of seconds")
    if one("Restart") != "on-failure":
        problems.append("Restart is not on-failure")
    if one("ExecReload") != "/bin/kill -HUP $MAINPID":
        problems.append("ExecReload is %r, not a SIGHUP to the main "
                        "process" % one("ExecReload"))
    if s.get("KillMode", ["control-group"])[0] != "control-group":
        problems.append("KillMode is not control-group")
    problems += unit_sandbox_problems(s)
    verified = "systemd-analyze not installed"
    port = free_port()
    # The unit runs as a user of its own: as root, run its commands as
    # nobody, who must be able to read the config.
    os.chmod(tmp, 0o755)
    cfg = os.path.join(tmp, "unit.cfg")
    with open(cfg, "w") as f:
        f.write("[options]\ngraceful_shutdown_timeout = 6\n[mappings]\n"
                "127.0.0.1:%d = 127.0.0.1:%d\n" % (port, free_port()))
    os.chmod(cfg, 0o644)
    abs_bin = os.path.abspath(binary)

    def local(cmd):
        return cmd.replace("/usr/local/sbin/pumpkinlb", abs_bin) \
                  .replace("/etc/pumpkinlb/pumpkinlb.cfg", cfg)
    if shutil.which("systemd-analyze"):
        vunit = os.path.join(tmp, "pumpkinlb.service")
        with open(vunit, "w") as f:
            f.write(local(open(UNIT).read()))
        v = run(["systemd-analyze", "verify", "--man=no", vunit],
                timeout=60)
        out = (v.stdout + v.stderr).strip()
        # Complaints about the host (no systemd running, other units) are
        # not ours; lines naming our unit are.
        ours = [l for l in out.splitlines() if "pumpkinlb.service" in l]
        if v.returncode != 0 and ours:
            problems.append("systemd-analyze verify:\n" + out)
        else:
            verified = "systemd-analyze verify clean"
        sec_problem, sec_note = unit_security(vunit)
        problems += sec_problem
        verified += "; " + sec_note
    pre = run(shlex.split(local(one("ExecStartPre"))),
              preexec_fn=as_service_user)
    if pre.returncode != 0:
        problems.append("ExecStartPre exited %d: %s"
                        % (pre.returncode, pre.stderr.strip()))
    pids = []
    proc = subprocess.Popen(shlex.split(local(one("ExecStart"))),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True,
                            preexec_fn=as_service_user)
    try:
        import socket
        deadline = time.time() + 10
        up = False
        while time.time() < deadline and not up:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                up = True
            except OSError:
                time.sleep(0.05)
        if not up:
            problems.append("ExecStart did not listen on 127.0.0.1:%d" % port)
        time.sleep(0.3)  # let the workers start
        reload_cmd = one("ExecReload").replace("$MAINPID", str(proc.pid))
        r = run(shlex.split(reload_cmd))
        if r.returncode != 0:
            problems.append("ExecReload exited %d" % r.returncode)
        time.sleep(0.5)  # the new workers replace the old ones
        try:
            socket.create_connection(("127.0.0.1", port), 2).close()
        except OSError as e:
            problems.append("not listening after ExecReload: %s" % e)
        pids = tree_pids(proc.pid)
        for p in pids:  # control-group kill: every process of the unit
            try:
                os.kill(p, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            rc = proc.wait(timeout=float(one("TimeoutStopSec") or 30))
            out = proc.stdout.read()
            if rc != 0:
                problems.append("exit status %d after SIGTERM to every "
                                "process of the group:\n%s" % (rc, out))
            if "Reloaded " not in out:
                problems.append("no 'Reloaded' line after ExecReload:\n%s"
                                % out)
        except subprocess.TimeoutExpired:
            problems.append("still running TimeoutStopSec after SIGTERM")
    finally:
        kill_group(proc)
    check("systemd unit: settings, ExecStartPre/ExecStart run, ExecReload "
          "reloads, control-group SIGTERM drains to exit 0", problems,
          "%s; %d processes stopped" % (verified, len(pids)))


# ------------------------------------------------- the shell blocks of *.md

def md_files():
    """The tracked Markdown files, README.md first, then in path order."""
    r = run(["git", "-C", REPO, "ls-files", "-z", "*.md"])
    if r.returncode != 0:
        raise RuntimeError("git ls-files failed: %s" % r.stderr.strip())
    files = sorted(f for f in r.stdout.split("\0") if f)
    return sorted(files, key=lambda f: f != "README.md")


def md_blocks(rel):
    """[(line, lang, marker or None, text)] for every fenced block of the
    file REL (relative to the top of the tree)."""
    path = os.path.join(REPO, rel)
    lines = open(path, encoding="utf-8").read().splitlines()
    out, i = [], 0
    while i < len(lines):
        m = re.match(r"^```(\S*)", lines[i])
        if m:
            start, lang = i + 1, m.group(1).lower()
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            k = i - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            mk = re.match(r"^<!--\s*docs-test:\s*(.*?)\s*-->\s*$",
                          lines[k]) if k >= 0 else None
            out.append((start, lang, mk.group(1) if mk else None,
                        "\n".join(lines[i + 1:j]) + "\n"))
            i = j + 1
        else:
            i += 1
    return out


def all_blocks(files):
    """[(file, line, lang, marker or None, text)] over FILES."""
    return [(f,) + b for f in files for b in md_blocks(f)]


def ha_blocks(blocks):
    """{NAME: text} of the blocks marked `ha NAME`, in whichever file."""
    return {m.split(None, 1)[1].strip(): text
            for _, _, _, m, text in blocks
            if m and m.split()[0] == "ha" and len(m.split()) > 1}


def md_prose(rel):
    """[(line, text)] of the file REL outside fenced blocks."""
    out, fence = [], False
    path = os.path.join(REPO, rel)
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        if line.startswith("```"):
            fence = not fence
        elif not fence:
            out.append((n, line.rstrip("\n")))
    return out


def md_anchors(rel):
    """The anchors GitHub makes for the headings of REL."""
    seen, out = {}, set()
    for _, line in md_prose(rel):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else "%s-%d" % (slug, n))
    return out


LINK = re.compile(r"\]\(([^)\s]+)\)")


def link_problems(files):
    """Relative links that lead nowhere (no such file, or no such heading
    in a .md file), and tracked .md files README.md does not lead to."""
    problems, edges = [], {f: set() for f in files}
    for f in files:
        for n, line in md_prose(f):
            for target in LINK.findall(line):
                if re.match(r"^[a-z]+:", target):
                    continue  # https:, mailto:
                path, _, anchor = target.partition("#")
                rel = os.path.normpath(os.path.join(os.path.dirname(f), path)) \
                    if path else f
                if not os.path.exists(os.path.join(REPO, rel)):
                    problems.append("%s:%d: %s: no such file" % (f, n, target))
                    continue
                if anchor and rel.endswith(".md") and \
                        anchor not in md_anchors(rel):
                    problems.append("%s:%d: %s: no heading #%s in %s"
                                    % (f, n, target, anchor, rel))
                if rel in edges:
                    edges[f].add(rel)
    reached, todo = set(), ["README.md"] if "README.md" in edges else []
    while todo:
        f = todo.pop()
        if f not in reached:
            reached.add(f)
            todo.extend(edges[f] - reached)
    for f in files:
        if f not in reached:
            problems.append("%s: no link leads to it from README.md" % f)
    return problems


def check_md_links(files):
    check("relative links in the tracked *.md files resolve, and README.md "
          "leads to every one of them", link_problems(files),
          "%d files" % len(files))


# README.md is the front door: what it is, the two commands, the essentials
# and links; the detail lives beside what it describes.
README_MAX_BYTES = 25 * 1024


def check_readme_size():
    size = os.path.getsize(os.path.join(REPO, "README.md"))
    check("README.md is at most %d bytes" % README_MAX_BYTES,
          ["README.md has %d bytes: move detail to the README beside what "
           "it describes" % size] if size > README_MAX_BYTES else [],
          "%d bytes" % size)


# A run or interrupt block must not start this test again (make test runs
# it): README.md's `make test` block is marked skip for that reason.
RECURSES = re.compile(r"\bmake\b[^\n#;&|]*\s(test|docs-test)(?![\w-])|"
                      r"tests/docs/run\.py")


def marker_problems(blocks):
    problems, ha_seen = [], {}
    for f, line, lang, marker, text in blocks:
        where = "%s:%d" % (f, line)
        if lang in SHELL_LANGS and marker is None:
            problems.append("%s: a %s block without a <!-- docs-test: ... "
                            "--> marker" % (where, lang))
        if not marker:
            continue
        words = marker.split()
        if words[0] not in ("run", "interrupt", "ha", "skip"):
            problems.append("%s: unknown marker %r" % (where, marker))
        elif words[0] in ("run", "interrupt") and RECURSES.search(text):
            problems.append("%s: a %s block that runs the docs test itself "
                            "(make test, make docs-test): mark it skip"
                            % (where, words[0]))
        elif words[0] == "ha" and len(words) > 1:
            name = marker.split(None, 1)[1].strip()
            if name in ha_seen:
                problems.append("%s: ha block %r again (first at %s)"
                                % (where, name, ha_seen[name]))
            ha_seen.setdefault(name, where)
    return problems


def copy_tree(dst):
    """The work tree as git sees it (tracked and new files, not ignored
    ones) plus build/, with modification times kept so make sees the
    build as up to date."""
    r = run(["git", "-C", REPO, "ls-files", "-co", "--exclude-standard",
             "-z"])
    # Build directories (build/, build-asan/, ...) are not sources.
    files = [f for f in r.stdout.split("\0")
             if f and not f.split("/")[0].startswith("build")]
    for f in files:
        src = os.path.join(REPO, f)
        if not os.path.isfile(src):
            continue
        d = os.path.join(dst, f)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        shutil.copy2(src, d)
    if os.path.isdir(os.path.join(REPO, "build")):
        shutil.copytree(os.path.join(REPO, "build"),
                        os.path.join(dst, "build"), symlinks=True)


def run_block(tree, tmp, n, text, mode, timeout):
    """Runs one block; returns (ok, detail)."""
    script = os.path.join(tmp, "block%d.sh" % n)
    with open(script, "w") as f:
        f.write(text)
    cmd = ["bash", "-e", "-o", "pipefail", script]
    if os.geteuid() == 0 and shutil.which("unshare") and shutil.which("ip"):
        cmd = ["unshare", "--net", "sh", "-c",
               'ip link set lo up && exec "$@"', "sh"] + cmd
    # As a user's shell has it: not the make variables (SANITIZE=1, -j)
    # of the `make test` or `make docs-test` that runs this.
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    env.update(MANPAGER="cat", PAGER="cat", MANWIDTH="80")
    log = open(os.path.join(tmp, "block%d.log" % n), "w+")
    proc = subprocess.Popen(cmd, cwd=tree, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env, start_new_session=True)
    ok, detail = False, ""
    t0 = time.time()
    try:
        if mode[0] == "interrupt":
            want = mode[1]
            seen = False
            while time.time() - t0 < timeout and proc.poll() is None:
                log.seek(0)
                if want in log.read():
                    seen = True
                    break
                time.sleep(0.1)
            if seen:
                time.sleep(0.3)
                os.killpg(proc.pid, signal.SIGINT)  # Ctrl+C in a terminal
                try:
                    proc.wait(timeout=20)
                    ok = True
                    detail = "printed %r, stopped by Ctrl+C" % want
                except subprocess.TimeoutExpired:
                    detail = "did not stop within 20 s of Ctrl+C"
            else:
                detail = "never printed %r" % want
        else:
            try:
                rc = proc.wait(timeout=timeout)
                ok = rc == 0
                detail = "exit status %d" % rc
                log.seek(0)
                text_out = log.read()
                for want in mode[1:]:
                    if want in text_out:
                        detail += ", printed %r" % want
                    else:
                        ok = False
                        detail += ", never printed %r" % want
            except subprocess.TimeoutExpired:
                detail = "timed out after %d s" % timeout
    finally:
        kill_group(proc)
        log.seek(0)
        output = log.read()
        log.close()
    detail += " (%.1fs)" % (time.time() - t0)
    if not ok:
        detail += "\n" + "\n".join(output.splitlines()[-40:])
    return ok, detail


def check_md_blocks(tmp, files, blocks):
    check("every shell block of the tracked *.md files is marked run, "
          "interrupt, ha or skip", marker_problems(blocks),
          "%d files (%s), %d blocks, %d shell blocks" %
          (len(files), " ".join(files), len(blocks),
           sum(1 for b in blocks if b[2] in SHELL_LANGS)))

    for f, line, lang, marker, _ in blocks:
        if marker and marker.split()[0] == "skip":
            report("SKIP", "%s:%d (%s)" % (f, line, lang),
                   marker.split(None, 1)[1] if len(marker.split()) > 1
                   else "no reason given")

    tree = os.path.join(tmp, "tree")
    copy_tree(tree)
    n = 0
    for f, line, lang, marker, text in blocks:
        if not marker:
            continue
        words = marker.split(None, 1)
        if words[0] == "run":
            # run [expect "TEXT"]...: each TEXT must be in the output
            rest = shlex.split(words[1]) if len(words) > 1 else []
            mode = ("run",) + tuple(rest[i + 1] for i in
                                    range(0, len(rest) - 1, 2)
                                    if rest[i] == "expect")
        elif words[0] == "interrupt":
            mode = ("interrupt", shlex.split(words[1])[0])
        else:
            continue
        if RECURSES.search(text):
            continue  # reported above
        n += 1
        first = text.strip().splitlines()[0] if text.strip() else ""
        ok, detail = run_block(tree, tmp, n, text, mode, 180)
        report("PASS" if ok else "FAIL",
               "%s:%d %s: %s" % (f, line, words[0], first[:60]), detail)


# ---------------------------------------------------------------- main

def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    binary = argv[1]
    if not os.access(binary, os.X_OK):
        print("FAIL %s is not an executable" % binary)
        print("docs: 0 passed, 1 failed")
        return 1
    t0 = time.time()
    tmp = tempfile.mkdtemp(prefix="pumpkinlb-docs-")
    try:
        try:
            files = md_files()
            blocks = all_blocks(files)
        except Exception as e:  # no git, an unreadable file
            report("FAIL", "the tracked *.md files", str(e))
            files, blocks = [], []
        for fn, args in ((check_render, ()), (check_options, (binary,)),
                         (check_config_keys, (binary,)),
                         (check_install_and_unit, (binary, tmp)),
                         (check_md_links, (files,)),
                         (check_readme_size, ()),
                         (check_md_blocks, (tmp, files, blocks))):
            try:
                fn(*args)
            except Exception as e:  # a crash in a check is a failure
                import traceback
                report("FAIL", fn.__name__, "%s\n%s" %
                       (e, traceback.format_exc()))
        sys.path.insert(0, HERE)
        import ha_test
        try:
            ha_test.main(binary, ha_blocks(blocks), report)
        except Exception as e:
            import traceback
            report("FAIL", "high availability", "%s\n%s" %
                   (e, traceback.format_exc()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    passed = sum(1 for r in RESULTS if r[0] == "PASS")
    failed = sum(1 for r in RESULTS if r[0] == "FAIL")
    skipped = sum(1 for r in RESULTS if r[0] == "SKIP")
    print("(docs suite took %.1fs)" % (time.time() - t0))
    print("docs: %d passed, %d failed%s" %
          (passed, failed, ", %d skipped" % skipped if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
