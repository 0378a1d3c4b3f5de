#!/usr/bin/env bash
# Fine-tuning throughput, side by side: `harness bench finetune` vs Hugging Face transformers'
# BertForSequenceClassification (bench/hf_finetune.py), alternating the two over several rounds
# so that both see the same machine load.
#   bench/finetune_throughput.sh [--batch-size 32] [--max-len 128] [--steps 10] [--warmup 2]
#       [--threads 2] [--rounds 5] [--model DIR] [--device cpu|cuda] [--precision fp32|tf32|bf16]
#       [--harness BIN]
# Both sides: the same checkpoint, a 2-class head, fixed-shape random token ids (batch × length,
# attention mask all ones), dropout on (training mode), AdamW lr 2e-5, eps 1e-8, weight decay
# 0.01 except biases and LayerNorm weights, gradient clipping at norm 1.0, the same thread count,
# `--warmup` untimed steps then `--steps` timed ones. Prints each round's JSON line, then per
# side the median and spread of examples/s, each as a fraction of the machine's matmul peak
# on the same threads (bench/matmul_peak.py), the load average before and after, and
#   harness / transformers = Rx (...)   (R = ratio of the medians)
# Needs scripts/setup.sh (harness, MiniLM); bench/reference-env.sh creates the Python side.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL="$ROOT/data/models/all-MiniLM-L6-v2"; BS=32; LEN=128; STEPS=10; WARMUP=2; THREADS=2; ROUNDS=5
DEVICE=cpu; PRECISION=""; HARNESS="$ROOT/target/release/harness"
while [ $# -gt 0 ]; do
  case "$1" in
    --model) MODEL="$2"; shift 2 ;;
    --batch-size) BS="$2"; shift 2 ;;
    --max-len) LEN="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --device) DEVICE="$2"; shift 2 ;;
    --precision) PRECISION="$2"; shift 2 ;;
    --harness) HARNESS="$2"; shift 2 ;;   # another build of harness, e.g. to compare two commits
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$ROUNDS" -ge 1 ] 2>/dev/null || { echo "--rounds must be a positive count, got $ROUNDS" >&2; exit 2; }
[ -x "$HARNESS" ] || { echo "$HARNESS not found: run scripts/setup.sh first" >&2; exit 1; }
[ -f "$MODEL/config.json" ] || { echo "$MODEL/config.json is missing: run scripts/setup.sh first" >&2; exit 1; }
PY="$("$ROOT/bench/reference-env.sh")"
export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
common=(--batch-size "$BS" --max-len "$LEN" --steps "$STEPS" --warmup "$WARMUP" --threads "$THREADS"
        --device "$DEVICE" ${PRECISION:+--precision "$PRECISION"})
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do   # alternate, so that both see the same machine load
  "$HARNESS" bench finetune --model "$MODEL" "${common[@]}" | tee -a "$tmp/h.jsonl"
  "$PY" "$ROOT/bench/hf_finetune.py" --model "$MODEL" "${common[@]}" | tee -a "$tmp/p.jsonl"
done
peak="$("$PY" "$ROOT/bench/matmul_peak.py" --threads "$THREADS" --device "$DEVICE")"
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" "$ROOT/bench/throughput_summary.py" --kind finetune --harness "$tmp/h.jsonl" \
  --reference "$tmp/p.jsonl" --peak "$peak" --bert-config "$MODEL/config.json" \
  --load-before "$load_before" --load-after "$load_after"
