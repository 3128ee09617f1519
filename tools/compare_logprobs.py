#!/usr/bin/env python3
"""Compares two `moecat logprobs` / `llama_ref.mjs` JSON outputs.

    compare_logprobs.py A.json B.json [--max-abs X] [--max-kl Y] [--max-kl-max Z]
                        [--greedy-equal] [--label-a NAME] [--label-b NAME] [--stats-json OUT]

Prints the largest |log p_A - log p_B| over all positions and vocabulary entries, the mean and
max over positions of KL(A||B) = sum_v p_A(v) (log p_A(v) - log p_B(v)), the top-1 agreement, and
whether the greedy continuations agree. Exits 1 with a message naming the broken bound when a
threshold is exceeded, the token lists or shapes differ, or an input is malformed.
--greedy-equal accepts lists that part only where a file's own distribution at that step (its
"greedy_top", written by llama_ref.mjs) makes the two picks a near-tie: a margin no larger than the
largest |dlogp| measured on the given positions (the models' margins do not allow more).
--max-kl bounds the MEAN KL over positions; --max-kl-max bounds the largest one.
--stats-json writes the measured numbers as JSON (for scripts that derive bounds from them).
Pure Python standard library (the inputs are small: a few hundred positions at most).
"""

import argparse
import json
import math
import sys


