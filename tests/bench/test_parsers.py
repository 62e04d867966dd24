#!/usr/bin/env python3
"""Unit tests of the benchmark suite's parsers and summary (no network):
    python3 tests/bench/test_parsers.py"""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers     # noqa: E402
import procs     # noqa: E402
import report    # noqa: E402
from workloads import latency_ms, parse_iperf_csv, parse_wrk  # noqa: E402

WRK = """Running 2s test @ http://127.0.0.1:18700/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.61ms    2.01ms  30.32ms   84.21%
    Req/Sec     9.32k   611.57    10.13k    70.00%
  Latency Distribution
     50%    3.46ms
     75%    4.37ms
     90%    5.71ms
     99%   10.50ms
  18550 requests in 2.00s, 4.47MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 1
Requests/sec:   9275.12
Transfer/sec:      2.24MB
"""

IPERF8 = """20261124234100,127.0.0.1,41000,127.0.0.1,18700,3,0.0-2.0,700000000,2800000000
20261124234100,127.0.0.1,41002,127.0.0.1,18700,4,0.0-2.0,800000000,3200000000
20261124234100,127.0.0.1,0,127.0.0.1,18700,-1,0.0-2.0,1500000000,6000000000
"""


SNMP = """Ip: Forwarding DefaultTTL InReceives
Ip: 1 64 100
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
Tcp: 1 200 120000 -1 10 10 0 0 2 5000 4321 0 0 3 0
Udp: InDatagrams NoPorts
Udp: 1 2
"""


class Parsers(unittest.TestCase):
    def test_tcp_outsegs(self):
        self.assertEqual(procs.parse_tcp_outsegs(SNMP), 4321)
        self.assertIsNone(procs.parse_tcp_outsegs("Ip: a\nIp: 1\n"))
        self.assertIsInstance(procs.tcp_outsegs(), (int, type(None)))

    def test_cpu_ticks(self):
        stat = ("cpu  30 0 30 130 10 0 0 0 0 0\n"
                "cpu0 10 0 20 60 10 0 5 0 0 0\n"
                "cpu1 20 0 10 70 0 0 0 0 0 0\nintr 1 2\n")
        self.assertEqual(procs.parse_cpu_ticks(stat, [0]), (35, 105))
        self.assertEqual(procs.parse_cpu_ticks(stat, [0, 1]), (65, 205))
        self.assertIsNone(procs.parse_cpu_ticks(stat, [2]))
        self.assertEqual(procs.cpu_list("0-2,5"), [0, 1, 2, 5])
        self.assertAlmostEqual(procs.busy_percent((35, 105), (65, 145)), 75.0)
        self.assertIsNone(procs.busy_percent(None, (65, 145)))

    def test_latency_units(self):
        self.assertAlmostEqual(latency_ms("850.00us"), 0.85)
        self.assertAlmostEqual(latency_ms("3.46ms"), 3.46)
        self.assertAlmostEqual(latency_ms("1.02s"), 1020.0)
        self.assertIsNone(latency_ms("?"))

    def test_wrk(self):
        w = parse_wrk(WRK)
        self.assertAlmostEqual(w["rps"], 9275.12)
        self.assertEqual(w["requests"], 18550)
        self.assertAlmostEqual(w["p50_ms"], 3.46)
        self.assertAlmostEqual(w["p99_ms"], 10.5)
        self.assertEqual(w["errors"], 5)
        self.assertEqual(w["non2xx"], 1)

    def test_wrk_failed(self):
        self.assertNotIn("rps", parse_wrk("unable to connect to 127.0.0.1:1 Connection refused"))

    def test_iperf_sum_line(self):
        self.assertEqual(parse_iperf_csv(IPERF8), (1500000000, 2.0))

    def test_iperf_single(self):
        self.assertEqual(parse_iperf_csv(IPERF8.splitlines()[0]), (700000000, 2.0))
        self.assertIsNone(parse_iperf_csv("connect failed: Connection refused"))


class Summary(unittest.TestCase):
    def test_ratios(self):
        recs = [(r, p, "short_cps", v, "conn/s") for r, p, v in (
            (1, "haproxy", 100), (2, "haproxy", 120), (3, "haproxy", 110),
            (1, "pumpkinlb", 55), (2, "pumpkinlb", 60), (3, "pumpkinlb", 50),
            (1, "direct", 220), (2, "direct", 220), (3, "direct", 200))]
        values, units = report.collect(recs)
        t = report.table(values, ["pumpkinlb", "haproxy", "direct"])
        self.assertIn("| short conns, conn/s | 55 (0.50×H, 0.25×D) | 110 (0.50×D) |", t)
        m = report.machine_lines(values, units, ["pumpkinlb", "haproxy", "direct"])
        self.assertIn("BENCH peer=pumpkinlb metric=short_cps median=55 min=50 max=60 n=3 "
                      "unit=conn/s vs_haproxy=0.500 vs_direct=0.250", m)


class CustomPeer(unittest.TestCase):
    def test_config_appended_or_substituted(self):
        with tempfile.TemporaryDirectory() as wd:
            self.check(wd)

    def check(self, wd):
        ports = peers.Ports(18700, 18701, 18702)
        p = peers.custom_peer("old=/tmp/pumpkinlb-old", wd, ports)
        self.assertEqual(p.cmd, ["/tmp/pumpkinlb-old", os.path.join(wd, "pumpkinlb.cfg")])
        p = peers.custom_peer("x=env A=1 /bin/lb -c {config} -p {port}", wd, ports)
        self.assertEqual(p.cmd[-3:], [os.path.join(wd, "pumpkinlb.cfg"), "-p", "18700"])
        with open(os.path.join(wd, "pumpkinlb.cfg")) as f:
            cfg = f.read()
        self.assertIn("buffer_size = 16384", cfg)
        self.assertIn("127.0.0.1:18700 = 127.0.0.1:18701, 127.0.0.1:18702", cfg)
        self.assertRaises(ValueError, peers.custom_peer, "noequals", wd, ports)


if __name__ == "__main__":
    unittest.main()
