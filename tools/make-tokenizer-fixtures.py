#!/usr/bin/env python3
"""Reference token ids from the real tokenizer libraries, for tests/text/reference_ids_test.cpp.

Command (from the repository root, with ../shared beside it):
    python3 -m pip install tokenizers==0.23.3 sentencepiece==0.2.3
    python3 tools/make-tokenizer-fixtures.py > tests/text/fixtures/reference_ids.json

- qwen3:  tokenizers.Tokenizer.from_file(shared/data/tokenizers/qwen3/tokenizer.json)
          .encode(s, add_special_tokens=False).ids  (Hugging Face always splits added tokens)
- llama2: sentencepiece.SentencePieceProcessor(shared/data/tokenizers/llama2/tokenizer.model)
          .encode(s)  (no BOS; SentencePiece never parses "<s>" in text)
- *_decoded: each library's decode of those ids (qwen3 with skip_special_tokens=False)
"""
import json
import os
import sys

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
    out["qwen3_decoded"] = [qwen.decode(ids, skip_special_tokens=False) for ids in out["qwen3"]]
    out["llama2_decoded"] = [sp.decode(ids) for ids in out["llama2"]]
    json.dump(out, sys.stdout, ensure_ascii=False, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
