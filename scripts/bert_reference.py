#!/usr/bin/env python3
"""Reference outputs of Hugging Face transformers' BertModel for tests/bert_parity.rs.

Runs three fixed inputs (a single sentence, a sentence pair, a longer sentence) as one padded
batch through the checkpoint in evaluation mode, float32, on the CPU, and writes the tokenizer's
ids, a slice of the last hidden state and the pooler output as JSON. It also records how a
pair is cut by longest-first truncation at a short max_length.

    scripts/python-env.sh
    bench/.venv/bin/python scripts/bert_reference.py \
        --model data/models/all-MiniLM-L6-v2 --out tests/fixtures/bert_reference.json
"""

import argparse
import datetime
import json
import os
import platform
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoTokenizer, BertModel  # noqa: E402

# (first segment, second segment or None)
INPUTS = [
    ("The quick brown fox jumps over the lazy dog.", None),
    (
        "A man is playing a guitar on stage.",
        "Someone performs music in front of an audience.",
    ),
    (
        "In the beginning God created the heaven and the earth. And the earth was without form, "
        "and void; and darkness was upon the face of the deep. And the Spirit of God moved upon "
        "the face of the waters.",
        None,
    ),
]
MAX_LEN = 128
# A pair long enough to be cut at TRUNC_MAX_LEN, checking the longest-first rule.
TRUNC_PAIR = (
    "Subject: cheap meds online, no prescription needed, order today",
    "Hi all, the meeting about the quarterly budget moved to Thursday afternoon at three.",
)
TRUNC_MAX_LEN = 16
HIDDEN_DIMS = 8  # leading hidden dimensions stored for every token


def rounded(t):
    return [round(float(x), 7) for x in t.reshape(-1).tolist()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="local Hugging Face checkpoint directory")
    ap.add_argument("--out", required=True, help="JSON file to write")
    args = ap.parse_args()

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(args.model, local_files_only=True)
    model = BertModel.from_pretrained(
        args.model, local_files_only=True, attn_implementation="eager", dtype=torch.float32
    )
    model.eval()

    firsts = [a for a, _ in INPUTS]
    seconds = [b for _, b in INPUTS]
    # A batch mixing singles and pairs: encode each, then pad together.
    encoded = [
        tok(a, b, truncation="longest_first", max_length=MAX_LEN) if b else
        tok(a, truncation="longest_first", max_length=MAX_LEN)
        for a, b in INPUTS
    ]
    batch = tok.pad(encoded, padding="longest", return_tensors="pt")
    with torch.no_grad():
        out = model(
            input_ids=batch["input_ids"],
            token_type_ids=batch["token_type_ids"],
            attention_mask=batch["attention_mask"],
        )
    hidden = out.last_hidden_state  # [B, T, H]
    pooled = out.pooler_output  # [B, H]

    trunc = tok(*TRUNC_PAIR, truncation="longest_first", max_length=TRUNC_MAX_LEN)

    b, t, h = hidden.shape
    result = {
        "note": {
            "made_by": "scripts/bert_reference.py",
            "command": " ".join(["python"] + sys.argv),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "model": os.path.basename(os.path.normpath(args.model)),
            "settings": "BertModel, eval mode, float32, CPU, attn_implementation=eager; "
            "tokenizer(a, b, truncation='longest_first', max_length=max_len), "
            "then tok.pad(padding='longest')",
        },
        "max_len": MAX_LEN,
        "inputs": [{"a": a, "b": b} for a, b in zip(firsts, seconds)],
        "shape": [b, t, h],
        "input_ids": batch["input_ids"].tolist(),
        "token_type_ids": batch["token_type_ids"].tolist(),
        "attention_mask": batch["attention_mask"].tolist(),
        "hidden_dims": HIDDEN_DIMS,
        "hidden_first_dims": rounded(hidden[:, :, :HIDDEN_DIMS]),
        "hidden_token_sums": rounded(hidden.sum(dim=-1)),
        "pooler_output": rounded(pooled),
        "truncation": {
            "a": TRUNC_PAIR[0],
            "b": TRUNC_PAIR[1],
            "max_len": TRUNC_MAX_LEN,
            "input_ids": trunc["input_ids"],
            "token_type_ids": trunc["token_type_ids"],
        },
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}: batch {b} x {t} tokens x {h} hidden")


if __name__ == "__main__":
    main()
