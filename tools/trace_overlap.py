#!/usr/bin/env python3
"""Sums a `moecat --trace` file (Chrome trace JSON): time per span name, and for expert
parallelism how much of the combine's time on the wire the dense path hid:
hidden = 1 - (time waited for the combine) / (time the combine was in flight).

    trace_overlap.py TRACE.json [TRACE.rank1.json ...]
"""
import json
import sys
from collections import defaultdict


def main():
    for path in sys.argv[1:]:
        ev = [e for e in json.load(open(path))["traceEvents"] if e.get("ph") == "X"]
        tot = defaultdict(float)
        cnt = defaultdict(int)
        nbytes = 0
        for e in ev:
            tot[e["name"]] += e["dur"]
            cnt[e["name"]] += 1
            if e["name"] == "combine wait":
                nbytes += e["args"].get("bytes", 0)
        print(path)
        for k in sorted(tot, key=lambda k: -tot[k]):
            print(f"  {k:40s} {cnt[k]:6d} x  {tot[k] / 1e3:10.2f} ms")
        fl, wt = tot.get("combine (all-gather-v in flight)", 0), tot.get("combine wait", 0)
        if fl > 0:
            print(f"  combine: {nbytes / 1e6:.2f} MB received, in flight {fl / 1e3:.2f} ms, waited {wt / 1e3:.2f} ms:"
                  f" {100 * (1 - wt / fl):.0f} % hidden by the dense path")


if __name__ == "__main__":
    main()
