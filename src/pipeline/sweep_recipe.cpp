// Reading a sweep recipe: every key is checked against what its place takes, and every problem is
// collected (not thrown at the first), so one run of `quantlab sweep` lists all of a recipe's
// mistakes before anything is computed.
#include "quantlab/pipeline/sweep_recipe.hpp"

#include "quantlab/calib/dataset.hpp"
#include "quantlab/calib/packing.hpp"
#include "quantlab/formats/format.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/pipeline/export_hf.hpp"
#include "quantlab/quant/gguf_quantize.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

namespace quantlab::pipeline {
namespace fs = std::filesystem;

namespace {

std::string first_line(const std::vector<std::string>& lines) { return lines.empty() ? std::string() : lines.front(); }

// Names become file names in the run directory: kept to a safe alphabet.
bool safe_name(const std::string& s) {
  if (s.empty() || s.size() > 80 || s[0] == '.' || s[0] == '-') return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

class Reader {
 public:
  Reader(std::string file, const AssetResolver& assets) : file_(std::move(file)), assets_(assets) {
    dir_ = fs::path(file_).parent_path();
  }
  std::vector<std::string> errors;

  void error(const std::string& key, const std::string& what) { errors.push_back(file_ + ": " + key + ": " + what); }

  static std::string kind(const YAML::Node& n) {
    if (n.IsMap()) return "a mapping";
    if (n.IsSequence()) return "a list";
    if (n.IsNull()) return "nothing";
    return "'" + n.Scalar() + "'";
  }

  // Refuses keys of `n` outside `allowed` (each named with its path); false when `n` is no mapping.
  bool map(const YAML::Node& n, const std::string& key, const std::vector<std::string>& allowed) {
    if (!n.IsMap()) {
      error(key, "expected a mapping, got " + kind(n));
      return false;
    }
    for (const auto& kv : n) {
      const std::string k = kv.first.IsScalar() ? kv.first.Scalar() : "?";
      bool known = false;
      for (const auto& a : allowed) known = known || a == k;
      if (!known) error(sub(key, k), "unknown key (expected one of: " + join(allowed) + ")");
    }
    return true;
  }

  static std::string sub(const std::string& key, const std::string& k) { return key.empty() ? k : key + "." + k; }

  std::optional<std::string> str(const YAML::Node& n, const std::string& key) {
    if (!n) return std::nullopt;
    if (!n.IsScalar()) {
      error(key, "expected a string, got " + kind(n));
      return std::nullopt;
    }
    return n.Scalar();
  }

  std::optional<int64_t> integer(const YAML::Node& n, const std::string& key, int64_t lo, int64_t hi) {
    if (!n) return std::nullopt;
    int64_t v = 0;
    if (!n.IsScalar() || !YAML::convert<int64_t>::decode(n, v)) {
      error(key, "expected an integer, got " + kind(n));
      return std::nullopt;
    }
    if (v < lo || v > hi) {
      error(key, "expected an integer from " + std::to_string(lo) + " to " + std::to_string(hi) + ", got " + n.Scalar());
      return std::nullopt;
    }
    return v;
  }

  std::optional<double> number(const YAML::Node& n, const std::string& key) {
    if (!n) return std::nullopt;
    double v = 0;
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, v)) {
      error(key, "expected a number, got " + kind(n));
      return std::nullopt;
    }
    return v;
  }

  std::optional<bool> boolean(const YAML::Node& n, const std::string& key) {
    if (!n) return std::nullopt;
    bool v = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
      error(key, "expected true or false, got " + kind(n));
      return std::nullopt;
    }
    return v;
  }

  // A string or a list of strings.
  std::vector<std::string> strings(const YAML::Node& n, const std::string& key) {
    std::vector<std::string> out;
    if (!n) return out;
    if (n.IsScalar()) return {n.Scalar()};
    if (!n.IsSequence()) {
      error(key, "expected a string or a list of strings, got " + kind(n));
      return out;
    }
    for (size_t i = 0; i < n.size(); ++i)
      if (auto s = str(n[i], key + "[" + std::to_string(i) + "]")) out.push_back(*s);
    return out;
  }

