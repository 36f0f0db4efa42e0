// The Jinja subset's own behaviours, each checked against what Jinja2 3.1 (trim_blocks,
// lstrip_blocks, as transformers configures it) renders for the same source.
#include "quantlab/core/error.hpp"
#include "quantlab/text/chat_template.hpp"
#include "quantlab/text/chat_template_text.hpp"
#include "quantlab/text/jinja.hpp"
#include "test_support.hpp"

#include <fstream>

namespace quantlab::text {
namespace {

using nlohmann::ordered_json;

std::string render(const std::string& src, const ordered_json& ctx = ordered_json::object()) {
  return JinjaTemplate(src, "t").render(ctx);
}

TEST(ChatTemplateEngine, WhitespaceControl) {
  // trim_blocks drops the newline after a block tag; lstrip_blocks the indentation before it.
  EXPECT_EQ(render("{% if true %}\n  a\n  {% endif %}\nb"), "  a\nb");
  EXPECT_EQ(render("x  {%- if true -%}  \n y {%- endif %}"), "xy");
  EXPECT_EQ(render("{{ 'a' }}\n{{ 'b' }}"), "a\nb");  // no trimming after }}
  EXPECT_EQ(render("a\n    {%+ if true %}b{% endif %}"), "a\n    b");  // + keeps the indentation
  EXPECT_EQ(render("{# comment #}\nx"), "x");
  EXPECT_EQ(render("line\n"), "line");  // one trailing newline is dropped
  EXPECT_EQ(render("a\r\nb"), "a\nb");
}

TEST(ChatTemplateEngine, LoopsAndScopes) {
  ordered_json ctx = {{"xs", {"a", "b", "c"}}};
  EXPECT_EQ(render("{% for x in xs %}{{ loop.index }}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}", ctx),
            "1a,2b,3c");
  EXPECT_EQ(render("{% for x in xs if x != 'b' %}{{ loop.index0 }}/{{ loop.length }}{% endfor %}", ctx), "0/21/2");
  EXPECT_EQ(render("{% for x in [] %}a{% else %}empty{% endfor %}"), "empty");
  // A set inside a loop does not leak; a namespace does.
  EXPECT_EQ(render("{% set n = 0 %}{% for x in xs %}{% set n = n + 1 %}{% endfor %}{{ n }}", ctx), "0");
  EXPECT_EQ(render("{% set ns = namespace(n=0) %}{% for x in xs %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}", ctx), "3");
  EXPECT_EQ(render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}"), "a=1;b=2;");
  EXPECT_EQ(render("{% for x in xs %}{% if x == 'b' %}{% break %}{% endif %}{{ x }}{% endfor %}", ctx), "a");
  EXPECT_EQ(render("{% for x in xs[::-1] %}{{ x }}{% endfor %}", ctx), "cba");
  EXPECT_EQ(render("{% macro f(a, b='!') %}<{{ a }}{{ b }}>{% endmacro %}{{ f('x') }}{{ f('y', b='?') }}"), "<x!><y?>");
  EXPECT_EQ(render("{% set s %}in{{ 1 + 1 }}{% endset %}[{{ s }}]"), "[in2]");
}

TEST(ChatTemplateEngine, ExpressionsFollowPython) {
  EXPECT_EQ(render("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 1 + 1.5 }}"), "3 -4 2 3.5 1024 2.5");
  EXPECT_EQ(render("{{ 'ab' ~ 3 ~ none }} {{ [1, 'a', none, true] }} {{ {'k': 'v'} }}"), "ab3None [1, 'a', None, True] {'k': 'v'}");
  EXPECT_EQ(render("{{ 'x' if false }}|{{ 'y' if 1 < 2 < 3 else 'z' }}"), "|y");
  EXPECT_EQ(render("{{ 'ell' in 'hello' }} {{ 3 not in [1, 2] }} {{ 'a' in {'a': 1} }}"), "True True True");
  EXPECT_EQ(render("{{ '  日本語　' | trim }}|{{ 'xxhixx'.strip('x') }}|{{ 'a,b,,c'.split(',') }}"), "日本語|hi|['a', 'b', '', 'c']");
  EXPECT_EQ(render("{{ '日本語テキスト'[1:3] }} {{ '日本語' | length }} {{ 'abc'[-1] }}"), "本語 3 c");
  EXPECT_EQ(render("{{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }}"), "['a', 'b'] ['a', 'b c']");
  EXPECT_EQ(render("{{ x is iterable }} {{ x is sequence }} {{ x is mapping }} {{ none is iterable }}"), "True True False False");
  EXPECT_EQ(render("{{ x | default('d') }} {{ '' | default('e', true) }} {{ x is defined }} {{ none is none }}"), "d e False True");
  EXPECT_EQ(render("{{ 'Hello World'.lower() }} {{ 'hi' | upper }} {{ 'hello world' | title }} {{ 'hELLO' | capitalize }}"),
            "hello world HI Hello World Hello");
  EXPECT_EQ(render("{{ 'a-b-a' | replace('a', 'x') }} {{ ['x', 'y'] | join('+') }} {{ [3, 1, 2] | first }}{{ [3, 1, 2] | last }}"),
            "x-b-x x+y 32");
  EXPECT_EQ(render("{{ '<think>x</think>\\n\\nanswer'.split('</think>')[-1].lstrip('\\n') }}"), "answer");
  EXPECT_EQ(render("{{ 'abc'.startswith(('x', 'a')) }} {{ 'abc'.endswith('bc') }} {{ 5 is divisibleby 5 }} {{ 3 is odd }}"),
            "True True True True");
  EXPECT_EQ(render("{{ '42' | int + 1 }} {{ 'x' | int }} {{ 1 | string ~ 'a' }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 2.0 }}"),
            "43 0 1a 0.30000000000000004 1e+20 2.0");
}

TEST(ChatTemplateEngine, TojsonAndSelectattrMatchPython) {
  ordered_json ctx = {{"tool", {{"name", "f"}, {"args", {{"q", "日本"}, {"n", 1.5}, {"ok", true}, {"none", nullptr}}}}},
                      {"ms", {{{"role", "user"}, {"c", 1}}, {{"role", "assistant"}, {"c", 2}}, {{"role", "user"}, {"c", 3}}}}};
  EXPECT_EQ(render("{{ tool | tojson }}", ctx), R"({"name": "f", "args": {"q": "日本", "n": 1.5, "ok": true, "none": null}})");
  EXPECT_EQ(render("{{ tool.args | tojson(indent=2) }}", ctx),
            "{\n  \"q\": \"日本\",\n  \"n\": 1.5,\n  \"ok\": true,\n  \"none\": null\n}");
  EXPECT_EQ(render("{{ 'a\"b\\n' | tojson }}"), "\"a\\\"b\\n\"");
  EXPECT_EQ(render("{{ ms | selectattr('role', 'equalto', 'user') | map(attribute='c') | list }}", ctx), "[1, 3]");
  EXPECT_EQ(render("{{ ms | rejectattr('role', 'equalto', 'user') | list | length }}", ctx), "1");
}

TEST(ChatTemplateEngine, ErrorsNameTemplateAndLine) {
  try {
    render("ok\n{% if x %}\nno end");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.source(), "t");
    EXPECT_EQ(e.field(), "line 2");
  }
  try {
    render("a\nb {{ x.y.z }}");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "line 2");
    EXPECT_NE(std::string(e.what()).find("'x' is undefined"), std::string::npos) << e.what();
  }
  try {
    render("{{ raise_exception('Only user and assistant roles') }}");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "raise_exception");
    EXPECT_EQ(e.message(), "Only user and assistant roles");
  }
  EXPECT_THROW(render("{{ 'a' + 1 }}"), Error);
  EXPECT_THROW(render("{{ x | nosuchfilter }}"), Error);
  EXPECT_THROW(render("{% for %}"), Error);
  EXPECT_THROW(render("{{ 'unterminated }}"), Error);
  EXPECT_THROW(render("{% frobnicate %}"), Error);
}

