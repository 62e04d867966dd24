"""Medians over rounds, the markdown table (each figure also as a ratio to
HAProxy and to direct) and the machine-readable BENCH lines."""

import statistics

# (metric, label, ratios shown: "HD" to HAProxy and direct, "H" to HAProxy
# only (direct has no proxy), "" none (checks, not figures to compare))
ROWS = [
    ("bulk1_gbps", "bulk 1 stream, Gbit/s", "HD"),
    ("bulk1_cpu_s", "bulk 1 stream, proxy CPU s", "H"),
    ("bulk1_gbit_per_cpu_s", "bulk 1 stream, Gbit per CPU-s", "H"),
    ("bulk1_load_cpu_busy", "bulk 1 stream, load CPU busy %", ""),
    ("bulk1_lb_cpu_busy", "bulk 1 stream, balancer CPU busy %", ""),
    ("bulk8_gbps", "bulk 8 streams, Gbit/s", "HD"),
    ("bulk8_cpu_s", "bulk 8 streams, proxy CPU s", "H"),
    ("bulk8_gbit_per_cpu_s", "bulk 8 streams, Gbit per CPU-s", "H"),
    ("bulk8_load_cpu_busy", "bulk 8 streams, load CPU busy %", ""),
    ("bulk8_lb_cpu_busy", "bulk 8 streams, balancer CPU busy %", ""),
    ("short_cps", "short conns, conn/s", "HD"),
    ("short_p50_ms", "short conns, p50 ms", "HD"),
    ("short_p99_ms", "short conns, p99 ms", "HD"),
    ("short_errors", "short conns, errors", ""),
    ("short_cpu_s", "short conns, proxy CPU s", "H"),
    ("short_conn_per_cpu_s", "short conns, conn per CPU-s", "H"),
    ("short_segs_per_req", "short conns, TCP segments per connection", "HD"),
    ("short_load_cpu_busy", "short conns, load CPU busy %", ""),
    ("short_load_cpu_us", "short conns, load CPU us per connection", "HD"),
    ("short_lb_cpu_busy", "short conns, balancer CPU busy %", ""),
    ("keepalive_rps", "keep-alive, req/s", "HD"),
    ("keepalive_p50_ms", "keep-alive, p50 ms", "HD"),
    ("keepalive_p99_ms", "keep-alive, p99 ms", "HD"),
    ("keepalive_errors", "keep-alive, errors", ""),
    ("keepalive_cpu_s", "keep-alive, proxy CPU s", "H"),
    ("keepalive_req_per_cpu_s", "keep-alive, req per CPU-s", "H"),
    ("keepalive_segs_per_req", "keep-alive, TCP segments per request", "HD"),
    ("keepalive_load_cpu_busy", "keep-alive, load CPU busy %", ""),
    ("keepalive_load_cpu_us", "keep-alive, load CPU us per request", "HD"),
    ("keepalive_lb_cpu_busy", "keep-alive, balancer CPU busy %", ""),
    ("scale100_cpu_us", "keep-alive on 100 conns, proxy CPU us per request", "H"),
    ("scale1k_cpu_us", "keep-alive on 1,000 conns, proxy CPU us per request", "H"),
    ("scale9k_cpu_us", "keep-alive on 9,000 conns, proxy CPU us per request", "H"),
    ("scale_spread", "keep-alive CPU per request, most over least of 100 / 1k / 9k", "H"),
    ("scale9k_rps", "keep-alive on 9,000 conns, req/s", "H"),
    ("lat1_p50_us", "1 client, p50 us", "HD"),
    ("lat1_p99_us", "1 client, p99 us", "HD"),
    ("lat1_added_p50_us", "1 client, p50 added over direct, us", "H"),
    ("lat1_added_p99_us", "1 client, p99 added over direct, us", "H"),
    ("idle1k_rss_kib_per_conn", "idle 1k, RSS KiB/conn", "H"),
    ("idle1k_pss_kib_per_conn", "idle 1k, PSS KiB/conn", "H"),
    ("idle1k_alive", "idle 1k, alive after hold", ""),
    ("idle1k_probe_ok", "idle 1k, probes answered", ""),
    ("idle10k_rss_kib_per_conn", "idle 10k, RSS KiB/conn", "H"),
    ("idle10k_pss_kib_per_conn", "idle 10k, PSS KiB/conn", "H"),
    ("idle10k_alive", "idle 10k, alive after hold", ""),
    ("idle10k_probe_ok", "idle 10k, probes answered", ""),
]


def collect(records):
    """records: (round, peer, metric, value, unit) -> {(peer, metric): [values]}, units."""
    values, units = {}, {}
    for _, peer, metric, value, unit in records:
        if isinstance(value, (int, float)):
            values.setdefault((peer, metric), []).append(float(value))
            units[metric] = unit
    return values, units


SCALE = ("scale100_cpu_us", "scale1k_cpu_us", "scale9k_cpu_us")


