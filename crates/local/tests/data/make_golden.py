#!/usr/bin/env python3
"""Writes tokenizer-golden.json: token ids for tricky strings, computed by
Hugging Face `tokenizers` (the reference implementation, independent of
llama.cpp) from the vocabulary and merges inside the GGUF.

    pip install tokenizers && python3 make_golden.py MODEL.gguf > tokenizer-golden.json
"""
import json, struct, sys
from tokenizers import Tokenizer, AddedToken, Regex, models, pre_tokenizers, decoders, normalizers

def read_gguf_vocab(path):
    f = open(path, "rb")
    _magic, _ver, _nt, nkv = struct.unpack("<4sIQQ", f.read(24))
    def rs():
        n, = struct.unpack("<Q", f.read(8)); return f.read(n).decode("utf-8")
    def rv(t):
        fixed = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
        if t in fixed:
            fmt = fixed[t]; return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]
        if t == 8: return rs()
        if t == 9:
            at, = struct.unpack("<I", f.read(4)); n, = struct.unpack("<Q", f.read(8))
            return [rv(at) for _ in range(n)]
        raise ValueError(t)
    kv = {}
    for _ in range(nkv):
        k = rs(); t, = struct.unpack("<I", f.read(4)); v = rv(t)
        if k.startswith("tokenizer.ggml."): kv[k] = v
    return kv

kv = read_gguf_vocab(sys.argv[1])
tokens, types, merges = kv["tokenizer.ggml.tokens"], kv["tokenizer.ggml.token_type"], kv["tokenizer.ggml.merges"]
vocab = {t: i for i, t in enumerate(tokens)}
tok = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m.split(" ", 1)) for m in merges], byte_fallback=False))
tok.normalizer = normalizers.NFC()
# Qwen2's pre-tokenizer, as in its tokenizer.json.
pattern = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
tok.pre_tokenizer = pre_tokenizers.Sequence([
    pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
])
tok.decoder = decoders.ByteLevel()
tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, ty in zip(tokens, types) if ty in (3, 4)])

texts = [
    "Hello world",
    "fn main() {\n    println!(\"hi\");\n}\n",
    "def parse_config(path: str) -> dict:\n\treturn {}",
    "  leading spaces and trailing   ",
    "CJK 中文字符 and emoji 😀👍🏽 and accents: café naïve",
    "numbers 1234567890 3.14159 -42",
    "it's we'll they'RE",
    "<|im_start|>user\nWhat is in src/lib.rs?<|im_end|>\n<|im_start|>assistant\n",
    "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.txt\"}}\n</tool_call>",
    "\n\n\n   \t\r\n",
    "x" * 40,
    "https://example.com/a?b=c&d=e#f",
]
out = [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids} for t in texts]
print("[\n" + ",\n".join(json.dumps(o, ensure_ascii=False) for o in out) + "\n]")
