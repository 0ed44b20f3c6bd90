#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""movecost.py MOVED_URL INLINE_URL [N] [ROUNDS] - what moving a run off an
event loop costs: the same 3 ms handler behind a loop that moves it (past
http.inline_budget) and one that never does, N sequential calls each,
alternating for ROUNDS; prints one JSON line with both medians (us) and
their difference per round. Standard library only."""
import http.client
import json
import statistics
import sys
import time
import urllib.parse


def median_us(url, n):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        c.request("POST", u.path, b"{}", {"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        if r.status != 200:
            raise SystemExit("HTTP %d from %s" % (r.status, url))
        lat.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(lat)


def main():
    moved, inline = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 400
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    runs = []
    for _ in range(rounds):
        a, b = median_us(moved, n), median_us(inline, n)
        runs.append({"moved_us": a, "inline_us": b, "cost_us": a - b})
    print(json.dumps({"n": n, "runs": runs,
                      "cost_us": statistics.median(r["cost_us"] for r in runs)}))


if __name__ == "__main__":
    main()
