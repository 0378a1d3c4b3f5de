#!/usr/bin/env bash
# Exercises every CUDA path of the release binary once, briefly, and prints one PASS/FAIL line per
# path (exit 1 if any failed):
#   1. device: `auto` resolves to the GPU (no fallback warning), and the default precision is tf32
#   2. BERT fine-tuning throughput (MiniLM-L6, batch 32, length 128) and peak GPU memory (max
#      allocated) in each precision: fp32, tf32, bf16 (on the CPU: fp32 and bf16)
#   3. a BERT grid on the GPU in bf16 (spam, baseline and cross_head, 1 seed), runs done with
#      their device and precision
#   4. Transformer-XL two-phase training with a checkpoint, an interrupt and a resume
#   5. `--workers 2` with both workers on the same GPU
#
#   scripts/gpu-check.sh [--device cuda|cuda:N|cpu] [TORCH_DIR]
#
# TORCH_DIR is the `torch` folder of a CUDA install of torch 2.11.0 (holding lib/libtorch_cuda.so):
# by default .deps/py/torch when `scripts/setup.sh --cuda` installed it there, else the one
# `python3 -c 'import torch'` finds. `--device cpu` runs the same paths on the CPU (to check the
# script itself on a machine without a GPU). Needs data/ from scripts/setup.sh.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/target/release/harness"
DEVICE=cuda
TORCH_DIR="${TORCH_DIR:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE="$2"; shift 2 ;;
    -h|--help) sed -n 2,16p "$0"; exit 0 ;;
    *) TORCH_DIR="$1"; shift ;;
  esac
done
[ -x "$BIN" ] || { echo "gpu-check: $BIN not found; build it with scripts/setup.sh" >&2; exit 1; }
if [ "$DEVICE" != cpu ]; then
  if [ -z "$TORCH_DIR" ] && [ -f "$ROOT/.deps/py/torch/lib/libtorch_cuda.so" ]; then
    TORCH_DIR="$ROOT/.deps/py/torch"
  fi
  if [ -z "$TORCH_DIR" ]; then
    TORCH_DIR="$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null || true)"
  fi
  [ -f "$TORCH_DIR/lib/libtorch_cuda.so" ] || {
    echo "gpu-check: no CUDA libtorch found (looked at '${TORCH_DIR:-<python3 torch>}/lib/libtorch_cuda.so'); run scripts/setup.sh --cuda or pass the torch folder of a CUDA install" >&2
    exit 1
  }
  export LD_LIBRARY_PATH="$TORCH_DIR/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
FAILED=0
result() { # NAME STATUS DETAIL
  if [ "$2" = 0 ]; then echo "PASS  $1  $3"; else echo "FAIL  $1  $3"; FAILED=1; fi
}
json_field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

echo "== 1. device auto"
db="$WORK/auto.db"
want="cuda:0"; [ "$DEVICE" = cpu ] && want=cpu
if [ "$DEVICE" = cpu ]; then auto=cpu; else auto=auto; fi
"$BIN" run "$ROOT/experiments/ci_smoke.yaml" --device "$auto" --db "$db" --quiet \
  --set seeds.count=1 --set 'variants={baseline: {}}' --set train.max_steps=2 2>"$WORK/auto.log"
st="$("$BIN" status ci_smoke --db "$db" --format json)"
got="$(json_field '",".join(sorted({r["device"] for r in d["runs"]}))' <<<"$st")"
prec="$(json_field '",".join(sorted({str(r.get("precision")) for r in d["runs"]}))' <<<"$st")"
want_prec=tf32; [ "$DEVICE" = cpu ] && want_prec=fp32
! grep -q "WARNING: device auto" "$WORK/auto.log" && [ "$got" = "$want" ] && [ "$prec" = "$want_prec" ]
result device-auto $? "runs on $got in $prec (default precision)$(grep -h 'WARNING' "$WORK/auto.log" | head -1)"

