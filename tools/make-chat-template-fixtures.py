#!/usr/bin/env python3
"""Reference outputs for quantlab's chat-template engine (tests/text/chat_template_fixture_test.cpp).

Command that made the committed fixtures (jinja2 3.1.x from PyPI):
    python3 -m pip install jinja2
    python3 tools/make-chat-template-fixtures.py

Renders every template of tests/text/fixtures/chat_templates/*.jinja (the models' own
`chat_template` strings, see the README there) over the conversations of
tests/text/fixtures/chat_template_conversations.json, exactly as transformers'
`apply_chat_template(tokenize=False)` does: an ImmutableSandboxedEnvironment with
trim_blocks=True, lstrip_blocks=True and the loopcontrols extension, a `tojson` filter that keeps
non-ASCII text (ensure_ascii=False), `raise_exception` and `strftime_now` globals, and the
variables messages / tools / documents / add_generation_prompt / the special tokens.
transformers itself is not needed: its renderer is exactly this jinja2 set-up.
Writes tests/text/fixtures/chat_template_expected.json: for each template and conversation
either the rendered text or the error message the template raises.

With --check-transformers (needs `pip install transformers`; no PyTorch), every expected output is
also compared with transformers' own apply_chat_template(tokenize=False), using the Qwen3
tokenizer.json of ../shared/data/tokenizers as the tokenizer object (the template, not the
vocabulary, decides the text).
"""
import json
import os
import pathlib
from datetime import datetime, timezone

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "text" / "fixtures"

