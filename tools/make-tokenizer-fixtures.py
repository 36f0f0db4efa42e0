#!/usr/bin/env python3
"""Reference token ids from the real tokenizer libraries, for tests/text/reference_ids_test.cpp.

Command (from the repository root, with ../shared beside it):
    python3 -m pip install tokenizers==0.23.3 sentencepiece==0.2.3
    python3 tools/make-tokenizer-fixtures.py > tests/text/fixtures/reference_ids.json

It also (re)writes two miniature tokenizer.json files trained here on SENTENCES, so that the
tokenizer.json paths no shared file covers are checked against Hugging Face too:
    tests/text/fixtures/mini_wordpiece.json          BERT normalizer + pre-tokenizer, WordPiece
    tests/text/fixtures/mini_sentencepiece_bpe.json  SentencePiece-style BPE with byte fallback

- qwen3:  tokenizers.Tokenizer.from_file(shared/data/tokenizers/qwen3/tokenizer.json)
          .encode(s, add_special_tokens=False).ids  (Hugging Face always splits added tokens)
- llama2: sentencepiece.SentencePieceProcessor(shared/data/tokenizers/llama2/tokenizer.model)
          .encode(s)  (no BOS; SentencePiece never parses "<s>" in text)
- mini_wordpiece, mini_sentencepiece_bpe: Hugging Face ids of SENTENCES through the miniatures
  (add_special_tokens=False; added tokens are always split, as Hugging Face does)
- nfc_changes: whether NFC changes the sentence (llama.cpp's "qwen2" GGUF path has no NFC step)
- *_decoded: each library's decode of those ids (qwen3 with skip_special_tokens=False)
- wikitext2_test: the whole of shared/data/wikitext-2-raw/wiki.test.raw through both, kept as
  id count + SHA-256 of the ids joined by single spaces (the ids themselves would be megabytes)
"""
import hashlib
import json
import os
import sys
import unicodedata

