#!/usr/bin/env bash
# Phase-1 vs phase-2 training speed and peak memory of two-phase skip-retain training at 12 layers
# (METHODS §5 expects phase-1/phase-2 ms per step ≈ 0.81 with the functional schedule, which skips
# ~19% of layer computations, and no extra memory), through `harness run` and `harness report`.
#   bench/phase_speed.sh [--seeds 2] [--steps 40] [--threads 2] [--device cpu] [--out DIR]
# Model: 12 layers, d_model 256, 8 heads of 32, d_inner 1024, segments of 64 with a memory of 64,
# batch 8; variants baseline and two_phase (phase 1 = first half). Data: the first 600,000 bytes of
# the enwik8-style Wikipedia sample (NOT enwik8) prepared by scripts/setup.sh, so that the final
# evaluation on the whole valid/test splits (30,000 bytes each) stays short. Prints the report's
# speed/memory section; the whole report is written to DIR/report.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SEEDS=2 STEPS=40 THREADS=2 DEVICE=cpu OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) SEEDS="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --device) DEVICE="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    *) echo "unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
BIN="$ROOT/target/release/harness"
SAMPLE="$ROOT/data/lm/wikisample_bytes/wikisample_bytes"
[ -x "$BIN" ] || { echo "no $BIN: run scripts/setup.sh first" >&2; exit 1; }
[ -f "$SAMPLE" ] || { echo "no $SAMPLE: run scripts/setup.sh first" >&2; exit 1; }
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT/data/lm/wikisample_bytes"
head -c 600000 "$SAMPLE" > "$OUT/data/lm/wikisample_bytes/wikisample_bytes"
cat > "$OUT/phase_speed.yaml" <<SPEC
name: phase_speed
description: >
  12-layer Transformer-XL (d_model 256) on the first 600 kB of the Wikipedia XML sample:
  phase-1 vs phase-2 milliseconds per step and peak memory of two-phase skip-retain training.
seeds: {count: $SEEDS, base: 1}
device: $DEVICE
threads: $THREADS
data_dir: $OUT/data
model:
  kind: transformer_xl
  n_layer: 12
  d_model: 256
  n_head: 8
  d_head: 32
  d_inner: 1024
  dropout: 0.1
  tgt_len: 64
  mem_len: 64
  eval_tgt_len: 128
  eval_mem_len: 64
tasks: [wikisample_bytes]
train:
  max_steps: $STEPS
  batch_size: 8
  eval_batch_size: 128
  lr: 5.0e-4
  lr_schedule: cosine
  warmup_ratio: 0.0
  weight_decay: 0.0
  grad_clip: 0.25
baseline: baseline
variants:
  baseline: {}
  two_phase: {skip: {schedule: functional}, phase1: 0.5}
SPEC
"$BIN" run --quiet --db "$OUT/phase_speed.db" "$OUT/phase_speed.yaml"
"$BIN" report phase_speed --db "$OUT/phase_speed.db" --out "$OUT/report" >/dev/null
sed -n '/^## Speed, memory and run facts/,/^## Figures/p' "$OUT/report/report.md" | sed '$d'
echo "report: $OUT/report/report.html"