# Special tokens as each model's tokenizer_config.json declares them (None: not set, so the
# template sees an undefined variable, as in transformers).
SPECIAL = {
    "chatml": {"bos_token": "<s>", "eos_token": "<|im_end|>"},
    "gemma": {"bos_token": "<bos>", "eos_token": "<eos>"},
    "gemma-2": {"bos_token": "<bos>", "eos_token": "<eos>"},
    "gemma-3": {"bos_token": "<bos>", "eos_token": "<eos>"},
    "llama-2": {"bos_token": "<s>", "eos_token": "</s>"},
    "llama-3": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "llama-3.1": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "llama-3.2": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "mistral-v0.1": {"bos_token": "<s>", "eos_token": "</s>"},
    "mistral-v0.2": {"bos_token": "<s>", "eos_token": "</s>"},
    "mistral-v0.3": {"bos_token": "<s>", "eos_token": "</s>"},
    "mistral-nemo": {"bos_token": "<s>", "eos_token": "</s>"},
    "phi-3": {"bos_token": "<s>", "eos_token": "<|endoftext|>"},
    "phi-3.5": {"bos_token": "<s>", "eos_token": "<|endoftext|>"},
    "qwen2": {"bos_token": None, "eos_token": "<|im_end|>"},
    "qwen2.5": {"bos_token": None, "eos_token": "<|im_end|>"},
    "qwen2.5-coder": {"bos_token": None, "eos_token": "<|im_end|>"},
    "qwen3": {"bos_token": None, "eos_token": "<|im_end|>"},
    "smollm2": {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"},
    "tinyllama-chat": {"bos_token": "<s>", "eos_token": "</s>"},
}
# Templates kept for the breadth of Jinja they use (tool calling, Markup, ensure_ascii, integer
# dict keys, filter blocks, str.format, generation blocks...); their special tokens are generic.
GENERIC = {"bos_token": "<s>", "eos_token": "</s>"}
for _name in ("gpt-oss", "deepseek-r1-distill-qwen", "granite-3.3", "functionary-v3.1", "reka-edge", "seed-oss",
              "minicpm5", "hy3", "lfm2.5", "gemma-4"):
    SPECIAL[_name] = GENERIC


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    # SOURCE_DATE_EPOCH pins "now" (UTC), as quantlab's renderer does; the fixtures were made on
    # 2026-11-23 and the test pins that day.
    pinned = os.environ.get("SOURCE_DATE_EPOCH")
    if pinned is not None:
        return datetime.fromtimestamp(int(pinned), tz=timezone.utc).strftime(fmt)
    return datetime.now().strftime(fmt)


class GenerationBlock(Extension):
    """transformers' AssistantTracker: `{% generation %}...{% endgeneration %}` renders its body."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

    def _body(self, caller):
        return caller()


def make_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[GenerationBlock, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")


def alias_reasoning(message):
    """transformers (5.x) passes a message's reasoning under both `reasoning_content` and `thinking`."""
    reasoning = next((message[k] for k in REASONING_FIELDS if message.get(k) is not None), None)
    if reasoning is None:
        return message
    return {"thinking": reasoning, **message, "reasoning_content": reasoning}


def render(env, source, special, case):
    kwargs = {k: v for k, v in special.items() if v is not None}
    kwargs.update(case.get("extra", {}))  # e.g. date_string (fixed so that outputs do not depend on today)
    # transformers (5.x) drops the keys whose value is None from every message before rendering
    # (OpenAI's content=None next to tool_calls), so templates see them as undefined.
    messages = [alias_reasoning({k: v for k, v in m.items() if v is not None}) for m in case["messages"]]
    return env.from_string(source).render(
        messages=messages, tools=case.get("tools"), documents=None,
        add_generation_prompt=case["add_generation_prompt"], **kwargs)


def check_transformers(conversations, expected):
    import warnings
    warnings.filterwarnings("ignore")
    from transformers import PreTrainedTokenizerFast
    shared = pathlib.Path(os.environ.get("QUANTLAB_SHARED", ROOT.parent / "shared"))
    tok_file = shared / "data" / "tokenizers" / "qwen3" / "tokenizer.json"
    agree = total = 0
    for path in sorted((FIX / "chat_templates").glob("*.jinja")):
        name = path.stem
        tok = PreTrainedTokenizerFast(tokenizer_file=str(tok_file))
        tok.bos_token = SPECIAL[name]["bos_token"]
        tok.eos_token = SPECIAL[name]["eos_token"]
        tok.chat_template = path.read_text(encoding="utf-8")
        for k, case in enumerate(conversations):
            want = expected[name]["results"][k]
            try:
                got = {"text": tok.apply_chat_template(case["messages"], tools=case.get("tools"), tokenize=False,
                                                       add_generation_prompt=case["add_generation_prompt"],
                                                       **case.get("extra", {}))}
            except Exception as e:  # noqa: BLE001 - any failure is compared with the expected failure
                got = {"error": str(e), "kind": type(e).__name__}
            total += 1
            same = got.get("text") == want.get("text") if "text" in want else (
                "error" in got and (want["kind"] != "TemplateError" or got["error"] == want["error"]))
            agree += same
            if not same:
                print(f"DIFFERS {name} #{k}: expected {want!r:.120} transformers {got!r:.120}")
    print(f"transformers agrees on {agree}/{total}")
    return agree == total


def main():
    import sys
    env = make_env()
    conversations = json.loads((FIX / "chat_template_conversations.json").read_text(encoding="utf-8"))
    out = {}
    for path in sorted((FIX / "chat_templates").glob("*.jinja")):
        name = path.stem
        source = path.read_text(encoding="utf-8")
        results = []
        for case in conversations:
            try:
                results.append({"text": render(env, source, SPECIAL[name], case)})
            except jinja2.exceptions.TemplateError as e:  # raise_exception() and template errors
                results.append({"error": str(e), "kind": type(e).__name__})
            except (TypeError, ValueError, KeyError, IndexError, AttributeError) as e:  # Python errors in expressions
                results.append({"error": str(e), "kind": type(e).__name__})
        out[name] = {"special_tokens": SPECIAL[name], "results": results}
        ok = sum(1 for r in results if "text" in r)
        print(f"{name}: {ok} rendered, {len(results) - ok} raised")
    (FIX / "chat_template_expected.json").write_text(
        json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if "--check-transformers" in sys.argv[1:] and not check_transformers(conversations, out):
        sys.exit(1)


if __name__ == "__main__":
    main()