TEST(ChatTemplateApi, TokenizerConfigAndEndOfTurn) {
  const auto dir = test::temp_dir("chat-template");
  const auto path = (dir / "tokenizer_config.json").string();
  std::ofstream(path) << R"({"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>",
    "chat_template": [{"name": "default", "template": "{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{{ eos_token }}{% endfor %}"},
                      {"name": "tool_use", "template": "x"}]})";
  const ChatTemplate t = ChatTemplate::from_tokenizer_config(path);
  EXPECT_EQ(t.apply(ordered_json::array({{{"role", "user"}, {"content", "hi"}}}), false), "<s>[user]hi</s>");
  EXPECT_EQ(t.end_of_turn(), "</s>");
  std::ofstream(dir / "none.json") << R"({"eos_token": "</s>"})";
  EXPECT_THROW(ChatTemplate::from_tokenizer_config((dir / "none.json").string()), Error);
  const auto fx = test::source_dir() / "tests" / "text" / "fixtures" / "chat_templates";
  auto load = [&](const std::string& n, ChatSpecialTokens tok) {
    std::ifstream in(fx / (n + ".jinja"));
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return ChatTemplate(s, n, tok);
  };
  EXPECT_EQ(load("llama-3.1", {"<|begin_of_text|>", "<|eot_id|>", {}, {}}).end_of_turn(), "<|eot_id|>");
  EXPECT_EQ(load("qwen2.5", {{}, "<|im_end|>", {}, {}}).end_of_turn(), "<|im_end|>");
  EXPECT_EQ(load("gemma-3", {"<bos>", "<eos>", {}, {}}).end_of_turn(), "<end_of_turn>");
  EXPECT_EQ(load("mistral-v0.1", {"<s>", "</s>", {}, {}}).end_of_turn(), "</s>");
}

