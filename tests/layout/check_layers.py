#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The layer rule of router/ (README "Layout"), read from the sources.

Every #include "x.h" of a file in router/<layer>/ must name a header of its
own layer, of a layer below it, or of the SDK (router/include/spur/).
Prints each violation as FILE:LINE and exits 1; with --graph, prints the
include graph between the folders.
"""
import os
import re
import sys

ORDER = ["base", "config", "registry", "exec", "outbox", "queue", "intake", "api", "host"]
BELOW = {layer: set(ORDER[:i + 1]) for i, layer in enumerate(ORDER)}
BELOW["cli"] = {"cli", "base"}
BELOW["main"] = set(ORDER) | {"cli", "main"}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "router")
    root = os.path.normpath(root)
    owner = {}  # header name -> layer
    for layer in BELOW:
        d = os.path.join(root, layer)
        if os.path.isdir(d):
            for f in os.listdir(d):
                if f.endswith(".h"):
                    owner.setdefault(f, layer)
    missing = [l for l in ORDER + ["cli"] if not os.path.isdir(os.path.join(root, l))]
    if missing:
        print("router/: missing layer folders: " + ", ".join(missing))
        return 1
    edges = set()
    bad = 0
    for layer in BELOW:
        d = root if layer == "main" else os.path.join(root, layer)
        files = ["main.c"] if layer == "main" else sorted(os.listdir(d))
        for f in files:
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(d, f)
            with open(path, encoding="utf-8") as fh:
                for n, line in enumerate(fh, 1):
                    m = INCLUDE.match(line)
                    if not m or m.group(1).startswith("spur/"):
                        continue
                    to = owner.get(os.path.basename(m.group(1)))
                    if to is None:
                        continue  # a plugin's or a system header
                    if to != layer:
                        edges.add((layer, to))
                    if to not in BELOW[layer]:
                        rel = os.path.relpath(path, os.path.dirname(root))
                        print(f"{rel}:{n}: {layer}/ includes {to}/{m.group(1)}, a layer above it")
                        bad += 1
    if "--graph" in sys.argv:
        for a, b in sorted(edges, key=lambda e: (list(BELOW).index(e[0]), e[1])):
            print(f"{a} -> {b}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