  // A path-valued key: `asset:ROLE` or a path relative to the recipe; must exist.
  std::optional<std::string> path(const YAML::Node& n, const std::string& key) {
    const auto s = str(n, key);
    if (!s) return std::nullopt;
    std::string p;
    if (s->rfind("asset:", 0) == 0) {
      try {
        p = assets_(s->substr(6));
      } catch (const std::exception& e) {
        error(key, std::string("asset not available: ") + e.what());
        return std::nullopt;
      }
    } else {
      p = fs::path(*s).is_absolute() ? *s : (dir_ / *s).lexically_normal().string();
    }
    std::error_code ec;
    if (!fs::exists(p, ec)) {
      error(key, "no such file: " + p);
      return std::nullopt;
    }
    return p;
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
  const AssetResolver& assets_;
  fs::path dir_;
};

void read_model(Reader& r, const std::string& name, const YAML::Node& n, Recipe& recipe) {
  const std::string key = "models." + name;
  if (!safe_name(name)) r.error(key, "a model name is letters, digits, '-', '_' or '.' (it names files)");
  if (!r.map(n, key, {"path", "tokenizer", "dequantize"})) return;
  RecipeModel m;
  m.name = name;
  if (!n["path"]) r.error(key + ".path", "missing: the model file (a path, or asset:ROLE)");
  const auto p = r.path(n["path"], key + ".path");
  if (auto d = r.str(n["dequantize"], key + ".dequantize")) {
    if (*d != "F32" && *d != "F16" && *d != "BF16") r.error(key + ".dequantize", "expected F32, F16 or BF16, got '" + *d + "'");
    else m.dequantize = *d;
  }
  if (auto t = r.path(n["tokenizer"], key + ".tokenizer")) m.tokenizer = *t;
  if (p) {
    m.path = *p;
    try {
      switch (model_file_kind(m.path)) {
        case ModelFileKind::HfFolder:
          r.error(key + ".path", m.path + ": a GGUF file or llama2.c checkpoint expected (a sweep quantizes GGUF files)");
          break;
        case ModelFileKind::Llama2c:
          m.llama2c = true;
          if (m.tokenizer.empty() && !n["tokenizer"])
            r.error(key + ".tokenizer", "missing: a llama2.c checkpoint carries no vocabulary (its tokenizer.bin)");
          if (!m.dequantize.empty()) r.error(key + ".dequantize", "a llama2.c checkpoint is F32 already");
          break;
        case ModelFileKind::Gguf: {
          if (n["tokenizer"]) r.error(key + ".tokenizer", "a GGUF file carries its own vocabulary");
          // Quantizing rounded weights again loses more than quantizing the original: the same rule
          // as `quantize` (--allow-requantize), here as "dequantize it first".
          std::map<std::string, int> quantized;
          const GgufFile f(m.path);
          for (const GgufTensorInfo& t : f.tensors())
            if (format_traits(t.type).is_quantized) ++quantized[std::string(format_traits(t.type).name)];
          if (!quantized.empty() && m.dequantize.empty()) {
            std::string types;
            for (const auto& [t, k] : quantized) types += (types.empty() ? "" : ", ") + std::to_string(k) + " " + t;
            r.error(key + ".dequantize", "missing: " + m.path + " is already quantized (" + types +
                                             "); add `dequantize: F32` so every configuration starts from its F32 dequantization");
          }
          break;
        }
      }
    } catch (const std::exception& e) {
      r.error(key + ".path", e.what());
    }
  }
  recipe.models.push_back(std::move(m));
}

void read_calibration(Reader& r, const std::string& name, const YAML::Node& n, Recipe& recipe) {
  const std::string key = "calibration." + name;
  if (!safe_name(name)) r.error(key, "a calibration set's name is letters, digits, '-', '_' or '.'");
  if (!r.map(n, key, {"file", "format", "field", "text_template", "raw", "packing", "overflow", "seq_len", "samples",
                      "seed", "min_tokens", "max_tokens", "stratify", "languages"}))
    return;
  RecipeCalibration c;
  c.name = name;
  if (!n["file"]) r.error(key + ".file", "missing: the calibration data (a path, or asset:ROLE)");
  if (auto p = r.path(n["file"], key + ".file")) c.path = *p;
  auto checked = [&](const char* k, const std::string& fallback, auto parse) {
    const auto v = r.str(n[k], key + "." + k);
    if (!v) return fallback;
    try {
      parse(*v);
    } catch (const Error& e) {
      r.error(key + "." + k, e.message());
    }
    return *v;
  };
  c.format = checked("format", c.format, [](const std::string& v) { calib::parse_shape(v); });
  c.packing = checked("packing", c.packing, [](const std::string& v) { calib::parse_packing(v); });
  c.overflow = checked("overflow", c.overflow, [](const std::string& v) { calib::parse_overflow(v); });
  c.fields = r.strings(n["field"], key + ".field");
  for (size_t i = 0; i < c.fields.size(); ++i) {
    calib::FieldMapping probe;
    try {
      calib::set_mapping_field(probe, c.fields[i]);
    } catch (const Error& e) {
      r.error(key + ".field[" + std::to_string(i) + "]", e.message());
    }
  }
  if (auto v = r.str(n["text_template"], key + ".text_template")) c.text_template = *v;
  c.raw = r.boolean(n["raw"], key + ".raw").value_or(false);
  if (c.raw && !c.text_template.empty()) r.error(key + ".raw", "cannot be combined with text_template");
  constexpr int64_t kBig = int64_t(1) << 40;
  c.seq_len = r.integer(n["seq_len"], key + ".seq_len", 1, 1 << 20).value_or(c.seq_len);
  c.samples = r.integer(n["samples"], key + ".samples", 1, kBig).value_or(c.samples);
  c.seed = r.integer(n["seed"], key + ".seed", 0, kBig).value_or(c.seed);
  c.min_tokens = r.integer(n["min_tokens"], key + ".min_tokens", 0, kBig).value_or(0);
  c.max_tokens = r.integer(n["max_tokens"], key + ".max_tokens", 0, kBig).value_or(0);
  c.stratify = r.boolean(n["stratify"], key + ".stratify").value_or(false);
  c.languages = r.strings(n["languages"], key + ".languages");
  recipe.calibration.push_back(std::move(c));
}

// The keys each method takes besides `name` and `method`.
const std::map<std::string, std::vector<std::string>>& method_keys() {
  static const std::map<std::string, std::vector<std::string>> keys = {
      {"rtn", {"bits", "group_size", "sym", "export_format"}},
      {"gptq", {"bits", "group_size", "sym", "act_order", "static_groups", "damp", "block_size", "calib", "export_format",
                "type", "pure", "tensor_type", "output_tensor_type", "token_embedding_type"}},
      {"awq", {"bits", "group_size", "calib", "export_format"}},
      {"nf4", {"block_size", "double_quant"}},
      {"fp4", {"block_size", "double_quant"}},
      {"int8", {}},
      {"gguf", {"type", "imatrix", "pure", "tensor_type", "output_tensor_type", "token_embedding_type"}},
  };
  return keys;
}

std::string derived_name(const RecipeQuantize& q) {
  std::string s = q.method;
  const bool int_grid = q.method == "rtn" || q.method == "gptq" || q.method == "awq";
  if (!q.type.empty()) s = q.method == "gguf" ? q.type : s + "-" + q.type;
  else if (int_grid) s += "-w" + std::to_string(q.bits) + (q.group_size ? "-g" + std::to_string(*q.group_size) : "");
  if (q.sym) s += "-sym";
  if (q.act_order) s += "-act-order";
  if (q.static_groups) s += "-static-groups";
  if (q.pure) s += "-pure";
  if (q.block_size && !int_grid) s += "-b" + std::to_string(*q.block_size);
  if (q.double_quant) s += "-dq";
  if (q.export_format != "native") s += "-ct";
  if (!q.calib.empty()) s += "-" + q.calib;
  if (!q.imatrix.empty()) s += "-imatrix-" + q.imatrix;
  return s;
}

void read_quantize(Reader& r, size_t i, const YAML::Node& n, Recipe& recipe, const std::set<std::string>& calib_names) {
  const std::string key = "quantize[" + std::to_string(i) + "]";
  if (!n.IsMap()) {
    r.error(key, "expected a mapping (method: ..., ...), got " + Reader::kind(n));
    return;
  }
  RecipeQuantize q;
  const size_t errors_before = r.errors.size();
  const auto method = r.str(n["method"], key + ".method");
  if (!n["method"]) r.error(key + ".method", "missing: one of rtn, gptq, awq, nf4, fp4, int8, gguf");
  if (!method) return;
  const auto it = method_keys().find(*method);
  if (it == method_keys().end()) {
    r.error(key + ".method", "expected one of rtn, gptq, awq, nf4, fp4, int8, gguf, got '" + *method + "'");
    return;
  }
  q.method = *method;
  std::vector<std::string> allowed = {"name", "method"};
  allowed.insert(allowed.end(), it->second.begin(), it->second.end());
  r.map(n, key, allowed);
  auto k = [&](const char* name) { return key + "." + name; };
  auto format_name = [&](const char* name) -> std::string {
    const auto v = r.str(n[name], k(name));
    if (!v) return {};
    const FormatTraits* t = find_format(*v);
    if (!t || int(t->id) >= 1000) r.error(k(name), "expected a GGUF tensor type (Q8_0, Q6_K, F16, ...), got '" + *v + "'");
    return *v;
  };
  if (auto t = r.str(n["type"], k("type"))) {
    try {
      q.type = parse_gguf_target(*t).name;
    } catch (const Error&) {
      r.error(k("type"), "expected a GGUF type or llama.cpp mix (Q4_K_M, Q8_0, Q2_K, IQ4_XS, ...), got '" + *t + "'");
    }
  }
  if (q.method == "gguf" && !n["type"]) r.error(k("type"), "missing: the GGUF type or llama.cpp mix (Q4_K_M, Q8_0, ...)");
  q.bits = int(r.integer(n["bits"], k("bits"), 2, 8).value_or(4));
  if (n["bits"] && q.bits != 2 && q.bits != 3 && q.bits != 4 && q.bits != 8)
    r.error(k("bits"), "expected 2, 3, 4 or 8, got " + std::to_string(q.bits));
  if (n["group_size"]) {
    if (n["group_size"].IsScalar() && n["group_size"].Scalar() == "auto") q.group_size.reset();
    else if (auto g = r.integer(n["group_size"], k("group_size"), 0, 1 << 20)) q.group_size = *g;
  }
  q.sym = r.boolean(n["sym"], k("sym")).value_or(false);
  q.act_order = r.boolean(n["act_order"], k("act_order")).value_or(false);
  q.static_groups = r.boolean(n["static_groups"], k("static_groups")).value_or(false);
  q.double_quant = r.boolean(n["double_quant"], k("double_quant")).value_or(false);
  q.pure = r.boolean(n["pure"], k("pure")).value_or(false);
  if (auto d = r.number(n["damp"], k("damp"))) {
    if (!(*d > 0 && *d < 1)) r.error(k("damp"), "expected a number in (0, 1)");
    q.damp = *d;
  }
  if (auto b = r.integer(n["block_size"], k("block_size"), 1, 1 << 20)) q.block_size = *b;
  if (auto e = r.str(n["export_format"], k("export_format"))) {
    try {
      parse_export_format(*e);
      q.export_format = *e;
    } catch (const Error&) {
      r.error(k("export_format"), "expected native or compressed-tensors, got '" + *e + "'");
    }
  }
  q.tensor_type = r.strings(n["tensor_type"], k("tensor_type"));
  for (size_t j = 0; j < q.tensor_type.size(); ++j) {
    const std::string& spec = q.tensor_type[j];
    const size_t eq = spec.find('=');
    const FormatTraits* t = eq == std::string::npos ? nullptr : find_format(spec.substr(eq + 1));
    if (eq == std::string::npos || eq == 0 || !t || int(t->id) >= 1000)
      r.error(k("tensor_type") + "[" + std::to_string(j) + "]", "expected PATTERN=TYPE (a GGUF type), got '" + spec + "'");
  }
  q.output_tensor_type = format_name("output_tensor_type");
  q.token_embedding_type = format_name("token_embedding_type");
  auto calib_ref = [&](const char* name) -> std::string {
    const auto v = r.str(n[name], k(name));
    if (!v) return {};
    if (!calib_names.count(*v))
      r.error(k(name), "names no calibration set ('" + *v + "'; the recipe's `calibration:` has: " +
                           join(std::vector<std::string>(calib_names.begin(), calib_names.end())) + ")");
    return *v;
  };
  q.calib = calib_ref("calib");
  q.imatrix = calib_ref("imatrix");
  if ((q.method == "gptq" || q.method == "awq") && !n["calib"])
    r.error(k("calib"), "missing: " + q.method + " needs a calibration set (a name under `calibration:`)");
  if (q.method == "gptq" && !q.type.empty()) {
    for (const char* flag : {"bits", "group_size", "sym", "static_groups", "export_format"})
      if (n[flag]) r.error(k(flag), "does not apply to GGUF block types (type: " + q.type + ")");
  } else if (q.method == "gptq") {
    for (const char* flag : {"pure", "tensor_type", "output_tensor_type", "token_embedding_type"})
      if (n[flag]) r.error(k(flag), "applies only with a GGUF target (type: ...)");
  }
  if (q.static_groups && !q.act_order) r.error(k("static_groups"), "applies only with act_order: true");
  if (q.method == "awq" && q.export_format == "native" && q.bits != 4)
    r.error(k("bits"), "AWQ's GEMM layout packs 4 bits; for " + std::to_string(q.bits) + " bits add export_format: compressed-tensors");
  if (q.export_format == "compressed-tensors" && q.bits != 4 && q.bits != 8)
    r.error(k("export_format"), "compressed-tensors takes 4 or 8 bits");
  if (auto name = r.str(n["name"], k("name"))) {
    if (!safe_name(*name)) r.error(k("name"), "a name is letters, digits, '-', '_' or '.' (it names files), got '" + *name + "'");
    q.name = *name;
  } else {
    q.name = derived_name(q);
  }
  // A configuration already found wrong derives a name from half its settings: no second complaint.
  for (size_t j = 0; j < recipe.quantize.size() && r.errors.size() == errors_before; ++j)
    if (recipe.quantize[j].name == q.name)
      r.error(k("name"), "'" + q.name + "' is also the name of quantize[" + std::to_string(j) + "]; give one of them a `name:`");
  recipe.quantize.push_back(std::move(q));
}

void read_evaluation(Reader& r, size_t i, const YAML::Node& n, Recipe& recipe) {
  const std::string key = "evaluations[" + std::to_string(i) + "]";
  if (!n.IsMap()) {
    r.error(key, "expected a mapping (ppl: ..., kld: ... or mc: ...), got " + Reader::kind(n));
    return;
  }
  // One key, the kind, whose value holds the settings: `- ppl: {file: ..., ctx: 512}`; or
  // `- name: wiki` beside it.
  std::string kind;
  for (const auto& kv : n) {
    const std::string kk = kv.first.IsScalar() ? kv.first.Scalar() : "?";
    if (kk == "ppl" || kk == "kld" || kk == "mc") {
      if (!kind.empty()) r.error(key + "." + kk, "one kind per evaluation (already " + kind + ")");
      else kind = kk;
    }
  }
  r.map(n, key, {"name", "ppl", "kld", "mc"});
  if (kind.empty()) {
    r.error(key, "expected one of the kinds ppl, kld, mc as its key");
    return;
  }
  RecipeEvaluation e;
  e.kind = kind;
  const std::string sk = key + "." + kind;
  const YAML::Node s = n[kind];
  if (kind == "mc") {
    if (!r.map(s, sk, {"data", "limit"})) return;
    if (!s["data"]) r.error(sk + ".data", "missing: the questions (.jsonl; a path or asset:ROLE)");
    if (auto p = r.path(s["data"], sk + ".data")) e.path = *p;
    e.limit = r.integer(s["limit"], sk + ".limit", 0, int64_t(1) << 40).value_or(0);
  } else {
    if (!r.map(s, sk, {"file", "ctx", "chunks"})) return;
    if (!s["file"]) r.error(sk + ".file", "missing: the text (a path or asset:ROLE)");
    if (auto p = r.path(s["file"], sk + ".file")) e.path = *p;
    e.ctx = r.integer(s["ctx"], sk + ".ctx", 4, 1 << 20).value_or(512);
    e.chunks = r.integer(s["chunks"], sk + ".chunks", 1, int64_t(1) << 40).value_or(-1);
  }
  if (auto name = r.str(n["name"], key + ".name")) {
    if (!safe_name(*name)) r.error(key + ".name", "a name is letters, digits, '-', '_' or '.', got '" + *name + "'");
    e.name = *name;
  } else {
    e.name = fs::path(e.path).stem().string();
    for (char& c : e.name)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '_';
  }
  for (size_t j = 0; j < recipe.evaluations.size(); ++j)
    if (recipe.evaluations[j].name == e.name && recipe.evaluations[j].kind == e.kind)
      r.error(key + ".name", "'" + e.name + "' is also the name of evaluations[" + std::to_string(j) + "] (" + e.kind +
                                 "); give one a `name:`");
  recipe.evaluations.push_back(std::move(e));
}

}  // namespace

