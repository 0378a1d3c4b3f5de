"""Summary of an alternating throughput benchmark (finetune_throughput.sh, txl_throughput.sh):
per side the median and spread (min–max and interquartile range) over the rounds, the ratio of
medians, each side's median as a fraction of the measured matmul peak, and the load average
before and after. Refuses rows whose shapes, threads, device or step counts differ.

Training FLOPs per step count the matrix products only (a multiply-add is 2 FLOPs) and take the
backward pass as twice the forward, so a step is 3 × forward:
  BERT (L layers, hidden d, FFN f, batch B, length T):
    forward = B · (L · (8·T·d² + 4·T·d·f + 4·T²·d) + 2·d² + 2·d·2)
    (Q, K, V, O projections; the two FFN matrices; scores and attention-weighted values; the
    pooler and the 2-class classifier on [CLS]).
  Transformer-XL (L layers, d_model d, heads H × d_head e, FFN f, vocabulary V, batch B,
  segment M, memory N, K = M + N keys):
    forward = B · (L · (2·d·H·e·(M + 2K) + 2·d·H·e·K + 3 · 2·M·K·H·e + 2·M·H·e·d + 4·M·d·f)
                   + 2·M·d·V)
    (Q over the segment, K and V over memory and segment; the positional projection W_R r over
    K distances; content scores, positional scores and weighted values; the output projection;
    the FFN; the tied softmax layer). Embedding lookups, softmax, LayerNorm and the optimizer
    are not counted.
"""
import argparse, json, statistics, sys

MATCH = {
    "finetune": ["device", "precision", "threads", "batch_size", "seq_len", "warmup_steps", "steps"],
    "txl": ["device", "threads", "n_layer", "d_model", "tgt_len", "mem_len", "batch_size",
            "warmup_steps", "steps"],
}
RATE = {"finetune": "examples_per_s", "txl": "tokens_per_s"}


def bert_step_flops(cfg, batch, seq):
    L, d, f = cfg["num_hidden_layers"], cfg["hidden_size"], cfg["intermediate_size"]
    fwd = batch * (L * (8 * seq * d * d + 4 * seq * d * f + 4 * seq * seq * d) + 2 * d * d + 4 * d)
    return 3 * fwd


def txl_step_flops(r):
    L, d, H, e, f = r["n_layer"], r["d_model"], r["n_head"], r["d_head"], r["d_inner"]
    M, K, V, B = r["tgt_len"], r["tgt_len"] + r["mem_len"], r["n_token"], r["batch_size"]
    layer = (2 * d * H * e * (M + 2 * K) + 2 * d * H * e * K + 3 * 2 * M * K * H * e
             + 2 * M * H * e * d + 4 * M * d * f)
    return 3 * B * (L * layer + 2 * M * d * V)


def spread(xs):
    xs = sorted(xs)
    q = statistics.quantiles(xs, n=4, method="inclusive") if len(xs) > 1 else [xs[0]] * 3
    return statistics.median(xs), xs[0], xs[-1], q[0], q[2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=sorted(RATE), required=True)
    ap.add_argument("--harness", required=True, help="JSON lines, one per round")
    ap.add_argument("--reference", required=True, help="JSON lines, one per round")
    ap.add_argument("--peak", required=True, help="matmul_peak.py's JSON line")
    ap.add_argument("--bert-config", help="the checkpoint's config.json (finetune)")
    ap.add_argument("--load-before", required=True)
    ap.add_argument("--load-after", required=True)
    a = ap.parse_args()
    read = lambda path: [json.loads(l) for l in open(path) if l.strip()]
    h, p = read(a.harness), read(a.reference)
    peak = json.loads(a.peak)
    if not h or len(h) != len(p):
        sys.exit(f"error: {len(h)} harness rounds and {len(p)} reference rounds")
    for key in MATCH[a.kind]:
        norm = (lambda v: str(v).split(":")[0]) if key == "device" else str
        values = {norm(r.get(key, "fp32" if key == "precision" else None)) for r in h + p}
        if len(values) != 1:
            sys.exit(f"error: the two sides ran with different {key}: {sorted(values)}")
    params = {r.get("params_total") for r in h + p} - {None}
    if len(params) > 1:
        print(f"warning: the two models have different parameter counts: {sorted(params)}")
    if str(peak["threads"]) != str(h[0]["threads"]):
        sys.exit(f"error: the peak was measured on {peak['threads']} threads, the runs used {h[0]['threads']}")
    r = h[0]
    if a.kind == "finetune":
        cfg = json.load(open(a.bert_config))
        flops = bert_step_flops(cfg, r["batch_size"], r["seq_len"])
        per_step = r["batch_size"]
        shape = f"batch {r['batch_size']}, length {r['seq_len']}"
    else:
        flops = txl_step_flops(r)
        per_step = r["batch_size"] * r["tgt_len"]
        shape = (f"{r['n_layer']} layers, d_model {r['d_model']}, tgt_len {r['tgt_len']}, "
                 f"mem_len {r['mem_len']}, batch {r['batch_size']}")
    rate = RATE[a.kind]
    print(f"\n{'implementation':<66} {rate:>14} {'min–max':>19} {'IQR':>19} {'ms/step':>8} {'of peak':>8}")
    med = {}
    for name, rows in (("harness", h), ("transformers", p)):
        m, lo, hi, q1, q3 = spread([x[rate] for x in rows])
        med[name] = m
        fraction = flops * m / per_step / peak["flops_per_s"]
        print(f"{rows[0]['implementation'][:66]:<66} {m:>14.2f} {lo:>9.2f}–{hi:<9.2f} "
              f"{q1:>9.2f}–{q3:<9.2f} {1000 * per_step / m:>8.1f} {100 * fraction:>7.1f}%")
    if all("phases_ms" in x for x in h + p):
        print("\nmedian ms per step by phase (forward with the loss and zero_grad | backward | "
              "clipping and AdamW):")
        for name, rows in (("harness", h), ("transformers", p)):
            cells = [statistics.median(x["phases_ms"][k] for x in rows)
                     for k in ("forward", "backward", "optimizer")]
            print(f"  {name:<13} " + " | ".join(f"{c:9.1f}" for c in cells))
    print(f"\n{flops / 1e9:.2f} GFLOP per training step (matmuls, 3 × forward); matmul peak "
          f"{peak['flops_per_s'] / 1e9:.1f} GFLOP/s ({peak['n']}² float32, {peak['threads']} threads, "
          f"{peak['device']})")
    print(f"load average (1, 5, 15 min): before {a.load_before}, after {a.load_after}")
    print(f"\nharness / transformers = {med['harness'] / med['transformers']:.3f}x (ratio of medians "
          f"of {len(h)} alternating rounds; {shape}, {r['threads']} threads, {r['steps']} timed steps "
          f"after {r['warmup_steps']} warm-up, {r['device']}, {r.get('precision', 'fp32')})")


if __name__ == "__main__":
    main()
