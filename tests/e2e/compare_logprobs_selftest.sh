#!/usr/bin/env bash
# tools/compare_logprobs.py, the judge of every agreement test, judged: --greedy-equal accepts
# greedy lists that part only on a near-tie of the reference's own distribution at that step
# (margin <= the largest |dlogp| measured on the given positions) and refuses real divergences.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/agree_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/agree_common.sh"
e2e_setup compare_logprobs_selftest
"$PY" - "$SRC/tools/compare_logprobs.py" "$WORK" <<'PYEOF'
import json, math, os, subprocess, sys
tool, work = sys.argv[1], sys.argv[2]

def row(p):  # log-softmax of a small distribution
    s = sum(p)
    return [math.log(x / s) for x in p]

def write(name, rows, greedy, top=None):
    d = {"tokens": list(range(len(rows))), "logprobs": rows, "greedy": greedy}
    if top is not None:
        d["greedy_top"] = top
    path = os.path.join(work, name)
    json.dump(d, open(path, "w"))
    return path

A_rows = [row([4, 3, 2, 1]), row([1, 2, 3, 4])]
B_rows = [row([4.2, 3, 2, 1]), row([1, 2, 3, 4.1])]  # max |dlogp| ~ 0.04
def run(a, b):
    r = subprocess.run([sys.executable, tool, a, b, "--greedy-equal"], capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr

a = write("a.json", A_rows, [0, 1, 2])
cases = [
    # (B's greedy, B's greedy_top at each step, expected rc)
    ([0, 1, 2], None, 0),                                              # identical
    ([0, 3, 2], [[[0, -0.1]], [[3, -1.0], [1, -1.02]], [[2, -0.5]]], 0),  # near-tie at 1: margin 0.02
    ([0, 3, 2], [[[0, -0.1]], [[3, -1.0], [1, -1.5]], [[2, -0.5]]], 1),   # margin 0.5 > 0.04
    ([0, 3, 2], [[[0, -0.1]], [[3, -1.0], [2, -1.01]], [[2, -0.5]]], 1),  # A's pick not in B's top
    ([0, 3, 2], None, 1),                                              # no distribution: strict
]
bad = 0
for i, (g, top, want) in enumerate(cases):
    b = write("b%d.json" % i, B_rows, g, top)
    rc, out = run(a, b)
    ok = (rc == 0) == (want == 0)
    print("case %d: rc %d (want %s)%s" % (i, rc, "pass" if want == 0 else "fail", "" if ok else "  <-- WRONG\n" + out))
    bad += not ok
sys.exit(1 if bad else 0)
PYEOF
echo "PASS: compare_logprobs near-tie rule"
