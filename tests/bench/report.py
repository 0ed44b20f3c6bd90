#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""report.py - the arithmetic and the plots of scripts/bench.

Subcommands (scripts/bench calls them; standard library + gnuplot only):
  wrk NAME ROUND FILE              one wrk --latency output -> one JSON line
  group FSYNCS WRK.jsonl...         events per commit (fsync_count.so's count)
  async ROUND WRK.jsonl GROUP FSYNCS CEIL   one async-intake round -> one JSON line
  half-rate ASYNC.jsonl            half the median accepted/s (scenario 5)
  latency IDS.tsv RECORDS CLIENT   join 202 times with handler starts -> JSON
  summary --work DIR --out PREFIX  PREFIX.json, PREFIX.md, PREFIX-*.png, the table
  replot PREFIX.json [--publish DIR]  redraw the plots and the summary of a result

Medians are over rounds; "spread" is (max - min) / 2 over rounds, also given
as a percentage of the median. Ratios against a peer are the median of the
per-round ratios (each spur run against the peer run right after it).
"""
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

GOALS = {"sync": 1.0, "floor": 0.75, "async": 0.8, "mqtt": 0.4, "cold": 1.5, "memory": 1.5,
         "latency_p99_ms": 5.0, "fair_p99_ms": 25.0, "idle_rss_mib": 8.0, "idle_threads": 8}
# every sync run is paired with the peer run right after it (PEER)
SYNC_NAMES = ["spur-invoke", "spur-route", "spur-t1-invoke", "spur-tpc-invoke", "mhd-floor",
              "nginx-lua", "spur-close", "spur-t1-close", "mhd-close", "nginx-close"]
PEERS = {"nginx-lua", "nginx-close"}
PEER = {n: ("nginx-close" if n.endswith("-close") else "nginx-lua")
        for n in SYNC_NAMES if n not in PEERS}
SHORT = {"spur-invoke": "Invoke API", "spur-route": "route", "spur-t1-invoke": "threads: 1",
         "spur-tpc-invoke": "threads: 0", "mhd-floor": "MHD floor", "nginx-lua": "nginx+lua",
         "spur-close": "close", "spur-t1-close": "close, t1", "mhd-close": "MHD close",
         "nginx-close": "nginx close"}
SYNC_LABELS = {
    "spur-invoke": "spur Invoke API, default config (threads: auto)",
    "spur-route": "spur route (API Gateway event), default config",
    "spur-t1-invoke": "spur Invoke API, threads: 1",
    "spur-tpc-invoke": "spur Invoke API, threads: 0 (a thread per connection)",
    "mhd-floor": "raw libmicrohttpd, one epoll thread, fixed answer (the floor)",
    "nginx-lua": "nginx 1 worker + lua + cjson",
    "spur-close": "spur Invoke API, default config, Connection: close",
    "spur-t1-close": "spur Invoke API, threads: 1, Connection: close",
    "mhd-close": "raw libmicrohttpd, Connection: close",
    "nginx-close": "nginx + lua, Connection: close",
}


def ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def cmd_wrk(name, rnd, path):
    text = open(path).read()
    row = {"name": name, "round": int(rnd),
           "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))}
    for p in ("50", "75", "90", "99"):
        m = re.search(p + r"%\s+([\d.]+)(us|ms|s)\b", text)
        row["p%s_ms" % p] = ms(*m.groups()) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    row["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    row["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"(\d+) requests in", text)
    row["requests"] = int(m.group(1)) if m else 0
    print(json.dumps(row))


def wal_syncs(path):
    m = re.search(r"wal_syncs (\d+)", open(path).read())
    return int(m.group(1)) if m else 0


def cmd_group(fsyncs_path, *wrk_paths):
    events = sum(json.loads(l)["requests"] for p in wrk_paths for l in open(p) if l.strip())
    commits = wal_syncs(fsyncs_path)
    print(max(1, round(events / commits)) if commits else 1)


def cmd_async(rnd, wrk_path, group, fsyncs_path, ceil_path):
    w = json.loads(open(wrk_path).read().strip().splitlines()[-1])
    c = json.load(open(ceil_path))["ceiling_at_group"]
    print(json.dumps({"round": int(rnd), "spur_rps": w["rps"], "spur_p50_ms": w["p50_ms"],
                      "spur_p99_ms": w["p99_ms"], "non2xx": w["non2xx"] + w["socket_errors"],
                      "wal_commits": wal_syncs(fsyncs_path), "group": int(group),
                      "ceiling_rps": c["ops_s"], "ratio": w["rps"] / c["ops_s"] if c["ops_s"] else 0}))


def cmd_half_processing(path):
    lat = json.load(open(path))
    rate = min(lat["handler_rate"], lat["client"]["target_rate"])
    print(max(100, int(rate / 2)))


def cmd_latency_line(path):
    lat = json.load(open(path))
    if not lat.get("joined"):
        print("  no records joined")
        return
    print(f"  {lat['joined']:,} events: 202 → handler start p50 {lat['p50_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms; "
          f"handlers started at {lat['handler_rate']:,.0f}/s")


def cmd_mqtt(name, rnd, n, path):
    t = []
    for line in open(path):
        try:
            t.append(float(line.split()[0]))
        except (ValueError, IndexError):
            pass
    rate = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0
    print(json.dumps({"name": name, "round": int(rnd), "sent": int(n), "received": len(t), "mps": rate}))


def cmd_async_line():
    r = json.loads(sys.stdin.read())
    print(f"spur {r['spur_rps']:,.0f} 202/s (p99 {r['spur_p99_ms']:.1f} ms), {r['group']} events per commit; "
          f"ceiling {r['ceiling_rps']:,.0f}/s; ratio {r['ratio']:.2f}")


def cmd_mqtt_line():
    rs = [json.loads(l) for l in sys.stdin if l.strip()]
    print("; ".join(f"{r['name']} {r['mps']:,.0f} msg/s ({r['received']}/{r['sent']})" for r in rs))


def cmd_mqtt_rate():
    print(int(json.loads(sys.stdin.read())["mps"]))


def cmd_half_rate(path):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    print(max(100, int(statistics.median(r["spur_rps"] for r in rows) / 2)))


def pct(sorted_values, p):
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(round((len(sorted_values) - 1) * p)))]


def cmd_latency(ids_path, records_path, client_path):
    sent = {}
    for line in open(ids_path):
        eid, at, us = line.rstrip("\n").split("\t")
        sent[eid] = (float(at), float(at) - float(us) / 1e6)
    after_202, after_send = [], []
    try:
        for line in open(records_path):
            r = json.loads(line)
            eid = r["requestContext"]["requestId"]
            if eid in sent and r["requestContext"].get("condition") == "Success":
                t = r["responsePayload"]["t"]
                after_202.append((t - sent[eid][0]) * 1e3)
                after_send.append((t - sent[eid][1]) * 1e3)
    except FileNotFoundError:
        pass
    starts = []
    try:
        starts = sorted(json.loads(l)["responsePayload"]["t"] for l in open(records_path))
    except FileNotFoundError:
        pass
    after_202.sort()
    after_send.sort()
    levels = [0.5, 0.75, 0.9, 0.95, 0.99, 0.999]
    out = {"client": json.load(open(client_path)), "events": len(sent), "joined": len(after_202),
           "p50_ms": pct(after_202, 0.5), "p90_ms": pct(after_202, 0.9),
           "p99_ms": pct(after_202, 0.99), "p999_ms": pct(after_202, 0.999),
           "max_ms": after_202[-1] if after_202 else None,
           "min_ms": after_202[0] if after_202 else None,
           "handler_rate": (len(starts) - 1) / (starts[-1] - starts[0]) if len(starts) > 1 and starts[-1] > starts[0] else 0,
           "send_p50_ms": pct(after_send, 0.5), "send_p99_ms": pct(after_send, 0.99),
           "curve": [{"p": p, "after_202_ms": pct(after_202, p), "after_send_ms": pct(after_send, p)}
                     for p in levels]}
    print(json.dumps(out))


# --- summary -------------------------------------------------------------------------

def agg(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    med = statistics.median(values)
    half = (max(values) - min(values)) / 2
    return {"median": med, "min": min(values), "max": max(values), "spread": half,
            "spread_pct": 100 * half / med if med else 0, "n": len(values)}


def sh(*cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (r.stdout + r.stderr).strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def dpkg(pkg):
    return sh("dpkg-query", "-W", "-f=${Version}", pkg) or "not installed"


def machine():
    model = ""
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = 0
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal"):
            mem = int(line.split()[1]) // 1024
    return {"cpus": os.cpu_count(), "cpu_model": model, "mem_mib": mem,
            "kernel": platform.release(), "os": sh("sh", "-c", ". /etc/os-release; echo $PRETTY_NAME")}


def versions(spur):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    rev = sh("git", "-C", root, "rev-parse", "--short", "HEAD")
    dirty = sh("git", "-C", root, "status", "--porcelain", "--untracked-files=no")
    return {"spur": sh(spur, "--version").splitlines()[0] if sh(spur, "--version") else "?",
            "git": rev + ("+dirty" if dirty else ""),
            "gcc": sh("gcc", "-dumpfullversion"),
            "nginx": dpkg("nginx-light") if dpkg("nginx-light") != "not installed" else dpkg("nginx"),
            "libnginx-mod-http-lua": dpkg("libnginx-mod-http-lua"),
            "luajit (nginx)": dpkg("libluajit-5.1-2") if dpkg("libluajit-5.1-2") != "not installed"
            else dpkg("libluajit2-5.1-2"),
            "lua-cjson": dpkg("lua-cjson"), "liblua5.4": dpkg("liblua5.4-0"),
            "libmicrohttpd": dpkg("libmicrohttpd12"), "sqlite": dpkg("libsqlite3-0"),
            "wrk": dpkg("wrk"), "mosquitto": dpkg("mosquitto"), "gnuplot": dpkg("gnuplot-nox")}


def load_jsonl(path):
    try:
        return [json.loads(l) for l in open(path) if l.strip()]
    except FileNotFoundError:
        return []


def load_json(path):
    try:
        return json.load(open(path))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def sync_summary(rows):
    by = {}
    for r in rows:
        by.setdefault(r["name"], []).append(r)
    out = {}
    for name in SYNC_NAMES:
        rs = by.get(name, [])
        if not rs:
            continue
        out[name] = {k: agg([r[k] for r in rs]) for k in ("rps", "p50_ms", "p75_ms", "p90_ms", "p99_ms")}
        out[name]["errors"] = sum(r["non2xx"] + r["socket_errors"] for r in rs)
    # per-round pairs: each run with its peer's run right after it
    pairs = {}
    last = None
    for r in rows:
        if r["name"] in PEERS and last is not None and PEER.get(last["name"]) == r["name"]:
            pairs.setdefault(last["name"], []).append((last, r))
            last = None
        elif r["name"] not in PEERS:
            last = r
    for name, ps in pairs.items():
        out[name]["rps_ratio"] = agg([a["rps"] / b["rps"] for a, b in ps])
        out[name]["p99_ratio"] = agg([a["p99_ms"] / b["p99_ms"] for a, b in ps])
    return out


def fmt(v, nd=0):
    if v is None:
        return "—"
    return f"{v:,.{nd}f}"


def ratio_rows(res):
    rows = []
    s = res["sync"]
    for name in SYNC_NAMES:
        peer = s.get(PEER.get(name, ""))
        if name in PEERS or name not in s or not peer or "rps_ratio" not in s[name]:
            continue
        x = s[name]
        r = x["rps_ratio"]["median"]
        p99_ok = x["p99_ratio"]["median"] <= 1.0
        floor = name.startswith("mhd-")
        keepalive = not name.endswith("-close")
        goal = ("what spur could reach (no goal)" if floor else
                "≥ 1.0× req/s, p99 no worse" if keepalive else "≥ 1.0× req/s")
        ok = r >= GOALS["sync"] and (p99_ok or not keepalive)
        rows.append({"scenario": "sync HTTP → Lua → JSON: " + SYNC_LABELS[name],
                     "spur": f"{fmt(x['rps']['median'])} req/s ±{x['rps']['spread_pct']:.0f}%, p99 {x['p99_ms']['median']:.2f} ms",
                     "peer": f"{SHORT[PEER[name]]} {fmt(peer['rps']['median'])} req/s ±{peer['rps']['spread_pct']:.0f}%, p99 {peer['p99_ms']['median']:.2f} ms",
                     "goal": goal,
                     "ratio": f"{r:.2f}× (p99 {x['p99_ratio']['median']:.2f}×)",
                     "result": "—" if floor else "pass" if ok else "miss"})
    for name, fl in (("spur-invoke", "mhd-floor"), ("spur-close", "mhd-close")):
        if name in s and fl in s:
            r = s[name]["rps"]["median"] / s[fl]["rps"]["median"]
            rows.append({"scenario": f"… {SHORT[name]} vs the raw libmicrohttpd floor",
                         "spur": f"{fmt(s[name]['rps']['median'])} req/s",
                         "peer": f"floor {fmt(s[fl]['rps']['median'])} req/s",
                         "goal": "≥ 0.75× floor" if name == "spur-invoke" else "(no goal)",
                         "ratio": f"{r:.2f}×",
                         "result": ("pass" if r >= GOALS["floor"] else "miss") if name == "spur-invoke" else "—"})
    fair = res.get("fairness", {})
    for who in ("spur", "nginx"):
        f = fair.get(who)
        if f:
            rows.append({"scenario": f"fairness: a fast function beside 4 clients of a 300 ms CPU-bound one ({who})",
                         "spur": f"p50 {f['p50_ms']:.1f} ms, p99 {f['p99_ms']:.1f} ms ({f['n']} calls, {f['errors']} errors)",
                         "peer": "—", "goal": "p99 < 25 ms" if who == "spur" else "(the peer, for comparison)",
                         "ratio": f"p99 {f['p99_ms']:.1f} ms",
                         "result": ("pass" if f["p99_ms"] < GOALS["fair_p99_ms"] else "miss") if who == "spur" else "—"})
    mv = res.get("movecost", {})
    if mv.get("runs"):
        r0 = mv["runs"]
        rows.append({"scenario": "a run moved off the loop (3 ms handler, inline_budget 2ms vs 1m)",
                     "spur": f"+{mv['cost_us']:.1f} µs per call (median of {len(r0)} rounds of {mv['n']})",
                     "peer": f"inline {statistics.median(r['inline_us'] for r in r0):.0f} µs",
                     "goal": "(measured, no goal)", "ratio": f"+{mv['cost_us']:.1f} µs", "result": "—"})
    idle = res.get("idle", {})
    if idle:
        ok = idle["rss_kib"] / 1024 < GOALS["idle_rss_mib"] and idle["threads"] <= GOALS["idle_threads"]
        rows.append({"scenario": "idle daemon, example config (conf/spur.yaml)",
                     "spur": f"{idle['rss_kib'] / 1024:.1f} MiB RSS ({idle['anon_kib'] / 1024:.1f} MiB anonymous), {idle['threads']} threads",
                     "peer": "—", "goal": "< 8 MiB RSS, ≤ 8 threads",
                     "ratio": f"{idle['rss_kib'] / 1024:.1f} MiB, {idle['threads']} threads",
                     "result": "pass" if ok else "miss"})
        if "warm100_rss_kib" in idle:
            mib = idle["warm100_rss_kib"] / 1024
            rows.append({"scenario": "100 functions, one warm context each",
                         "spur": f"{mib:.1f} MiB RSS", "peer": "—", "goal": "< 24 MiB",
                         "ratio": f"{mib:.1f} MiB", "result": "pass" if mib < 24 else "miss"})
    a = res["async"]
    if a.get("rounds"):
        rows.append({"scenario": "async intake, durable (sync: full)",
                     "spur": f"{fmt(a['spur_rps']['median'])} 202/s ±{a['spur_rps']['spread_pct']:.0f}% (group {a['group']['median']:.0f})",
                     "peer": f"SQLite ceiling {fmt(a['ceiling_rps']['median'])} inserts/s ±{a['ceiling_rps']['spread_pct']:.0f}%",
                     "goal": "≥ 0.8× ceiling",
                     "ratio": f"{a['ratio']['median']:.2f}×",
                     "result": "pass" if a["ratio"]["median"] >= GOALS["async"] else "miss"})
    m = res["mqtt"]
    if m.get("measured"):
        rows.append({"scenario": "MQTT pipeline (QoS 1 → Lua → QoS 1)",
                     "spur": f"{fmt(m['spur_mps']['median'])} msg/s ±{m['spur_mps']['spread_pct']:.0f}%",
                     "peer": f"raw mosquitto {fmt(m['raw_mps']['median'])} msg/s ±{m['raw_mps']['spread_pct']:.0f}%",
                     "goal": "≥ 0.4× raw", "ratio": f"{m['ratio']['median']:.2f}×",
                     "result": "pass" if m["ratio"]["median"] >= GOALS["mqtt"] else "miss"})
    else:
        rows.append({"scenario": "MQTT pipeline (QoS 1 → Lua → QoS 1)", "spur": "not measured",
                     "peer": "raw mosquitto QoS 1", "goal": "≥ 0.4× raw", "ratio": "—",
                     "result": "not measured (" + m.get("why", "") + ")"})
    c = res["context"]
    if c:
        rows.append({"scenario": "cold start (context + INIT, 20-line handler)",
                     "spur": f"{c['cold_us']['median']:.1f} µs (p99 {c['cold_p99_us']['median']:.1f})",
                     "peer": f"bare lua_State {c['bare_us']['median']:.1f} µs",
                     "goal": "≤ 1.5× bare", "ratio": f"{c['cold_ratio']['median']:.2f}×",
                     "result": "pass" if c["cold_ratio"]["median"] <= GOALS["cold"] else "miss"})
        rows.append({"scenario": f"memory: RSS per idle context at {c['contexts']:,}",
                     "spur": f"{c['rss_kib']['median']:.1f} KiB", "peer": f"bare state {c['bare_rss_kib']['median']:.1f} KiB",
                     "goal": "≤ 1.5× bare", "ratio": f"{c['rss_ratio']['median']:.2f}×",
                     "result": "pass" if c["rss_ratio"]["median"] <= GOALS["memory"] else "miss"})
    for key, what in (("latency", "half the max intake"), ("latency_sustained", "half the handler start rate")):
        lat = res[key]
        if lat.get("p99_ms") is not None:
            rows.append({"scenario": f"async latency 202 → handler start at {lat['client']['target_rate']:,.0f}/s ({what})",
                         "spur": f"p50 {lat['p50_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms", "peer": "—",
                         "goal": "p99 < 5 ms", "ratio": f"p99 {lat['p99_ms']:.2f} ms",
                         "result": "pass" if lat["p99_ms"] < GOALS["latency_p99_ms"] else "miss"})
    return rows


def print_table(rows):
    w = [max(len(r[k]) for r in rows + [{k: k for k in rows[0]}]) for k in rows[0]]
    keys = list(rows[0])
    print("  ".join(k.ljust(w[i]) for i, k in enumerate(keys)))
    for r in rows:
        print("  ".join(r[k].ljust(w[i]) for i, k in enumerate(keys)))


def gnuplot(script):
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        print("gnuplot: " + r.stderr.strip(), file=sys.stderr)


def plots(res, prefix):
    made = []
    term = "set terminal pngcairo size 800,420 font 'DejaVu Sans,10' noenhanced\n"
    d = prefix + "-plotdata"
    os.makedirs(d, exist_ok=True)
    s = res["sync"]
    title_tail = f"\\n{res['date']}, {res['machine']['cpus']} vCPUs, {res['params']['rounds']} rounds"
    if s:
        with open(d + "/sync.dat", "w") as f:
            for i, name in enumerate(n for n in SYNC_NAMES if n in s):
                x = s[name]["rps"]
                f.write(f'{i} "{SHORT[name]}" {x["median"]:.0f} {x["min"]:.0f} {x["max"]:.0f} {1 if name in PEERS or name.startswith("mhd-") else 0}\n')
        out = prefix + "-throughput-sync.png"
        gnuplot(term + f"""set output '{out}'
set title "sync HTTP -> Lua -> JSON: requests/s (median, bars: min..max)  spur blue, peers and the floor grey{title_tail}"
set style fill solid 0.8 border -1
set boxwidth 0.6
set yrange [0:*]
set grid ytics
set ylabel 'requests/s (wrk -t1 -c50)'
set xtics scale 0 font ',9'
unset key
plot '{d}/sync.dat' using 1:3:($6 > 0 ? 0x999999 : 0x2a6fbb):xtic(2) with boxes lc rgb variable, \\
     '' using 1:3:4:5 with yerrorbars lc rgb 'black' pt 0 lw 1.5, \\
     '' using 1:($5):(sprintf('%.0f', $3)) with labels offset 0,1
""")
        made.append(out)
        with open(d + "/synclat.dat", "w") as f:
            f.write("p " + " ".join(f'"{SHORT[n]}"' for n in SYNC_NAMES if n in s) + "\n")
            for p in ("50", "75", "90", "99"):
                f.write(p + "% " + " ".join(f'{s[n]["p%s_ms" % p]["median"]:.3f}' for n in SYNC_NAMES if n in s) + "\n")
        out = prefix + "-latency-sync.png"
        n = len([x for x in SYNC_NAMES if x in s])
        gnuplot(term + f"""set output '{out}'
set title "sync HTTP: wrk latency percentiles at full load (-c50), median over rounds{title_tail}"
set grid ytics
set ylabel 'ms'
set yrange [0:*]
set key top left
set linetype {n} lc rgb '#444444' dt 2 lw 2
plot for [i=2:{n + 1}] '{d}/synclat.dat' using 0:i:xtic(1) with linespoints lw 2 title columnheader(i)
""")
        made.append(out)
    a = res["async"]
    if a.get("rounds"):
        with open(d + "/async.dat", "w") as f:
            x, c = a["spur_rps"], a["ceiling_rps"]
            f.write(f'0 "spur: HTTP Event invoke, 202/s" {x["median"]:.0f} {x["min"]:.0f} {x["max"]:.0f} 0\n')
            f.write(f'1 "SQLite ceiling, group {a["group"]["median"]:.0f}" {c["median"]:.0f} {c["min"]:.0f} {c["max"]:.0f} 1\n')
        out = prefix + "-throughput-async.png"
        gnuplot(term + f"""set output '{out}'
set title "async intake, store.sync full: durable events/s (median, bars: min..max){title_tail}"
set style fill solid 0.8 border -1
set boxwidth 0.5
set yrange [0:*]
set grid ytics
set ylabel 'durable events/s'
set xtics scale 0
unset key
plot '{d}/async.dat' using 1:3:($6 > 0 ? 0x999999 : 0x2a6fbb):xtic(2) with boxes lc rgb variable, \\
     '' using 1:3:4:5 with yerrorbars lc rgb 'black' pt 0 lw 1.5, \\
     '' using 1:($5):(sprintf('%.0f', $3)) with labels offset 0,1
""")
        made.append(out)
    m = res["mqtt"]
    if m.get("measured"):
        with open(d + "/mqtt.dat", "w") as f:
            x, c = m["spur_mps"], m["raw_mps"]
            f.write(f'0 "spur: QoS 1 in -> Lua -> QoS 1 out" {x["median"]:.0f} {x["min"]:.0f} {x["max"]:.0f} 0\n')
            f.write(f'1 "raw mosquitto QoS 1 pub -> sub" {c["median"]:.0f} {c["min"]:.0f} {c["max"]:.0f} 1\n')
        out = prefix + "-throughput-mqtt.png"
        gnuplot(term + f"""set output '{out}'
set title "MQTT QoS 1 pipeline: messages/s at the subscriber (median, bars: min..max){title_tail}"
set style fill solid 0.8 border -1
set boxwidth 0.5
set yrange [0:*]
set grid ytics
set ylabel 'messages/s'
set xtics scale 0
unset key
plot '{d}/mqtt.dat' using 1:3:($6 > 0 ? 0x999999 : 0x2a6fbb):xtic(2) with boxes lc rgb variable, \\
     '' using 1:3:4:5 with yerrorbars lc rgb 'black' pt 0 lw 1.5, \\
     '' using 1:($5):(sprintf('%.0f', $3)) with labels offset 0,1
""")
        made.append(out)
    runs = [(k, res[k]) for k in ("latency", "latency_sustained") if res[k].get("joined")]
    if runs:
        panels = []
        for k, lat in runs:
            with open(f"{d}/{k}.dat", "w") as f:
                for row in lat["curve"]:
                    f.write(f'{1 / (1 - row["p"]):.4f} "{row["p"] * 100:g}%" {row["after_202_ms"]:.3f} {row["after_send_ms"]:.3f}\n')
            what = "half the max intake" if k == "latency" else "half the handler start rate"
            panels.append(f"""set title "{lat['client']['target_rate']:,.0f} events/s ({what}), {lat['joined']:,} events" font ',10'
plot '{d}/{k}.dat' using 1:3:xtic(2) with linespoints lw 2 title '202 received -> handler start', \\
     '' using 1:4 with linespoints lw 2 title 'request sent -> handler start', \\
     {GOALS['latency_p99_ms']} with lines dt 2 lc rgb 'red' title 'goal: p99 < 5 ms'
""")
        out = prefix + "-latency-async.png"
        gnuplot(term.replace("800,420", "%d,460" % (450 * len(panels))) + f"""set output '{out}'
set multiplot layout 1,{len(panels)} title "async, store.sync full: 202 -> handler start (handler's spur.now() vs the client's clock)"
set logscale x
set grid
set ylabel 'ms'
set xlabel 'percentile'
set key below font ',9'
""" + "".join(panels) + "unset multiplot\n")
        made.append(out)
    shutil.rmtree(d, ignore_errors=True)
    return made


def markdown(res, rows, made):
    m, v, p = res["machine"], res["versions"], res["params"]
    L = [f"# spur benchmark, {res['date']}", "",
         f"Machine: {m['cpus']} vCPUs ({m['cpu_model']}), {m['mem_mib']} MiB, {m['os']}, Linux {m['kernel']}.  ",
         f"{v['spur']} ({v['git']}); rounds: {p['rounds']} × {p['duration']} s per run"
         + (" (--quick)" if p["quick"] else "") + (", pinned: servers CPU 0, clients CPU 1" if p["pin"] else ", unpinned") + ".",
         "", "| scenario | spur | peer in the same run | goal | measured | result |", "|---|---|---|---|---|---|"]
    for r in rows:
        L.append(f"| {r['scenario']} | {r['spur']} | {r['peer']} | {r['goal']} | {r['ratio']} | {r['result']} |")
    s = res["sync"]
    if s:
        L += ["", "## sync HTTP → Lua → JSON (wrk -t1 -c50, 205-byte JSON)", "",
              "| server | req/s median | spread | p50 ms | p90 ms | p99 ms | errors |", "|---|---|---|---|---|---|---|"]
        for n in SYNC_NAMES:
            if n in s:
                x = s[n]
                L.append(f"| {SYNC_LABELS[n]} | {fmt(x['rps']['median'])} | ±{x['rps']['spread_pct']:.1f}% "
                         f"| {x['p50_ms']['median']:.2f} | {x['p90_ms']['median']:.2f} | {x['p99_ms']['median']:.2f} | {x['errors']} |")
    a = res["async"]
    if a.get("rounds"):
        L += ["", "## async intake (Event invokes, store.sync full, wrk -t1 -c50)", "",
              "| round | spur 202/s | p99 ms | events per commit | ceiling inserts/s | ratio |", "|---|---|---|---|---|---|"]
        for r in a["rounds"]:
            L.append(f"| {r['round']} | {fmt(r['spur_rps'])} | {r['spur_p99_ms']:.2f} | {r['group']} | {fmt(r['ceiling_rps'])} | {r['ratio']:.2f} |")
    st = res["store"]
    if st.get("t64"):
        L += ["", f"Store plugin alone (bench_store, apply() of 1-op batches, {st['seconds']} s): "
              f"1 thread {fmt(st['t1']['ops_s'])}/s, 8 threads {fmt(st['t8']['ops_s'])}/s, "
              f"64 threads {fmt(st['t64']['ops_s'])}/s (group {st['t64']['group']}) vs ceiling "
              f"{fmt(st['ceiling']['ops_s'])}/s at that group: {st['t64_vs_ceiling']:.2f}×."]
    m = res["mqtt"]
    if m.get("measured"):
        L += ["", "## MQTT pipeline (mosquitto_pub -q 1 --repeat N → broker → mosquitto_sub -q 1)", "",
              "| round | raw mosquitto msg/s | spur msg/s | ratio |", "|---|---|---|---|"]
        for r in sorted({x["round"] for x in m["runs"]}):
            a = next(x for x in m["runs"] if x["round"] == r and x["name"] == "raw-mosquitto")
            b = next(x for x in m["runs"] if x["round"] == r and x["name"] == "spur-mqtt")
            L.append(f"| {r} | {fmt(a['mps'])} ({a['received']}/{a['sent']}) | {fmt(b['mps'])} ({b['received']}/{b['sent']}) "
                     f"| {b['mps'] / a['mps'] if a['mps'] else 0:.2f} |")
    for key in ("latency", "latency_sustained"):
        lat = res[key]
        if not lat.get("joined"):
            continue
        c = lat["client"]
        L += ["", f"## async latency at {c['target_rate']:,.0f} events/s", "",
              f"{lat['joined']:,} of {lat['events']:,} events joined; handlers started at {lat['handler_rate']:,.0f}/s. "
              f"202 → handler start: p50 {lat['p50_ms']:.2f} ms, "
              f"p90 {lat['p90_ms']:.2f}, p99 {lat['p99_ms']:.2f}, p99.9 {lat['p999_ms']:.2f}, max {lat['max_ms']:.2f} "
              f"(min {lat['min_ms']:.2f}: negative = the handler started before the client read its 202). "
              f"Request sent → handler start: p50 {lat['send_p50_ms']:.2f} ms, p99 {lat['send_p99_ms']:.2f} ms. "
              f"Client: send → 202 p50 {c['resp_ms_p50']:.2f} ms, p99 {c['resp_ms_p99']:.2f} ms; achieved {c['rate']:,.0f}/s, "
              f"no idle connection {c['late']} times."]
    L += ["", "## versions", ""] + [f"* {k}: {val}" for k, val in v.items()]
    if made:
        L += ["", "## plots", ""] + [f"![{os.path.basename(x)}]({os.path.basename(x)})" for x in made]
    return "\n".join(L) + "\n"


def cmd_summary(args):
    a = dict(zip(args[::2], args[1::2]))
    work, prefix = a["--work"], a["--out"]
    sync_rows = load_jsonl(work + "/sync.jsonl")
    async_rows = load_jsonl(work + "/async.jsonl")
    ctx_rows = load_jsonl(work + "/context.jsonl")
    res = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "machine": machine(), "versions": versions(a["--spur"]),
           "params": {"rounds": int(a["--rounds"]), "duration": float(a["--duration"]),
                      "quick": a["--quick"] == "1", "pin": a["--pin"] == "1"},
           "goals": GOALS, "sync_runs": sync_rows, "sync": sync_summary(sync_rows),
           "async": {}, "store": load_json(work + "/store.json"),
           "context_runs": ctx_rows, "context": {},
           "latency": load_json(work + "/latency-half.json"),
           "latency_sustained": load_json(work + "/latency-sustained.json"), "mqtt": load_json(work + "/mqtt.json"),
           "fairness": load_json(work + "/fairness.json"), "idle": load_json(work + "/idle.json"),
           "movecost": load_json(work + "/movecost.json")}
    if async_rows:
        res["async"] = {"rounds": async_rows,
                        **{k: agg([r[k] for r in async_rows]) for k in ("spur_rps", "ceiling_rps", "ratio", "group")}}
    if ctx_rows:
        res["context"] = {"contexts": ctx_rows[0]["contexts"],
                          "cold_us": agg([r["cold_start_us_p50"] for r in ctx_rows]),
                          "cold_p99_us": agg([r["cold_start_us_p99"] for r in ctx_rows]),
                          "bare_us": agg([r["bare_lua_us_p50"] for r in ctx_rows]),
                          "cold_ratio": agg([r["cold_start_us_p50"] / r["bare_lua_us_p50"] for r in ctx_rows]),
                          "rss_kib": agg([r["rss_per_context_kib"] for r in ctx_rows]),
                          "bare_rss_kib": agg([r["rss_per_bare_state_kib"] for r in ctx_rows]),
                          "rss_ratio": agg([r["rss_per_context_kib"] / r["rss_per_bare_state_kib"] for r in ctx_rows])}
    mq = load_jsonl(work + "/mqtt.jsonl")
    if mq:
        raw = [r for r in mq if r["name"] == "raw-mosquitto"]
        sp = [r for r in mq if r["name"] == "spur-mqtt"]
        pairs = [(b, a) for a in raw for b in sp if a["round"] == b["round"]]
        res["mqtt"] = {"measured": True, "runs": mq, "raw_mps": agg([r["mps"] for r in raw]),
                       "spur_mps": agg([r["mps"] for r in sp]),
                       "lost": sum(r["sent"] - r["received"] for r in mq),
                       "ratio": agg([b["mps"] / a["mps"] for b, a in pairs if a["mps"]])}
    rows = ratio_rows(res)
    res["ratios"] = rows
    made = plots(res, prefix)
    json.dump(res, open(prefix + ".json", "w"), indent=1)
    open(prefix + ".md", "w").write(markdown(res, rows, made))
    print()
    print_table(rows)
    print()
    for f in [prefix + ".json", prefix + ".md"] + made:
        print("written: " + os.path.relpath(f))
    if "--publish" in a:
        publish(prefix, made, a["--publish"])


def cmd_replot(args):
    prefix = args[0][:-len(".json")]
    res = json.load(open(args[0]))
    rows = ratio_rows(res)
    made = plots(res, prefix)
    open(prefix + ".md", "w").write(markdown(res, rows, made))
    print_table(rows)
    if len(args) > 2 and args[1] == "--publish":
        publish(prefix, made, args[2])


def publish(prefix, made, directory):
    os.makedirs(directory, exist_ok=True)
    for f in made:
        dst = os.path.join(directory, os.path.basename(f)[len(os.path.basename(prefix)) + 1:])
        shutil.copyfile(f, dst)
        print("published: " + os.path.relpath(dst))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"wrk": lambda: cmd_wrk(*args), "group": lambda: cmd_group(*args),
     "async": lambda: cmd_async(*args), "half-rate": lambda: cmd_half_rate(*args),
     "latency": lambda: cmd_latency(*args),
     "mqtt": lambda: cmd_mqtt(*args), "mqtt-rate": cmd_mqtt_rate,
     "async-line": cmd_async_line, "mqtt-line": cmd_mqtt_line,
     "half-processing": lambda: cmd_half_processing(*args), "latency-line": lambda: cmd_latency_line(*args), "summary": lambda: cmd_summary(args),
     "replot": lambda: cmd_replot(args)}[cmd]()


if __name__ == "__main__":
    main()