def fail(msg):
    print("compare_logprobs: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def load(path):
    try:
        with open(path, "r", encoding="utf-8") as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        fail("cannot read %s: %s" % (path, e))
    if not isinstance(d, dict):
        fail("%s: top level is not a JSON object" % path)
    for key in ("tokens", "logprobs"):
        if key not in d:
            fail("%s: missing key %r" % (path, key))
    lp = d["logprobs"]
    if not isinstance(lp, list) or not lp or not all(isinstance(r, list) for r in lp):
        fail("%s: 'logprobs' must be a non-empty list of lists" % path)
    width = len(lp[0])
    for i, r in enumerate(lp):
        if len(r) != width:
            fail("%s: position %d has %d entries, position 0 has %d" % (path, i, len(r), width))
        for x in r:
            if not isinstance(x, (int, float)) or isinstance(x, bool) or math.isnan(x) or x > 1e-3:
                fail("%s: position %d has a non-numeric, NaN or positive log-probability (%r)" % (path, i, x))
        total = math.fsum(math.exp(x) for x in r)
        if abs(total - 1.0) > 1e-3:
            fail("%s: position %d: probabilities sum to %.6f, not 1 (not a log-softmax?)" % (path, i, total))
    if len(lp) != len(d["tokens"]):
        fail("%s: %d logprob rows for %d tokens" % (path, len(lp), len(d["tokens"])))
    d.setdefault("greedy", [])
    return d


def near_tie(A, B, k, max_abs):
    """Where greedy lists part at step k: a description when either file's own distribution at
    that step (its "greedy_top", e.g. llama_ref.mjs's) ranks the other engine's pick within
    max(max_abs, 1e-3) of its own, i.e. the engines disagree there by no more than they measurably
    disagree on the given positions; None otherwise (a real divergence)."""
    tol = max(max_abs, 1e-3)
    for own, other, name in ((B, A, "B"), (A, B, "A")):
        top = own.get("greedy_top") or []
        if k >= len(top) or k >= len(own["greedy"]) or k >= len(other["greedy"]):
            continue
        lp = {int(t): float(x) for t, x in top[k]}
        mine, theirs = own["greedy"][k], other["greedy"][k]
        if mine in lp and theirs in lp and lp[mine] - lp[theirs] <= tol:
            return "%s's log p of its pick %d is %.4g, of the other's %d %.4g (margin %.3g <= %.3g)" % (
                name, mine, lp[mine], theirs, lp[theirs], lp[mine] - lp[theirs], tol)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--max-abs", type=float, default=None, help="bound on max |dlog p| over all entries")
    ap.add_argument("--max-kl", type=float, default=None, help="bound on mean KL(A||B) over positions")
    ap.add_argument("--max-kl-max", type=float, default=None, help="bound on max KL(A||B) over positions")
    ap.add_argument("--greedy-equal", action="store_true", help="require identical greedy lists")
    ap.add_argument("--label-a", default=None)
    ap.add_argument("--label-b", default=None)
    ap.add_argument("--stats-json", default=None, help="write the measured numbers here as JSON")
    args = ap.parse_args()
    la, lb = args.label_a or args.a, args.label_b or args.b

    A, B = load(args.a), load(args.b)
    if A["tokens"] != B["tokens"]:
        fail("the two files are for different token sequences (%s: %d tokens, %s: %d tokens)" % (
            la, len(A["tokens"]), lb, len(B["tokens"])))
    if len(A["logprobs"][0]) != len(B["logprobs"][0]):
        fail("vocabulary sizes differ: %s has %d, %s has %d" % (
            la, len(A["logprobs"][0]), lb, len(B["logprobs"][0])))

    max_abs, where = 0.0, (0, 0)
    kls, top1_same = [], 0
    for i, (ra, rb) in enumerate(zip(A["logprobs"], B["logprobs"])):
        kl = 0.0
        for v, (x, y) in enumerate(zip(ra, rb)):
            dx = abs(x - y)
            if not dx <= max_abs:  # also catches inf - inf
                if math.isnan(dx):
                    dx = math.inf
                if dx > max_abs:
                    max_abs, where = dx, (i, v)
            pa = math.exp(x)
            if pa > 0.0:
                kl += pa * (x - y)
        kls.append(max(kl, 0.0))
        if max(range(len(ra)), key=ra.__getitem__) == max(range(len(rb)), key=rb.__getitem__):
            top1_same += 1
    mean_kl = math.fsum(kls) / len(kls)
    max_kl = max(kls)
    n = len(kls)
    ga, gb = A["greedy"], B["greedy"]
    common = 0
    while common < min(len(ga), len(gb)) and ga[common] == gb[common]:
        common += 1
    print("compare %s vs %s: %d positions x %d vocab" % (la, lb, n, len(A["logprobs"][0])))
    print("  max |dlogp| = %.3e (position %d, token %d)" % (max_abs, where[0], where[1]))
    print("  KL(A||B): mean %.3e, max %.3e" % (mean_kl, max_kl))
    print("  top-1 agreement: %d/%d positions" % (top1_same, n))
    print("  greedy: %d vs %d tokens, identical prefix %d%s" % (
        len(ga), len(gb), common, " (identical)" if ga == gb else ""))

    if args.stats_json:
        stats = {"positions": n, "vocab": len(A["logprobs"][0]), "max_abs": max_abs,
                 "max_abs_at": list(where), "kl_mean": mean_kl, "kl_max": max_kl, "top1_same": top1_same,
                 "greedy_equal": bool(ga) and ga == gb, "greedy_common_prefix": common}
        with open(args.stats_json, "w") as f:
            json.dump(stats, f)
            f.write("\n")

    errors = []
    if args.max_abs is not None and not max_abs <= args.max_abs:
        errors.append("max |dlogp| %.3e > bound %.3e" % (max_abs, args.max_abs))
    if args.max_kl is not None and not mean_kl <= args.max_kl:
        errors.append("mean KL %.3e > bound %.3e" % (mean_kl, args.max_kl))
    if args.max_kl_max is not None and not max_kl <= args.max_kl_max:
        errors.append("max KL %.3e > bound %.3e" % (max_kl, args.max_kl_max))
    if args.greedy_equal:
        if not ga or not gb:
            errors.append("greedy comparison requested but a greedy list is empty (%d vs %d)" % (len(ga), len(gb)))
        elif ga != gb:
            tie = near_tie(A, B, common, max_abs)
            if tie is None:
                errors.append("greedy lists differ at index %d: %s vs %s" % (common, ga, gb))
            else:
                print("  greedy: the lists part at index %d on a near-tie: %s" % (common, tie))
    if errors:
        fail("%s vs %s: %s" % (la, lb, "; ".join(errors)))
    print("  OK")


if __name__ == "__main__":
    main()
