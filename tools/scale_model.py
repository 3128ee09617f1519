#!/usr/bin/env python3
"""Paper figures for expert parallelism (docs/SCALE.md): LongCat-Flash 560B and DeepSeek-V3 on k
machines, one moecat rank per machine, as moecat splits them (model/expert_parallel.h): every
rank holds and runs the dense part (attention, dense MLPs, routers, shared experts, embeddings),
rank r holds routed experts [E*r/k, E*(r+1)/k); the combine all-gathers, per MoE layer, each
rank's f32 sum over its experts for only the tokens routed to them.

    scale_model.py [--bits 4.5] [--mem-bw 200] [--batch 1]

Per configuration it prints memory per rank, bytes each rank receives per token per MoE layer,
the time that takes at 10/25/100/400 Gb/s (plus a per-collective latency), the window the dense
path offers (LongCat: the second attention + both dense MLPs run while the combine travels) and
the resulting decode tokens/s bound = 1 / max(compute, compute_dense_window + exposed comm).
All architecture numbers are the published configs; the counts below are computed, not measured.
"""
import argparse
from math import comb

MODELS = {
    # name: hidden, MoE layers, FFN experts, zero experts, top-k, avg FFN experts/token,
    #       expert inter size, total params (B; dense = total - routed experts); window: the
    #       fraction of the dense reads that run while the combine is on the wire (LongCat: the
    #       second MLA and both dense MLPs of the layer, ~3/4; DeepSeek-V3: only the shared
    #       expert, which moecat computes after starting the combine, ~0.15)
    "LongCat-Flash 560B": dict(D=6144, L=28, E=512, Z=256, k=12, k_ffn=8.0, F=2048,
                               total_b=560.0, window=0.75),
    "DeepSeek-V3 671B": dict(D=7168, L=58, E=256, Z=0, k=8, k_ffn=8.0, F=2048,
                             total_b=671.0, window=0.15),
}


def expert_params(m):
    return m["L"] * m["E"] * 3 * m["D"] * m["F"] / 1e9


def p_hit(E, k, share):
    """P(a token's k distinct experts hit a given rank holding `share` of E) (uniform routing)."""
    k = int(round(k))
    return 1.0 - comb(E - share, k) / comb(E, k)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bits", type=float, default=4.5, help="bits per weight (Q4_K_M ~4.5-4.8, fp8 8, bf16 16)")
    ap.add_argument("--mem-bw", type=float, default=200.0, help="memory read bandwidth per machine, GB/s")
    ap.add_argument("--batch", type=int, default=1, help="tokens per decode step")
    ap.add_argument("--latency-us", type=float, default=30.0, help="per all-gather step latency, us")
    a = ap.parse_args()
    B = a.bits / 8
    for name, m in MODELS.items():
        ep = expert_params(m)
        dense = m["total_b"] - ep
        print(f"\n### {name}: routed experts {ep:.0f}B of {m['total_b']:.0f}B params; dense (every rank) {dense:.0f}B;"
              f" {a.bits} bits/weight, {a.mem_bw:.0f} GB/s per machine, batch {a.batch}")
        print("| k | GB per rank | KB in per token per layer | comm per step @10/25/100/400 Gb/s (ms) |"
              " compute per step (ms) | tokens/s bound @10/25/100/400 |")
        print("| --- | --- | --- | --- | --- | --- |")
        # parameters read per decode step (memory bound): the dense part once (one embedding row),
        # and per MoE layer the distinct experts of this rank's share that the batch touches
        act_dense = dense - 131072 * m["D"] / 1e9  # the embedding table is not streamed
        per_expert = 3 * m["D"] * m["F"] / 1e9
        for k in (1, 2, 4, 8, 16):
            mem = (dense + ep / k) * B
            share = m["E"] // k
            hits_other = (k - 1) * p_hit(m["E"], m["k_ffn"], share) if k > 1 else 0.0
            kb = hits_other * 4 * m["D"] / 1e3  # f32 rows received per token per layer
            touched = share * (1.0 - (1.0 - m["k_ffn"] / m["E"]) ** a.batch)
            dense_s = act_dense * B / a.mem_bw
            comp_s = dense_s + m["L"] * touched * per_expert * B / a.mem_bw
            comms, rates = [], []
            for gbps in (10, 25, 100, 400):
                steps = max(1, (k - 1).bit_length())
                c = m["L"] * (a.batch * kb * 1e3 / (gbps / 8 * 1e9) + steps * a.latency_us * 1e-6) if k > 1 else 0.0
                exposed = max(0.0, c - dense_s * m["window"])  # what the dense window cannot hide
                comms.append(c * 1e3)
                rates.append(a.batch / (comp_s + exposed))
            print(f"| {k} | {mem:.0f} | {kb:.0f} | {' / '.join('%.1f' % c for c in comms)} | {comp_s * 1e3:.0f} |"
                  f" {' / '.join('%.1f' % r for r in rates)} |")

if __name__ == "__main__":
    main()
