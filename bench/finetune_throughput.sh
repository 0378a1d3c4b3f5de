#!/usr/bin/env bash
# Fine-tuning throughput, side by side: `harness` vs Hugging Face transformers'
# BertForSequenceClassification, same checkpoint, batch, length, thread count and machine.
#   bench/finetune_throughput.sh [--batch-size 32] [--max-len 128] [--steps 10] [--threads 2] [--model DIR]
# Needs scripts/setup.sh (harness, MiniLM) and scripts/python-env.sh (bench/.venv with transformers).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL="$ROOT/data/models/all-MiniLM-L6-v2"; BS=32; LEN=128; STEPS=10; WARMUP=2; THREADS=2
while [ $# -gt 0 ]; do
  case "$1" in
    --model) MODEL="$2"; shift 2 ;;
    --batch-size) BS="$2"; shift 2 ;;
    --max-len) LEN="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$ROOT/target/release/harness" ] || { echo "run scripts/setup.sh first" >&2; exit 1; }
[ -x "$ROOT/bench/.venv/bin/python" ] || "$ROOT/scripts/python-env.sh"
export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
common=(--batch-size "$BS" --max-len "$LEN" --steps "$STEPS" --warmup "$WARMUP" --threads "$THREADS")
h="$("$ROOT/target/release/harness" bench finetune --model "$MODEL" "${common[@]}")"
p="$("$ROOT/bench/.venv/bin/python" "$ROOT/bench/hf_finetune.py" --model "$MODEL" "${common[@]}")"
echo "$h"; echo "$p"
"$ROOT/bench/.venv/bin/python" - "$h" "$p" <<'PY'
import json, sys
h, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"\n{'implementation':<48} {'examples/s':>10} {'ms/step':>9}")
for r in (h, p):
    print(f"{r['implementation']:<48} {r['examples_per_s']:>10.2f} {r['ms_per_step']:>9.1f}")
print(f"\nharness / transformers = {h['examples_per_s'] / p['examples_per_s']:.3f}x "
      f"(batch {h['batch_size']}, length {h['seq_len']}, {h['threads']} threads, {h['steps']} timed steps)")
PY