def derive(values, units, peers):
    """Figures made of others' medians, added to values as one-value lists:
    the latency a proxy adds to direct's (same run), and how much a
    proxy's cost per request grows from its cheapest to its dearest
    connection count (1.00: flat)."""
    for p in peers:
        for q in ("p50", "p99"):
            a = _median(values, p, "lat1_%s_us" % q)
            d = _median(values, "direct", "lat1_%s_us" % q)
            if p != "direct" and a is not None and d is not None:
                values[(p, "lat1_added_%s_us" % q)] = [a - d]
                units["lat1_added_%s_us" % q] = "us"
        costs = [_median(values, p, m) for m in SCALE]
        costs = [c for c in costs if c]
        if len(costs) >= 2:
            values[(p, "scale_spread")] = [max(costs) / min(costs)]
            units["scale_spread"] = "ratio"


def _verdict(ok):
    return "met" if ok else "NOT met"


def targets(values, ab, me="pumpkinlb", ref="haproxy"):
    """Issue 22's targets against this run: lines for the summary. ab:
    {workload: PumpkinLB's CPU per request over HAProxy's, both at once}."""
    out = []

    def ratio(metric):
        return _ratio(_median(values, me, metric), _median(values, ref, metric))

    for wl, what in (("short", "short connection"), ("keepalive", "keep-alive request")):
        if wl in ab:
            out.append("CPU per %s: %.3fx HAProxy's, both at once (target <= 0.75): %s"
                       % (what, ab[wl], _verdict(ab[wl] <= 0.75)))
    for m, what in (("bulk1_gbps", "bulk 1 stream"), ("bulk8_gbps", "bulk 8 streams")):
        r = ratio(m)
        if r is not None:
            out.append("%s: %.2fx HAProxy's Gbit/s (target >= 1.2): %s"
                       % (what, r, _verdict(r >= 1.2)))
    r = ratio("short_p99_ms")
    if r is not None:
        out.append("short p99: %.2fx HAProxy's (target <= 1.0): %s" % (r, _verdict(r <= 1.0)))
    kib = _median(values, me, "idle10k_rss_kib_per_conn")
    if kib is not None:
        out.append("idle RSS per connection at 10k: %.2f KiB (target <= 1): %s"
                   % (kib, _verdict(kib <= 1.0)))
    spread = _median(values, me, "scale_spread")
    if spread is not None:
        theirs = _median(values, ref, "scale_spread")
        out.append("keep-alive CPU per request, 100 to 9,000 conns: most over least %.2f "
                   "(HAProxy %s; target <= 1.10): %s"
                   % (spread, fmt(theirs), _verdict(spread <= 1.10)))
    for q in ("p50", "p99"):
        mine = _median(values, me, "lat1_added_%s_us" % q)
        theirs = _median(values, ref, "lat1_added_%s_us" % q)
        if mine is not None and theirs is not None:
            out.append("1 client, %s added over direct: %s us against HAProxy's %s us: %s"
                       % (q, fmt(mine), fmt(theirs),
                          "no more" if mine <= theirs else "more"))
    return (["Targets (issue 22):"] + ["  " + l for l in out]) if out else []


def fmt(x):
    if x is None:
        return "n/a"
    if abs(x) >= 100:
        return "{:,.0f}".format(x)
    return "{:.3g}".format(x)


def _median(values, peer, metric):
    v = values.get((peer, metric))
    return statistics.median(v) if v else None


def _ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def table(values, peers, ref="haproxy"):
    rows = [r for r in ROWS if any((p, r[0]) in values for p in peers)]
    lines = ["| workload | " + " | ".join(peers) + " |",
             "|---" * (len(peers) + 1) + "|"]
    for metric, label, shown in rows:
        cells = []
        for p in peers:
            med = _median(values, p, metric)
            cell = fmt(med)
            if med is not None:
                parts = []
                rh = _ratio(med, _median(values, ref, metric))
                if rh is not None and p != ref and "H" in shown:
                    parts.append("%.2f×H" % rh)
                rd = _ratio(med, _median(values, "direct", metric)) if "D" in shown else None
                if rd is not None and p != "direct":
                    parts.append("%.2f×D" % rd)
                if parts:
                    cell += " (" + ", ".join(parts) + ")"
            cells.append(cell)
        lines.append("| %s | %s |" % (label, " | ".join(cells)))
    return "\n".join(lines)


def machine_lines(values, units, peers, ref="haproxy"):
    out = []
    metrics = []
    for (_, m) in values:
        if m not in metrics:
            metrics.append(m)
    for p in peers:
        for m in metrics:
            v = values.get((p, m))
            if not v:
                continue
            med = statistics.median(v)
            line = "BENCH peer=%s metric=%s median=%.6g min=%.6g max=%.6g n=%d unit=%s" % (
                p, m, med, min(v), max(v), len(v), units.get(m, "-"))
            for name, other in (("vs_haproxy", ref), ("vs_direct", "direct")):
                q = _ratio(med, _median(values, other, m))
                if q is not None and p != other:
                    line += " %s=%.3f" % (name, q)
            out.append(line)
    return "\n".join(out)
