#!/usr/bin/env bash
# How far the CI smoke results move under other CPU kernels, and under real changes.
#
#   bench/kernel_variation.sh [OUT_DIR]
#
# Runs experiments/ci_smoke.yaml (BERT) and experiments/ci_smoke_lm.yaml (Transformer-XL) once
# as they are (the reference), then once per kernel choice (libtorch's ATen dispatch level, MKL's
# reproducibility branch and instruction set, oneDNN's instruction set, two threads instead of
# one) and once per real perturbation (learning rate +1%, one optimizer step more, cross-head
# probability +10%, dropout +10%, another seed). Every run is compared with the reference run of
# the same task, variant and seed (for "another seed": with the reference run of the other seed),
# and the table gives, per configuration, the largest absolute and relative move of the float
# results (losses, bpc) and how many discrete results (accuracy, F1, counts) changed. The
# README's regression-check section quotes this table; the default tolerance of `harness check`
# is chosen between its two halves. Results already in OUT_DIR are reused (delete it to redo).
# Needs the release binary and the data of scripts/setup.sh. Takes about 15 minutes on 2 cores.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/target/release/harness"
OUT="${1:-$(mktemp -d /tmp/kernel-variation.XXXXXX)}"
mkdir -p "$OUT"
[ -x "$BIN" ] || { echo "no $BIN: run scripts/setup.sh first" >&2; exit 1; }

# name | environment | --set arguments of ci_smoke | --set arguments of ci_smoke_lm
CONFIGS=(
  "reference||"
  "aten_avx2|ATEN_CPU_CAPABILITY=avx2||"
  "aten_default|ATEN_CPU_CAPABILITY=default||"
  "mkl_cbwr_compatible|MKL_CBWR=COMPATIBLE||"
  "mkl_cbwr_avx2|MKL_CBWR=AVX2||"
  "avx2_machine|ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2||"
  "onednn_isa_avx2|ONEDNN_MAX_CPU_ISA=AVX2||"
  "threads_2||threads=2|threads=2"
  "lr_plus_1pct||train.lr=1.01e-4|train.lr=1.01e-3"
  "one_step_more||train.max_steps=7|train.max_steps=13"
  "cross_head_p_plus_10pct||variants.cross_head.cross_head.prob=0.55|variants.skip_cross_head.cross_head.prob=0.55"
  "dropout_plus_10pct||model.dropout=0.11|model.dropout=0.11"
)

status_json() { # EXPERIMENT DB FILE
  "$BIN" status "$1" --db "$2" --format json > "$3"
}

for config in "${CONFIGS[@]}"; do
  IFS='|' read -r name envs set_bert set_lm <<< "$config"
  for exp in ci_smoke ci_smoke_lm; do
    json="$OUT/$name.$exp.json"
    [ -s "$json" ] && continue
    sets=()
    overrides="$set_bert"; [ "$exp" = ci_smoke_lm ] && overrides="$set_lm"
    for o in $overrides; do sets+=(--set "$o"); done
    db="$OUT/$name.$exp.db"
    rm -f "$db" "$db"-*
    echo "== $name: $exp ${envs:+($envs)} ${overrides}" >&2
    env $envs "$BIN" run "experiments/$exp.yaml" --db "$db" --quiet "${sets[@]}" >&2
    status_json "$exp" "$db" "$json"
  done
done

python3 - "$OUT" "${CONFIGS[@]%%|*}" <<'PY'
import json, sys, os
out, names = sys.argv[1], sys.argv[2:]
DISCRETE = ("acc", "f1", "mcc", "tokens", "examples")
def discrete(name):
    return name in DISCRETE or name.startswith(("majority_", "params_", "skip_fraction_"))
def measurement(name):
    return name.startswith(("ms_per_step", "tokens_per_s", "examples_per_s", "peak_memory", "duration_s"))
def results(name, exp):
    doc = json.load(open(os.path.join(out, f"{name}.{exp}.json")))
    runs = {}
    for r in doc["runs"]:
        vals = {f"{split}/{m}": v for split, ms in r["results"].items() for m, v in ms.items()
                if not measurement(m) and v is not None}
        runs[(r["task"], r["variant"], r["seed"])] = vals
    return runs
print(f"| configuration | experiment | max abs move (float) | max rel move (float) | discrete changed |")
print(f"|---|---|---|---|---|")
rows = [(n, n) for n in names] + [("another_seed", "reference")]
for label, name in rows:
    for exp in ("ci_smoke", "ci_smoke_lm"):
        ref, cur = results("reference", exp), results(name, exp)
        max_abs = max_rel = 0.0
        changed = total = 0
        for (task, variant, seed), vals in cur.items():
            other = (task, variant, seed if label != "another_seed" else 3 - seed)
            base = ref.get(other, {})
            for k, v in vals.items():
                if k not in base:
                    continue
                metric = k.split("/", 1)[1]
                if discrete(metric):
                    total += 1
                    changed += v != base[k]
                else:
                    d = abs(v - base[k])
                    max_abs = max(max_abs, d)
                    max_rel = max(max_rel, d / abs(base[k]) if base[k] else (0.0 if d == 0 else float("inf")))
        print(f"| {label} | {exp} | {max_abs:.3g} | {max_rel:.3g} | {changed} of {total} |")
PY