TEST(ChatTemplateText, OliveStyle) {
  std::map<std::string, std::string> f = {{"prompt", "2+2?"}, {"response", "4"}};
  EXPECT_EQ(render_text_template("### Question: {prompt}\n### Answer: {response}", f), "### Question: 2+2?\n### Answer: 4");
  EXPECT_EQ(render_text_template("{{literal}} {prompt}", f), "{literal} 2+2?");
  try {
    render_text_template("{instruction}", f);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "{instruction}");
  }
  EXPECT_THROW(render_text_template("{prompt", f), Error);
}

}  // namespace
}  // namespace quantlab::text

namespace quantlab::text {
namespace {

TEST(ChatTemplateEngine, HostileTemplatesGiveErrorsNotCrashes) {
  EXPECT_THROW(JinjaTemplate("{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}", "deep"), Error);
  std::string nested;
  for (int i = 0; i < 5000; ++i) nested += "{% if true %}";
  EXPECT_THROW(JinjaTemplate(nested, "deep-ifs"), Error);
  EXPECT_THROW(render("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"), Error);
  EXPECT_THROW(render("{{ -(-(-(-" + std::string(1000, '-') + "1)))) }}"), Error);
}

}  // namespace
}  // namespace quantlab::text

namespace quantlab::text {
namespace {

// Each expectation is what Jinja2 3.1 (configured as transformers does) renders for the source.
TEST(ChatTemplateEngine, LessCommonJinjaFeatures) {
  EXPECT_EQ(render("{% filter trim | upper %}  abc  {% endfilter %}"), "ABC");
  EXPECT_EQ(render("{{ {'k': '東京'} | tojson(ensure_ascii=True) }} {{ '🙂' | tojson(ensure_ascii=True) }}"),
            "{\"k\": \"\\u6771\\u4eac\"} \"\\ud83d\\ude42\"");
  // Markup: `safe + str` HTML-escapes the plain string; `e` escapes; `~` joins as plain strings.
  EXPECT_EQ(render("{{ 'a<' | safe + '<b>' }} {{ '<x>' | e }} {{ ('<' | e) ~ '<' }}"), "a<&lt;b&gt; &lt;x&gt; &lt;<");
  EXPECT_EQ(render("{% set d = {0: 'zero', 1: 'one'} %}{{ d[0] }}{{ d[1] }}{{ d.get(2, '-') }}{{ 0 in d }}{{ d | tojson }}{{ d }}"),
            "zeroone-True{\"0\": \"zero\", \"1\": \"one\"}{0: 'zero', 1: 'one'}");
  EXPECT_EQ(render("{{ '{}-{name}'.format('a', name='n') }} {{ [3, 1, 2] | min }}{{ [3, 1, 2] | max }}"), "a-n 13");
  // select/map results are generators: always true, no len(), not JSON; a falsy input yields nothing.
  EXPECT_EQ(render("{% if [] | select('none') %}gen-true{% endif %}|{{ none | selectattr('x') | list }}|{{ [1, 2] | map('string') | join(',') }}"),
            "gen-true|[]|1,2");
  EXPECT_THROW(render("{{ [1] | select('odd') | tojson }}"), Error);
  EXPECT_THROW(render("{{ [1] | select('odd') | length }}"), Error);
  EXPECT_EQ(render("{% generation %}kept{% endgeneration %}"), "kept");
}

}  // namespace
}  // namespace quantlab::text