RecipeError::RecipeError(std::vector<std::string> lines) : Error("", "", first_line(lines)), lines_(std::move(lines)) {}

const RecipeCalibration* Recipe::find_calibration(const std::string& name) const {
  for (const auto& c : calibration)
    if (c.name == name) return &c;
  return nullptr;
}

nlohmann::ordered_json RecipeCalibration::settings() const {
  return {{"format", format}, {"field", fields}, {"text_template", text_template}, {"raw", raw}, {"packing", packing},
          {"overflow", overflow}, {"seq_len", seq_len}, {"samples", samples}, {"seed", seed}, {"min_tokens", min_tokens},
          {"max_tokens", max_tokens}, {"stratify", stratify}, {"languages", languages}};
}

nlohmann::ordered_json RecipeQuantize::settings() const {
  nlohmann::ordered_json j{{"method", method}};
  if (!type.empty()) j["type"] = type;
  if (method == "rtn" || method == "gptq" || method == "awq") {
    if (type.empty()) {
      j["bits"] = bits;
      j["group_size"] = group_size ? nlohmann::ordered_json(*group_size) : nlohmann::ordered_json("auto");
      j["sym"] = sym;
      j["export_format"] = export_format;
    }
    if (method == "gptq") {
      j["act_order"] = act_order;
      j["static_groups"] = static_groups;
      j["damp"] = damp;
      j["block_size"] = block_size.value_or(128);
    }
  }
  if (method == "nf4" || method == "fp4") {
    j["block_size"] = block_size.value_or(64);
    j["double_quant"] = double_quant;
  }
  if (method == "gguf" || !type.empty()) {
    j["pure"] = pure;
    j["tensor_type"] = tensor_type;
    j["output_tensor_type"] = output_tensor_type;
    j["token_embedding_type"] = token_embedding_type;
  }
  if (!calib.empty()) j["calib"] = calib;
  if (!imatrix.empty()) j["imatrix"] = imatrix;
  return j;
}