echo "== 2. BERT fine-tuning throughput on $DEVICE (MiniLM-L6, batch 32, length 128), per precision"
steps=50; [ "$DEVICE" = cpu ] && steps=2
precisions="fp32 tf32 bf16"; [ "$DEVICE" = cpu ] && precisions="fp32 bf16"
for precision in $precisions; do
  if bench="$("$BIN" bench finetune --device "$DEVICE" --precision "$precision" --batch-size 32 --max-len 128 --warmup 2 --steps "$steps" --threads "$(nproc)")"; then
    echo "$bench"
    got="$(json_field 'd["precision"]' <<<"$bench")"
    [ "$got" = "$precision" ]
    result "bert-throughput-$precision" $? "$(json_field '"%s: %.1f ex/s, %.1f ms/step (forward %.1f, backward %.1f, optimizer %.1f), peak %s bytes" % (d["precision"], d["examples_per_s"], d["ms_per_step"], d["phases_ms"]["forward"], d["phases_ms"]["backward"], d["phases_ms"]["optimizer"], d["peak_memory_bytes"])' <<<"$bench" 2>/dev/null || echo "$bench")"
  else
    result "bert-throughput-$precision" 1 "bench finetune --precision $precision failed"
  fi
done

echo "== 3. a BERT grid on $DEVICE in bf16"
db="$WORK/bert.db"
if "$BIN" run "$ROOT/experiments/variance_quickstart.yaml" --device "$DEVICE" --db "$db" --quiet \
     --set seeds.count=1 --set 'tasks=[spam]' --set threads=null --set train.max_steps=10 \
     --set train.precision=bf16; then
  st="$("$BIN" status variance_quickstart --db "$db" --format json)"
  done_on="$(json_field '",".join(sorted({r["device"] for r in d["runs"] if r["status"] == "done"}))' <<<"$st")"
  n="$(json_field 'd["counts"]["done"]' <<<"$st")"
  prec="$(json_field '",".join(sorted({str(r.get("precision")) for r in d["runs"]}))' <<<"$st")"
  [ "$n" = 2 ] && [ -n "$done_on" ] && [ "${done_on#cpu}" = "$done_on" -o "$DEVICE" = cpu ] && [ "$prec" = bf16 ]
  result bert-grid $? "$n runs done on $done_on in $prec"
else
  result bert-grid 1 "harness run failed"
fi

echo "== 4. Transformer-XL two-phase with a checkpoint, an interrupt and a resume on $DEVICE"
db="$WORK/txl.db"
txl_steps=400; [ "$DEVICE" = cpu ] && txl_steps=60
sets=(--set 'tasks=[ptb]' --set seeds.count=1 --set train.max_steps=$txl_steps --set train.checkpoint_every=10
      --set 'variants={baseline: {}, two_phase: {skip: {schedule: functional}, phase1: 0.5}}' --set threads=null)
"$BIN" run "$ROOT/experiments/lm_quickstart.yaml" --device "$DEVICE" --db "$db" --quiet "${sets[@]}" 2>"$WORK/txl1.log" &
pid=$!
for _ in $(seq 1 600); do
  ls "$WORK"/checkpoints/lm_quickstart/*/latest.ckpt >/dev/null 2>&1 && break
  sleep 0.2
done
kill -INT "$pid" 2>/dev/null; wait "$pid"; first=$?
"$BIN" run "$ROOT/experiments/lm_quickstart.yaml" --device "$DEVICE" --db "$db" --quiet "${sets[@]}" 2>"$WORK/txl2.log"
second=$?
st="$("$BIN" status lm_quickstart --db "$db" --format json)"
n="$(json_field 'd["counts"]["done"]' <<<"$st")"
peak="$(json_field '",".join(str(r.get("peak_memory_bytes")) for r in d["runs"])' <<<"$st")"
grep -h "resumed at step\|interrupted" "$WORK/txl1.log" "$WORK/txl2.log" | head -3
[ "$first" = 130 ] && [ "$second" = 0 ] && [ "$n" = 2 ] && grep -q "resumed at step" "$WORK/txl2.log"
result txl-two-phase-resume $? "interrupt exit $first, resume exit $second, $n runs done, peak memory bytes $peak"

echo "== 5. two workers on one $DEVICE"
db="$WORK/workers.db"
if "$BIN" run "$ROOT/experiments/ci_smoke.yaml" --db "$db" --workers 2 --devices "$DEVICE,$DEVICE" --quiet; then
  st="$("$BIN" status ci_smoke --db "$db" --format json)"
  n="$(json_field 'd["counts"]["done"]' <<<"$st")"
  total="$(json_field 'd["counts"]["total"]' <<<"$st")"
  [ "$n" = "$total" ]
  result two-workers $? "$n of $total runs done"
else
  result two-workers 1 "harness run --workers 2 failed"
fi
exit "$FAILED"