import sentencepiece
import tokenizers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("QUANTLAB_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))

SENTENCES = [
    "Hello world",
    " Hello world",
    "Hello  world",
    "   leading and trailing   ",
    "tabs\tand\ttabs\t\t\tend",
    "line1\nline2\n\nline4\r\nline5",
    "\n\n\n",
    "Grüße aus München! Die Straße ist schön.",
    "Übermäßig große Äpfel und Öl — „Anführungszeichen“.",
    "Donaudampfschifffahrtsgesellschaftskapitänsmütze",
    "日本語のテキストを正しくトークン化できますか？",
    "東京都渋谷区で、ラーメンを食べました。とても美味しかった！",
    "ｶﾀｶﾅ と ｈａｌｆｗｉｄｔｈ",
    "我想在apple工作1314151天～",
    "한국어 문장도 테스트합니다.",
    "Привет, как дела? Всё хорошо.",
    "مرحبا بالعالم",
    "emoji: 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇩🇪 🇯🇵 ❤️",
    "🦙 llama.cpp 🚀🚀🚀",
    "def f(x):\n    return x ** 2  # square\n",
    "int main() {\n\tprintf(\"%d\\n\", 42);\n\treturn 0;\n}",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
    "    indented four\n        eight\n",
    "numbers 0 1 12 123 1234 12345 123456 3.14159 -42 1e-5 1,000,000",
    "I'm sure you've seen it; they'll say we'd done it. DON'T SHOUT. It's 'quoted'.",
    "!!!??? ... --- === *** ### $$$ %%% ^^^ &&& |||",
    "https://example.com/path?query=1&x=y#frag",
    "email@example.org, @user #hashtag",
    "Café naïve coöperate façade résumé",
    "Cafe\u0301 nai\u0308ve",
    "\u01c5ungla \ufb01nance \u1e9e",
    "\u2126 \u212b \u212a",
    "a\u00a0b\u2009c\u3000d",
    "zero\u200bwidth\u200djoiner",
    "\u0085next line",
    "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
    "<s>not special in llama</s>",
    "Mixed 中文 and English 混合 text.",
    "Ελληνικά κείμενα με τόνους.",
    "עברית מימין לשמאל",
    "हिन्दी पाठ का परीक्षण",
    "ภาษาไทยไม่มีช่องว่าง",
    "ក្រុមហ៊ុន",
    "   ",
    "",
    "a",
    "Hello\u3000World",
    "The quick brown fox jumps over the lazy dog. " * 3,
    "x" * 100,
    "ab" + " " * 20 + "cd",
    "The year 2024 had 366 days; π≈3.14, e≈2.718, √2≈1.414, ∑∫∂.",
    " = Valkyria Chronicles III = \n\n Senjō no Valkyria 3 : Unrecorded Chronicles ( Japanese : 戦場のヴァルキュリア3 , "
    "lit . Valkyria of the Battlefield 3 ) , commonly referred to as Valkyria Chronicles III outside Japan , is a "
    "tactical role @-@ playing video game",
]


FIXTURES = os.path.join(ROOT, "tests", "text", "fixtures")


def mini_wordpiece():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=300, limit_alphabet=60, show_progress=False,
                                        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator(SENTENCES * 3, trainer)
    tok.post_processor = processors.BertProcessing(("[SEP]", tok.token_to_id("[SEP]")), ("[CLS]", tok.token_to_id("[CLS]")))
    return tok


def mini_sentencepiece_bpe():
    from tokenizers import Tokenizer, models, normalizers, decoders, processors, trainers
    normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    base = Tokenizer(models.BPE())
    base.normalizer = normalizer
    base.train_from_iterator(SENTENCES * 3, trainers.BpeTrainer(vocab_size=200, limit_alphabet=40, show_progress=False,
                                                                special_tokens=["<unk>", "<s>", "</s>"]))
    trained = json.loads(base.to_str())["model"]
    # The SentencePiece layout: <unk> <s> </s>, the 256 byte pieces, then the learned pieces.
    vocab = {}
    for t in ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]:
        vocab[t] = len(vocab)
    for t, _ in sorted(trained["vocab"].items(), key=lambda kv: kv[1]):
        vocab.setdefault(t, len(vocab))
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in trained["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, byte_fallback=True, unk_token="<unk>", fuse_unk=True))
    tok.normalizer = normalizer
    tok.add_special_tokens(["<unk>", "<s>", "</s>"])
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return tok


def main():
    qwen = tokenizers.Tokenizer.from_file(os.path.join(SHARED, "data/tokenizers/qwen3/tokenizer.json"))
    sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(SHARED, "data/tokenizers/llama2/tokenizer.model"))
    out = {
        "generated_by": "python3 tools/make-tokenizer-fixtures.py",
        "tokenizers_version": tokenizers.__version__,
        "sentencepiece_version": sentencepiece.__version__,
        "sentences": SENTENCES,
        "qwen3": [qwen.encode(s, add_special_tokens=False).ids for s in SENTENCES],
        "llama2": [sp.encode(s) for s in SENTENCES],
    }
    out["nfc_changes"] = [unicodedata.normalize("NFC", s) != s for s in SENTENCES]
    out["qwen3_decoded"] = [qwen.decode(ids, skip_special_tokens=False) for ids in out["qwen3"]]
    out["llama2_decoded"] = [sp.decode(ids) for ids in out["llama2"]]

    minis = {"mini_wordpiece": mini_wordpiece(), "mini_sentencepiece_bpe": mini_sentencepiece_bpe()}
    for name, tok in minis.items():
        tok.save(os.path.join(FIXTURES, name + ".json"))
        out[name] = [tok.encode(s, add_special_tokens=False).ids for s in SENTENCES]
    out["mini_sentencepiece_bpe_decoded"] = [minis["mini_sentencepiece_bpe"].decode(ids, skip_special_tokens=False)
                                             for ids in out["mini_sentencepiece_bpe"]]

    raw = open(os.path.join(SHARED, "data/wikitext-2-raw/wiki.test.raw"), "rb").read()
    text = raw.decode("utf-8")

    def digest(ids):
        return {"count": len(ids), "sha256": hashlib.sha256(" ".join(map(str, ids)).encode()).hexdigest()}

    out["wikitext2_test"] = {
        "file_sha256": hashlib.sha256(raw).hexdigest(),
        "qwen3": digest(qwen.encode(text, add_special_tokens=False).ids),
        "llama2": digest(sp.encode(text)),
    }
    json.dump(out, sys.stdout, ensure_ascii=False, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
