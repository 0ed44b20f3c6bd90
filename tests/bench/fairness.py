#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""fairness.py SLOW_URL FAST_URL [N] [CLIENTS] - the fairness scenario of
scripts/bench: CLIENTS keep-alive clients call SLOW_URL back to back (a
CPU-bound handler) while one more client calls FAST_URL N times in a row;
prints one JSON line with the fast calls' latency percentiles (ms) and how
many slow calls ended meanwhile. Standard library only."""
import http.client
import json
import sys
import threading
import time
import urllib.parse

BODY = b'{"device":"sensor-0042","temp":31.5}'


def conn(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=60), u.path


def call(c, path):
    c.request("POST", path, BODY, {"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    return r.status


def main():
    slow_url, fast_url = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    clients = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    stop = threading.Event()
    slow_done = [0] * clients

    def slow(i):
        c, path = conn(slow_url)
        while not stop.is_set():
            call(c, path)
            slow_done[i] += 1

    threads = [threading.Thread(target=slow, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    time.sleep(1.0)     # the slow calls are in flight
    c, path = conn(fast_url)
    lat, bad = [], 0
    for _ in range(n):
        t0 = time.perf_counter()
        if call(c, path) != 200:
            bad += 1
        lat.append((time.perf_counter() - t0) * 1000)
    stop.set()
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(round(p / 100 * len(lat))) - 1)]
    print(json.dumps({"n": n, "clients": clients, "p50_ms": pct(50), "p90_ms": pct(90),
                      "p99_ms": pct(99), "max_ms": lat[-1], "errors": bad,
                      "slow_calls": sum(slow_done)}))


if __name__ == "__main__":
    main()