nlohmann::ordered_json RecipeEvaluation::settings() const {
  if (kind == "mc") return {{"kind", kind}, {"limit", limit}};
  return {{"kind", kind}, {"ctx", ctx}, {"chunks", chunks}};
}

AssetResolver fetch_assets_resolver(const std::string& recipe_path) {
  std::string script;
  if (const char* env = std::getenv("QUANTLAB_FETCH_ASSETS"); env && *env) {
    script = env;
  } else {
    std::error_code ec;
    for (fs::path d = fs::absolute(recipe_path, ec).parent_path(); !d.empty(); d = d.parent_path()) {
      if (fs::exists(d / "tools" / "fetch-assets", ec)) {
        script = (d / "tools" / "fetch-assets").string();
        break;
      }
      if (d == d.root_path()) break;
    }
  }
  return [script](const std::string& role) -> std::string {
    if (script.empty())
      throw Error("asset:" + role, "", "no tools/fetch-assets above the recipe and $QUANTLAB_FETCH_ASSETS unset; give a path");
    for (char c : role)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
        throw Error("asset:" + role, "", "not a role name");
    const std::string cmd = "'" + script + "' --print '" + role + "' 2>/dev/null";
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) throw Error("asset:" + role, "", "cannot run " + script);
    std::string out;
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    const int status = ::pclose(p);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    if (const size_t nl = out.rfind('\n'); nl != std::string::npos) out = out.substr(nl + 1);
    if (status != 0 || out.empty()) throw Error("asset:" + role, "", script + " --print " + role + " failed (tools/fetch-assets --list names the roles)");
    return out;
  };
}

