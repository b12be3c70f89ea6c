#!/usr/bin/env python3
"""Build tests/fixtures/smollm2_tokenization.json: how an independent implementation (Hugging Face
`tokenizers`) tokenizes ~40 tricky strings with SmolLM2-135M's vocabulary, for Gaze's own
byte-level BPE (src/model/llm/tokenizer.rs) to match id for id.

How: the tokens, merges and token types are read from the GGUF file with the `gguf` package (the
same metadata Gaze reads), and a `tokenizers` BPE is built from them the way SmolLM2's
tokenizer.json describes itself: pre-tokenizer Sequence[Digits(individual_digits=True),
ByteLevel(add_prefix_space=False, use_regex=True)], ByteLevel decoder, and the file's control
tokens (token type 3) added as special tokens. The script checks the reconstruction on a sentence
whose ids are known from the original tokenizer, and that decoding gives each text back.

Run (the built fixture is committed; a fresh clone needs no Python):
    python3 -m venv /tmp/toolenv && /tmp/toolenv/bin/pip install -r tools/requirements-llm.txt
    /tmp/toolenv/bin/python tools/tokenizer_reference.py "$(tools/fetch-models.sh smollm2)"

`--spec-out PATH` also writes the file's tokenizer metadata as JSON (the fields of Rust's
`TokenizerSpec`): the test `matches_hf_tokenizers_on_the_smollm2_fixture` reads it when the
environment variable GAZE_TOKENIZER_SPEC names it, so the Rust side can be checked without a GGUF
reader.
"""

import argparse
import hashlib
import importlib.metadata
import json
import os
import sys

import gguf
import tokenizers
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "smollm2_tokenization.json")
EXPECTED_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
# Known from SmolLM2's own tokenizer.json: if these differ, the reconstruction is wrong.
KNOWN = ("The capital of France is", [504, 3575, 282, 4649, 314])
CONTROL, USER_DEFINED = 3, 4

# A paragraph of ~2,000 characters: prose, numbers, punctuation, a few non-ASCII words.
PARAGRAPH = (
    "Attention is the part of a transformer that lets every token look back at the tokens "
    "before it and decide how much each one matters. For each position the model computes a "
    "query, and for every earlier position a key and a value; the dot product of the query with "
    "each key, divided by the square root of the head dimension (8 for a 64-wide head), becomes "
    "a score, and a softmax turns the scores into weights that sum to 1.0. The output is the "
    "weighted sum of the values. SmolLM2-135M has 30 layers, 9 query heads sharing 3 key/value "
    "heads, rotary position embeddings with base 100000, and a context of 8,192 tokens. Its "
    "vocabulary holds 49,152 tokens learned by byte-level BPE: common words such as \" the\", "
    "\" of\" or \" France\" are single tokens, while rarer ones (\"Zwischenmahlzeit\", "
    "\"naïveté\", \"Ouagadougou\") are spelled out in pieces. Numbers are split into single "
    "digits before merging, so 2024 becomes four tokens and 3.14159 becomes seven. Whitespace is "
    "kept: a run of spaces gives all but its last space to one token, and the last space joins "
    "the next word. Newlines\nand\ttabs are tokens too. In a chat, the template wraps each turn "
    "in control tokens that are never split, which is why a model can tell where the user's "
    "message ends and its own answer begins. None of this is magic - it's a table of 48,900 "
    "merges applied in order of rank, lowest first, until no pair in the word has a rank left. "
    "A teacher can show the split live: type a sentence, watch the pieces appear, and notice that "
    "\"tokenization\" is not \"token\" + \"ization\" by rule but by whatever the corpus made "
    "frequent. The same text always gives the same ids, and decoding the ids gives the same "
    "bytes back, byte for byte, even for emoji like 🦀 or scripts like 日本語 and العربية. "
    "That round trip is what this fixture checks, together with the exact ids, for every case "
    "listed here; if one changes, either the vocabulary or the algorithm did, and the test says "
    "which text differs first. Counting aloud: 1, 22, 333, 4,444 and 55,555 - then stop."
)

CASES = [
    KNOWN[0],
    "In 2024, 3.14159 and 1,000,000",
    "",
    " ",
    "   leading spaces",
    "trailing spaces   ",
    "multiple    spaces between   words",
    "tabs\tand\t\ttabs\t",
    "line one\nline two\n\nline four\n",
    "\r\n windows line endings \r\n",
    "\n\n\t  \n",
    "it's we'll Don't I'm they've she'd you're",
    "IT'S WE'LL DON'T",
    "'s 's ''s ' s",
    "I love 🦀 and 🎉!",
    "👩‍👩‍👧‍👦 family, 👍🏽 thumbs, 🏳️‍🌈 flag",
    "🇫🇷🇯🇵",
    "你好，世界！这是一个测试。",
    "日本語のテキストとカタカナ",
    "안녕하세요 세계",
    "مرحبا بالعالم",
    "שלום world עולם",
    "e\u0301 cafe\u0301 caf\u00e9",
    "Z\u0324\u0354\u0367\u0311\u0313a\u0308\u0356\u032d\u0308\u0307l\u036e\u0312\u036b",
    "नमस्ते दुनिया",
    "<|im_start|>user\nHi<|im_end|>",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|><|endoftext|>x<|im_end|>",
    "<|im_start| <|im_start |> <|IM_START|> <|im_start|",
    "def f(x):\n    return x**2 + 1  # square\n",
    "fn main() {\n\tlet v: Vec<u32> = (0..10).collect();\n\tprintln!(\"{v:?}\");\n}",
    '{"key": [1, 2.5e-3, null], "k2": "v\\n"}',
    "https://example.com/path?q=1&r=2#frag user@mail.org",
    "\u00bd \u00b2 \u0663 \u0969 \u216b \uff11\uff12\uff13",
    "!!!??? ... --- *** ===========",
    "a\u00a0b\u2003c\u3000d",
    "\x00\x01\x7f bell\x07",
    "hello\u043c\u0438\u0440world\u4e16\u754c",
    "\u0120 \u00e2\u0122 \u010a",
    "\U0001d518\U0001d52b\U0001d526\U0001d520\U0001d52c\U0001d521\U0001d522 \U0001d7d9\U0001d7da",
    "a" * 60 + " " + "ab" * 40,
    PARAGRAPH,
]


