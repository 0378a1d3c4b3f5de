#!/usr/bin/env bash
# Transformer-XL training throughput, side by side: `harness` (examples/txl_throughput.rs) vs a
# PyTorch Transformer-XL of the same configuration (Hugging Face transformers 4.35.2
# TransfoXLLMHeadModel; the model is gone from transformers 5), same shapes, thread count and
# machine, random tokens.
#   bench/txl_throughput.sh [--n-layer 6] [--d-model 64] [--n-head 4] [--d-head 16] [--d-inner 128]
#       [--n-token 204] [--tgt-len 32] [--mem-len 32] [--batch-size 16] [--steps 20] [--warmup 3]
#       [--threads 2] [--device cpu] [--rounds 5]
# Defaults: the lm_quickstart model at byte level. The paper's enwik8 model on a GPU:
#   bench/txl_throughput.sh --n-layer 12 --d-model 512 --n-head 8 --d-head 64 --d-inner 2048 \
#       --tgt-len 512 --mem-len 512 --batch-size 22 --device cuda
# Both sides: random tokens, Adam (harness: AdamW with weight decay 0, the same update) at
# 2.5e-4, gradient clipping at 0.25, dropout as given (0.1), dropatt 0, memory carried across
# segments, the same thread count, `--warmup` untimed steps then `--steps` timed ones. The two
# run alternately over `--rounds` rounds (default 5); the summary gives per side the median and
# spread of tokens/s, each as a fraction of the machine's matmul peak on the same threads
# (bench/matmul_peak.py), the load average before and after, and
#   harness / transformers = Rx (...)   (R = ratio of the medians)
# The Python side runs in bench/.venv-ref (bench/reference-env.sh: transformers 4.35.2 and torch
# 2.11.0, or TORCH_SITE's torch placed behind that environment's own packages). libtorch for the
# harness side: LIBTORCH, default .deps/py/torch.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS=5
args=(--n-layer 6 --d-model 64 --n-head 4 --d-head 16 --d-inner 128 --n-token 204 --tgt-len 32
      --mem-len 32 --batch-size 16 --steps 20 --warmup 3 --threads 2 --device cpu)
set_arg() { for i in "${!args[@]}"; do [ "${args[$i]}" = "$1" ] && args[$((i + 1))]="$2" && return; done; args+=("$1" "$2"); }
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --n-layer|--d-model|--n-head|--d-head|--d-inner|--n-token|--tgt-len|--mem-len|--batch-size|--steps|--warmup|--threads|--device|--dropout)
      set_arg "$1" "$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
threads=2; for i in "${!args[@]}"; do [ "${args[$i]}" = "--threads" ] && threads="${args[$((i + 1))]}"; done

[ "$ROUNDS" -ge 1 ] 2>/dev/null || { echo "--rounds must be a positive count, got $ROUNDS" >&2; exit 2; }
device=cpu; for i in "${!args[@]}"; do [ "${args[$i]}" = "--device" ] && device="${args[$((i + 1))]}"; done
PY="$("$ROOT/bench/reference-env.sh")"
LIBTORCH="${LIBTORCH:-$ROOT/.deps/py/torch}"
export LIBTORCH LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
BIN="$ROOT/target/release/examples/txl_throughput"
[ -x "$BIN" ] || (cd "$ROOT" && cargo build --release --example txl_throughput)
export OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"

tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do   # alternate, so that both see the same machine load
  "$BIN" "${args[@]}" | tee -a "$tmp/h.jsonl"
  "$PY" "$ROOT/bench/hf_txl.py" "${args[@]}" | tee -a "$tmp/p.jsonl"
done
peak="$("$PY" "$ROOT/bench/matmul_peak.py" --threads "$threads" --device "$device")"
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" "$ROOT/bench/throughput_summary.py" --kind txl --harness "$tmp/h.jsonl" \
  --reference "$tmp/p.jsonl" --peak "$peak" --load-before "$load_before" --load-after "$load_after"