Recipe read_recipe(const std::string& path, const AssetResolver& assets) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw Error(path, "", "cannot open the recipe");
  } catch (const YAML::Exception& e) {
    throw Error(path, "line " + std::to_string(e.mark.line + 1), "not valid YAML: " + e.msg);
  }
  Reader r(path, assets);
  Recipe recipe;
  recipe.path = path;
  if (!r.map(root, "", {"models", "quantize", "calibration", "evaluations", "threads", "parallel", "out"}))
    throw RecipeError(r.errors);
  recipe.threads = int(r.integer(root["threads"], "threads", 0, 1024).value_or(0));
  recipe.parallel = int(r.integer(root["parallel"], "parallel", 1, 64).value_or(1));
  if (auto o = r.str(root["out"], "out")) recipe.out = *o;
  if (!root["models"]) r.error("models", "missing: at least one base model (name: {path: ...})");
  else if (!root["models"].IsMap()) r.error("models", "expected a mapping of named models, got " + Reader::kind(root["models"]));
  else {
    for (const auto& kv : root["models"]) read_model(r, kv.first.Scalar(), kv.second, recipe);
    if (recipe.models.empty()) r.error("models", "expected at least one model");
  }
  std::set<std::string> calib_names;
  if (const YAML::Node c = root["calibration"]) {
    if (!c.IsMap()) r.error("calibration", "expected a mapping of named calibration sets, got " + Reader::kind(c));
    else
      for (const auto& kv : c) {
        read_calibration(r, kv.first.Scalar(), kv.second, recipe);
        calib_names.insert(kv.first.Scalar());
      }
  }
  if (const YAML::Node q = root["quantize"]) {
    if (!q.IsSequence()) r.error("quantize", "expected a list of configurations, got " + Reader::kind(q));
    else
      for (size_t i = 0; i < q.size(); ++i) read_quantize(r, i, q[i], recipe, calib_names);
  }
  if (const YAML::Node e = root["evaluations"]) {
    if (!e.IsSequence()) r.error("evaluations", "expected a list of evaluations, got " + Reader::kind(e));
    else
      for (size_t i = 0; i < e.size(); ++i) read_evaluation(r, i, e[i], recipe);
  }
  if (!r.errors.empty()) throw RecipeError(std::move(r.errors));
  return recipe;
}

}  // namespace quantlab::pipeline