def field(reader, key):
    f = reader.fields.get(key)
    return None if f is None else f.contents()


def read_spec(path):
    """The tokenizer metadata of a GGUF file, as the fields of Rust's `TokenizerSpec`."""
    reader = gguf.GGUFReader(path)
    return {
        "model": field(reader, "tokenizer.ggml.model"),
        "pre": field(reader, "tokenizer.ggml.pre"),
        "tokens": field(reader, "tokenizer.ggml.tokens"),
        "merges": field(reader, "tokenizer.ggml.merges"),
        "token_types": field(reader, "tokenizer.ggml.token_type") or [],
        "bos": field(reader, "tokenizer.ggml.bos_token_id"),
        "eos": field(reader, "tokenizer.ggml.eos_token_id"),
        "add_bos": bool(field(reader, "tokenizer.ggml.add_bos_token")),
    }


def build_hf(spec):
    """A `tokenizers` Tokenizer equivalent to SmolLM2's tokenizer.json, from the GGUF's metadata."""
    assert spec["model"] == "gpt2" and spec["pre"] == "smollm", (spec["model"], spec["pre"])
    tokens = spec["tokens"]
    vocab = {t: i for i, t in enumerate(tokens)}
    assert len(vocab) == len(tokens), "duplicate token strings: a dict vocabulary would lose some"
    merges = [tuple(m.split(" ")) for m in spec["merges"]]
    assert all(len(m) == 2 for m in merges), "a merge is not `left right`"
    bpe = models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False)
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    special = [
        AddedToken(t, special=True, normalized=False, lstrip=False, rstrip=False, single_word=False)
        for t, ty in zip(tokens, spec["token_types"])
        if ty in (CONTROL, USER_DEFINED)
    ]
    tok.add_special_tokens(special)
    return tok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gguf", help="SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--spec-out", help="also write the tokenizer metadata as JSON here")
    args = ap.parse_args()

    with open(args.gguf, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    if sha != EXPECTED_SHA256:
        sys.exit(f"{args.gguf}: sha256 {sha}, expected {EXPECTED_SHA256} (the pinned file)")

    spec = read_spec(args.gguf)
    if args.spec_out:
        with open(args.spec_out, "w", encoding="utf-8") as f:
            json.dump(spec, f, ensure_ascii=False)
        print(f"wrote {args.spec_out}")

    tok = build_hf(spec)
    got = tok.encode(KNOWN[0]).ids
    assert got == KNOWN[1], f"reconstruction is wrong: {KNOWN[0]!r} -> {got}, expected {KNOWN[1]}"

    cases = []
    for text in CASES:
        ids = tok.encode(text).ids
        back = tok.decode(ids, skip_special_tokens=False)
        assert back == text, f"decode does not invert encode for {text!r}: {back!r}"
        cases.append({"text": text, "ids": ids})
    assert len(PARAGRAPH) >= 2000, len(PARAGRAPH)

    how = (
        "Made by tools/tokenizer_reference.py (run: python tools/tokenizer_reference.py "
        "\"$(tools/fetch-models.sh smollm2)\") with Python "
        f"{sys.version.split()[0]}, tokenizers=={tokenizers.__version__} and "
        f"gguf=={importlib.metadata.version('gguf')}: the tokens, "
        "merges and token types of the GGUF file named by file_sha256 (SmolLM2-135M-Instruct, "
        "Q4_1) build a Hugging Face tokenizers BPE with pre-tokenizer Sequence[Digits("
        "individual_digits=True), ByteLevel(add_prefix_space=False, use_regex=True)], a ByteLevel "
        "decoder and the control tokens as special tokens; each case's ids are that tokenizer's "
        "encode(text).ids (no BOS: the file says add_bos_token=false), and decoding them gives "
        "the text back. The reconstruction was checked on 'The capital of France is' -> "
        f"{KNOWN[1]}, the ids of SmolLM2's own tokenizer.json."
    )
    # One case a line, so a diff of the fixture shows which texts changed.
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        f.write("{\n")
        f.write(f' "how_made": {json.dumps(how, ensure_ascii=False)},\n')
        f.write(f' "file_sha256": {json.dumps(sha)},\n')
        f.write(' "cases": [\n')
        lines = [json.dumps(c, ensure_ascii=False) for c in cases]
        f.write(",\n".join("  " + line for line in lines))
        f.write("\n ]\n}\n")
    with open(OUT, encoding="utf-8") as f:
        assert json.load(f)["cases"] == cases
    print(f"wrote {OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
