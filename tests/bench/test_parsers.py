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
from workloads import latency_ms, parse_iperf_csv, parse_stub_status, parse_wrk  # noqa: E402

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

# wrk -c1 --latency: one client, latencies in microseconds.
WRK1 = """Running 5s test @ http://127.0.0.1:18700/
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    61.37us   20.11us   1.24ms   93.85%
    Req/Sec    15.80k     1.02k   17.01k    72.55%
  Latency Distribution
     50%   57.00us
     75%   63.00us
     90%   74.00us
     99%  139.00us
  80212 requests in 5.10s, 19.66MB read
Requests/sec:  15727.84
Transfer/sec:      3.85MB
"""

STUB = """Active connections: 9001
server accepts handled requests
 9120 9120 1548213
Reading: 0 Writing: 1 Waiting: 9000
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

    def test_wrk_one_client(self):
        w = parse_wrk(WRK1)
        self.assertAlmostEqual(w["p50_ms"], 0.057)
        self.assertAlmostEqual(w["p99_ms"], 0.139)
        self.assertEqual(w["requests"], 80212)
        self.assertEqual(w["errors"], 0)

    def test_stub_status(self):
        self.assertEqual(parse_stub_status(STUB), 1548213)
        self.assertIsNone(parse_stub_status("<html>404 Not Found</html>"))

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


class Derived(unittest.TestCase):
    def recs(self):
        rows = [(1, "pumpkinlb", "lat1_p50_us", 80), (2, "pumpkinlb", "lat1_p50_us", 90),
                (1, "haproxy", "lat1_p50_us", 100), (1, "direct", "lat1_p50_us", 50),
                (1, "pumpkinlb", "scale100_cpu_us", 10.0),
                (1, "pumpkinlb", "scale1k_cpu_us", 10.5),
                (1, "pumpkinlb", "scale9k_cpu_us", 11.5),
                (1, "haproxy", "scale100_cpu_us", 12.0), (1, "haproxy", "scale9k_cpu_us", 15.0),
                (1, "pumpkinlb", "bulk1_gbps", 13.0), (1, "haproxy", "bulk1_gbps", 10.0),
                (1, "pumpkinlb", "short_p99_ms", 7.0), (1, "haproxy", "short_p99_ms", 8.0),
                (1, "pumpkinlb", "idle10k_rss_kib_per_conn", 0.95)]
        return [(r, p, m, v, "u") for r, p, m, v in rows]

    def test_added_latency_and_spread(self):
        values, units = report.collect(self.recs())
        report.derive(values, units, ["pumpkinlb", "haproxy", "direct"])
        self.assertEqual(values[("pumpkinlb", "lat1_added_p50_us")], [35.0])
        self.assertEqual(values[("haproxy", "lat1_added_p50_us")], [50.0])
        self.assertNotIn(("direct", "lat1_added_p50_us"), values)
        self.assertAlmostEqual(values[("pumpkinlb", "scale_spread")][0], 1.15)
        self.assertAlmostEqual(values[("haproxy", "scale_spread")][0], 1.25)
        t = report.table(values, ["pumpkinlb", "haproxy", "direct"])
        self.assertIn("| 1 client, p50 added over direct, us | 35 (0.70×H) | 50 | n/a |", t)

    def test_targets(self):
        values, units = report.collect(self.recs())
        report.derive(values, units, ["pumpkinlb", "haproxy", "direct"])
        lines = report.targets(values, {"short": 0.8, "keepalive": 0.74})
        text = "\n".join(lines)
        self.assertIn("CPU per short connection: 0.800x HAProxy's, both at once "
                      "(target <= 0.75): NOT met", text)
        self.assertIn("CPU per keep-alive request: 0.740x", text)
        self.assertIn("bulk 1 stream: 1.30x HAProxy's Gbit/s (target >= 1.2): met", text)
        self.assertIn("short p99: 0.88x HAProxy's (target <= 1.0): met", text)
        self.assertIn("idle RSS per connection at 10k: 0.95 KiB (target <= 1): met", text)
        self.assertIn("most over least 1.15 (HAProxy 1.25; target <= 1.10): NOT met", text)
        self.assertIn("1 client, p50 added over direct: 35 us against HAProxy's 50 us: "
                      "no more", text)
        self.assertEqual(report.targets({}, {}), [])


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
