"""Command line: --help, --help-config, --version, -t, usage errors."""

import re

import lbtest
from lbtest import contains, eq, true


def test_help():
    """--help prints usage on stdout and exits 0."""
    rc, out, err = lbtest.run_binary(["--help"])
    eq(rc, 0, "--help exit status")
    true(re.search(r"usage", out, re.I), "--help prints usage on stdout",
         stdout=out, stderr=err)


def test_help_config():
    """--help-config exits 0 and documents buffer_size and
    pre_resolve_workers."""
    rc, out, err = lbtest.run_binary(["--help-config"])
    eq(rc, 0, "--help-config exit status")
    contains(out, "buffer_size", "--help-config stdout")
    contains(out, "pre_resolve_workers", "--help-config stdout")


def test_version():
    """--version prints 'PumpkinLB' and a version number, exit 0."""
    rc, out, err = lbtest.run_binary(["--version"])
    eq(rc, 0, "--version exit status")
    contains(out, "PumpkinLB", "--version stdout")
    true(re.search(r"\d+\.\d+", out), "--version prints a version number",
         stdout=out)


def test_check_config_ok():
    """-t on a valid config says ok, exits 0 and leaves nothing
    listening."""
    with lbtest.Scope() as s:
        port, b1 = lbtest.free_ports(2)
        path = s.path("good.cfg")
        with open(path, "w") as f:
            f.write(lbtest.mapping_config(port, [b1]))
        rc, out, err = lbtest.run_binary(["-t", path])
        eq(rc, 0, "-t on a valid config: exit status")
        true(re.search(r"\bok\b", out + err, re.I),
             "-t on a valid config prints 'ok'", stdout=out, stderr=err)
        true(not lbtest.is_listening(port),
             "-t must not leave 127.0.0.1:%d listening" % port)


def test_check_config_bad():
    """-t on an invalid config exits non-zero (3) with FILE:LINE."""
    with lbtest.Scope() as s:
        path = s.path("bad.cfg")
        with open(path, "w") as f:
            f.write("[mappings]\n127.0.0.1:65536=127.0.0.1:80\n")
        rc, out, err = lbtest.run_binary(["-t", path])
        true(rc != 0, "-t on an invalid config exits non-zero",
             status=rc, stdout=out, stderr=err)
        eq(rc, 3, "-t on an invalid config: exit status")
        contains(err, "bad.cfg:2:", "-t stderr names FILE:LINE")


def _usage_error(args, what):
    rc, out, err = lbtest.run_binary(args)
    eq(rc, 2, "%s: exit status" % what)
    true(re.search(r"usage", err, re.I), "%s: usage on stderr" % what,
         stdout=out, stderr=err)


def test_too_many_arguments():
    """Too many arguments: usage on stderr, exit 2."""
    with lbtest.Scope() as s:
        path = s.path("x.cfg")
        with open(path, "w") as f:
            f.write(lbtest.mapping_config(lbtest.free_port(), [1234]))
        _usage_error([path, path, "extra"], "three arguments")


def test_unknown_option():
    """An unknown option: usage on stderr, exit 2."""
    _usage_error(["--no-such-option"], "unknown option")


def test_no_arguments():
    """No config file argument: usage on stderr, exit 2."""
    _usage_error([], "no arguments")
