#include "quantlab/pipeline/export_hf.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/core/foreign_error.hpp"
#include "quantlab/core/mapped_file.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/io/json.hpp"
#include "quantlab/io/safetensors.hpp"
#include "quantlab/quant/bnb_serialize.hpp"
#include "quantlab/quant/int_packing.hpp"
#include "quantlab/text/hf_tokenizer_writer.hpp"
#include "quantlab/text/vocab_loaders.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <type_traits>

namespace quantlab::pipeline {
namespace fs = std::filesystem;
namespace {

// Canonical GGUF linear name -> Hugging Face module path (without ".weight").
std::string hf_linear(const std::string& gguf_name) {
  // blk.N.<role>.weight
  const size_t a = gguf_name.find('.'), b = gguf_name.find('.', a + 1), c = gguf_name.rfind('.');
  const std::string layer = gguf_name.substr(a + 1, b - a - 1), role = gguf_name.substr(b + 1, c - b - 1);
  static const std::map<std::string, std::string> roles = {
      {"attn_q", "self_attn.q_proj"}, {"attn_k", "self_attn.k_proj"}, {"attn_v", "self_attn.v_proj"},
      {"attn_output", "self_attn.o_proj"}, {"ffn_gate", "mlp.gate_proj"}, {"ffn_up", "mlp.up_proj"},
      {"ffn_down", "mlp.down_proj"}};
  return "model.layers." + layer + "." + roles.at(role);
}

bool interleaved_rope(const ModelConfig& c) { return c.rope_style == RopeStyle::Normal; }

// Heads of a Q or K linear under a GGUF name ("" for other linears).
int64_t rope_heads(const std::string& gguf_name, const ModelConfig& c) {
  if (gguf_name.find(".attn_q.") != std::string::npos) return c.n_head;
  if (gguf_name.find(".attn_k.") != std::string::npos) return c.n_head_kv;
  return 0;
}

// Moves rows: out row to_row(r) = in row r.
IntQuantizedMatrix permute_rows(const IntQuantizedMatrix& m, int64_t head_dim, bool to_hf) {
  IntQuantizedMatrix out = m;
  for (int64_t r = 0; r < m.rows; ++r) {
    const int64_t h = hf_row_of_gguf_row(r, head_dim);
    const int64_t src = to_hf ? r : h, dst = to_hf ? h : r;
    std::memcpy(&out.codes[size_t(dst * m.cols)], &m.codes[size_t(src * m.cols)], size_t(m.cols));
    for (int64_t g = 0; g < m.n_groups; ++g) out.params[size_t(dst * m.n_groups + g)] = m.params[size_t(src * m.n_groups + g)];
  }
  return out;
}

std::vector<float> permute_vector(const std::vector<float>& v, int64_t head_dim, bool to_hf) {
  std::vector<float> out(v.size());
  for (int64_t r = 0; r < int64_t(v.size()); ++r) {
    const int64_t h = hf_row_of_gguf_row(r, head_dim);
    out[size_t(to_hf ? h : r)] = v[size_t(to_hf ? r : h)];
  }
  return out;
}

// bitsandbytes layers in Hugging Face row order. Exact when no quantization block spans two rows
// (4-bit: cols a multiple of the block size, no double quantization, whose nested blocks would
// mix rows); int8 is row-wise anyway.
bnb::Quantized4bit permute_rows(const bnb::Quantized4bit& q, int64_t rows, int64_t cols, int64_t head_dim,
                                const std::string& name) {
  if (q.spec.double_quant || cols % q.spec.block_size != 0 || cols % 2 != 0)
    throw Error(name, "rotary rows", "bitsandbytes blocks span rows here; the Hugging Face row order cannot be made exactly");
  bnb::Quantized4bit out = q;
  const int64_t row_bytes = cols / 2, row_blocks = cols / q.spec.block_size;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t h = hf_row_of_gguf_row(r, head_dim);
    std::memcpy(&out.packed[size_t(h * row_bytes)], &q.packed[size_t(r * row_bytes)], size_t(row_bytes));
    for (int64_t b = 0; b < row_blocks; ++b) out.absmax[size_t(h * row_blocks + b)] = q.absmax[size_t(r * row_blocks + b)];
  }
  return out;
}

bnb::Int8Rows permute_rows(const bnb::Int8Rows& q, int64_t head_dim) {
  bnb::Int8Rows out = q;
  for (int64_t r = 0; r < q.rows; ++r) {
    const int64_t h = hf_row_of_gguf_row(r, head_dim);
    std::memcpy(&out.codes[size_t(h * q.cols)], &q.codes[size_t(r * q.cols)], size_t(q.cols));
    out.absmax[size_t(h)] = q.absmax[size_t(r)];
  }
  return out;
}

template <typename T>
std::vector<uint8_t> bytes_of(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  if (!b.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// One safetensors tensor of the export, with its bytes.
struct OutTensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// Whether a compressed-tensors export would store each column's group (weight_g_idx): GPTQ's
// act-order without static groups, whose groups follow the activation order. compressed-tensors
// 0.20 removed that form (actorder "group"), so check_exportable refuses it; the reader still
// takes older files that have it.
bool stores_g_idx(const QuantizeOptions& o) { return o.method == Method::Gptq && o.gptq.act_order && !o.gptq.static_groups; }

// compressed-tensors' pack-quantized tensors (pack_to_int32): each code is the signed value plus
// 2^(bits-1), which is quantlab's unsigned code itself; zero points likewise, packed along the
// output dimension. Scales are stored as F32 (they hold f16 values: see IntGridSpec), so the
// decompressed weights are quantlab's f32 products.
std::vector<OutTensor> pack_quantized_tensors(const IntQuantizedMatrix& m, const std::string& base, bool with_g_idx,
                                              const std::string& name) {
  const int bits = m.spec.bits, per_word = 32 / bits;
  if (bits != 4 && bits != 8) throw Error(name, "bits", "compressed-tensors exports take 4 or 8 bits");
  const int64_t words = (m.cols + per_word - 1) / per_word, zrows = (m.rows + per_word - 1) / per_word;
  std::vector<uint32_t> packed(size_t(m.rows * words), 0u), zeros(size_t(zrows * m.n_groups), 0u);
  std::vector<float> scales(size_t(m.rows * m.n_groups));
  const float mid = float(1 << (bits - 1));
  for (int64_t o = 0; o < m.rows; ++o) {
    for (int64_t i = 0; i < m.cols; ++i)
      packed[size_t(o * words + i / per_word)] |= uint32_t(m.codes[size_t(o * m.cols + i)]) << (bits * (i % per_word));
    for (int64_t g = 0; g < m.n_groups; ++g) {
      const IntGroupParams& p = m.params[size_t(o * m.n_groups + g)];
      if (m.spec.symmetric && p.zero != mid) throw Error(name, "zero", "a symmetric grid whose zero is not 2^(bits-1)");
      zeros[size_t((o / per_word) * m.n_groups + g)] |= uint32_t(p.zero) << (bits * (o % per_word));
      scales[size_t(o * m.n_groups + g)] = p.scale;
    }
  }
  if (!with_g_idx)
    for (int64_t c = 0; c < m.cols; ++c)
      if (m.g_idx[size_t(c)] != int32_t(m.spec.group_size > 0 ? c / m.spec.group_size : 0))
        throw Error(name, "g_idx", "groups out of column order need weight_g_idx (act-order without static groups)");
  std::vector<OutTensor> out;
  out.push_back({base + "weight_packed", "I32", {m.rows, words}, bytes_of(packed)});
  out.push_back({base + "weight_scale", "F32", {m.rows, m.n_groups}, bytes_of(scales)});
  if (!m.spec.symmetric) out.push_back({base + "weight_zero_point", "I32", {zrows, m.n_groups}, bytes_of(zeros)});
  if (with_g_idx) out.push_back({base + "weight_g_idx", "I32", {m.cols}, bytes_of(m.g_idx)});
  out.push_back({base + "weight_shape", "I64", {2}, bytes_of(std::vector<int64_t>{m.rows, m.cols})});
  return out;
}

// The safetensors tensors of one quantized linear (GPTQ / AWQ packing, bitsandbytes' layout or
// compressed-tensors' pack-quantized), in Hugging Face row order.
std::vector<OutTensor> linear_tensors(const QuantizedTensor& t, const ExportInfo& info, const ModelConfig& c) {
  const Method method = info.options.method;
  const std::string base = hf_linear(t.name) + ".";
  const bool rope = interleaved_rope(c) && rope_heads(t.name, c) > 0;
  std::vector<OutTensor> out;
  if (t.int_grid && info.format == HfExportFormat::CompressedTensors) {
    const IntQuantizedMatrix mat = rope ? permute_rows(*t.int_grid, c.head_dim, true) : *t.int_grid;
    return pack_quantized_tensors(mat, base, stores_g_idx(info.options), t.name);
  }
  if (t.int_grid) {
    const IntQuantizedMatrix mat = rope ? permute_rows(*t.int_grid, c.head_dim, true) : *t.int_grid;
    const PackedIntWeights pk = method == Method::Awq ? pack_awq(mat) : pack_gptq(mat);
    out.push_back({base + "qweight", "I32", pk.qweight_shape, bytes_of(pk.qweight)});
    out.push_back({base + "qzeros", "I32", pk.qzeros_shape, bytes_of(pk.qzeros)});
    out.push_back({base + "scales", "F16", pk.scales_shape, bytes_of(pk.scales)});
    if (method != Method::Awq) out.push_back({base + "g_idx", "I32", {t.cols}, bytes_of(pk.g_idx)});
  } else if (t.bnb4 || t.int8) {
    std::vector<bnb::NamedTensor> named;
    if (t.bnb4)
      named = bnb::export_4bit(base, rope ? permute_rows(*t.bnb4, t.rows, t.cols, c.head_dim, t.name) : *t.bnb4);
    else
      named = bnb::export_int8(base, rope ? permute_rows(*t.int8, c.head_dim) : *t.int8);
    for (auto& nt : named) out.push_back({nt.name, nt.dtype, nt.shape, std::move(nt.bytes)});
  } else {
    throw Error(t.name, "encoding", "a GGUF block tensor cannot go into a Hugging Face folder");
  }
  return out;
}

// A layer's unquantized tensors (norms, biases), in the export's order.
std::vector<OutTensor> layer_tensors(int64_t l, const LayerWeights& L, const ModelConfig& c) {
  const std::string p = "model.layers." + std::to_string(l) + ".";
  std::vector<OutTensor> out;
  out.push_back({p + "input_layernorm.weight", "F32", {c.n_embd}, bytes_of(L.attn_norm)});
  out.push_back({p + "post_attention_layernorm.weight", "F32", {c.n_embd}, bytes_of(L.ffn_norm)});
  auto bias = [&](const std::vector<float>& b, const std::string& name, bool rope) {
    if (b.empty()) return;
    const std::vector<float> v = rope && interleaved_rope(c) ? permute_vector(b, c.head_dim, true) : b;
    out.push_back({p + name, "F32", {int64_t(b.size())}, bytes_of(v)});
  };
  bias(L.q_bias, "self_attn.q_proj.bias", true);
  bias(L.k_bias, "self_attn.k_proj.bias", true);
  bias(L.v_bias, "self_attn.v_proj.bias", false);
  return out;
}

// A stand-in of the right shape, quantized by the method's plain encoder: its exported tensors
// have the names (after the prefix), dtypes, shapes and sizes every linear of that shape gets.
QuantizedTensor placeholder(const std::string& name, int64_t rows, int64_t cols, const QuantizeOptions& o) {
  const std::vector<float> ones(static_cast<size_t>(rows * cols), 1.0f);
  QuantizedTensor t;
  t.name = name;
  t.rows = rows, t.cols = cols;
  if (method_is_int_grid(o.method)) {
    t.int_grid = quantize_rtn(ones.data(), rows, cols, o.grid);
  } else if (o.method == Method::Int8) {
    t.int8 = bnb::quantize_int8_rows(ones.data(), rows, cols, name);
  } else {
    bnb::Spec4bit spec = o.bnb4;
    spec.type = o.method == Method::Nf4 ? bnb::QuantType::NF4 : bnb::QuantType::FP4;
    t.bnb4 = bnb::quantize_4bit(ones.data(), {rows, cols}, spec, bnb::SourceDtype::F32, name);
  }
  return t;
}

// Roles of the quantized linears in quantize_model's order, with their shapes.
struct LinearShape {
  const char* role;
  int64_t rows, cols;
};
std::vector<LinearShape> linear_shapes(const LayerWeights& L) {
  return {{"attn_q", L.wq.rows, L.wq.cols},           {"attn_k", L.wk.rows, L.wk.cols},
          {"attn_v", L.wv.rows, L.wv.cols},           {"attn_output", L.wo.rows, L.wo.cols},
          {"ffn_gate", L.ffn_gate.rows, L.ffn_gate.cols}, {"ffn_up", L.ffn_up.rows, L.ffn_up.cols},
          {"ffn_down", L.ffn_down.rows, L.ffn_down.cols}};
}

nlohmann::ordered_json provenance_json(const QuantizeResult& q, const ExportInfo& info) {
  const QuantizeOptions& o = info.options;
  nlohmann::ordered_json p;
  p["tool"] = "quantlab";
  p["tool_version"] = QUANTLAB_VERSION;
  p["source"] = {{"path", fs::path(info.source_path).filename().string()}, {"sha256", info.source_sha256}};
  p["method"] = method_name(o.method);
  nlohmann::ordered_json params;
  if (method_is_int_grid(o.method)) {
    params["bits"] = o.grid.bits;
    params["group_size"] = o.grid.group_size;
    params["sym"] = o.grid.symmetric;
    params["grid_rule"] = o.method == Method::Awq ? "awq-min-max" : "autogptq-min-max";
  }
  if (o.method == Method::Gptq)
    params.update({{"damp_percent", o.gptq.damp_percent}, {"block_size", o.gptq.block_size},
                   {"act_order", o.gptq.act_order}, {"static_groups", o.gptq.static_groups}, {"true_sequential", true}});
  if (o.method == Method::Awq)
    params.update({{"n_grid", o.awq.n_grid}, {"duo_scaling", o.awq.duo_scaling},
                   {"clip_grid", o.awq.clip_grid}, {"max_shrink", o.awq.max_shrink},
                   {"loss", "mean squared output error over every calibration token (second moments)"}});
  if (o.method == Method::Nf4 || o.method == Method::Fp4)
    params.update({{"block_size", o.bnb4.block_size}, {"double_quant", o.bnb4.double_quant}});
  p["parameters"] = params;
  if (method_needs_calibration(o.method)) {
    p["calibration"] = info.calibration.to_json();
    p["calibration"]["tokens"] = q.calibration_tokens;
  }
  p["layer_sequential"] = true;
  return p;
}

// The source's tokenizer beside the weights, so the folder loads on its own: a Hugging Face
// folder's tokenizer files are copied as they are; a GGUF's vocabulary is written as tokenizer.json
// + tokenizer_config.json (byte-level BPE vocabularies; see text/hf_tokenizer_writer.hpp). Returns
// what was done, recorded in config.json; a source without a writable tokenizer gets none.
std::string export_tokenizer(const std::string& source, int64_t n_ctx, const fs::path& dir) {
  std::error_code ec;
  if (fs::is_directory(source, ec)) {
    std::string copied;
    for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
                             "generation_config.json", "chat_template.jinja"}) {
      const fs::path from = fs::path(source) / name;
      if (!fs::exists(from)) continue;
      fs::copy_file(from, dir / name, fs::copy_options::overwrite_existing, ec);
      if (ec) throw Error(from.string(), "", "cannot copy into the export: " + ec.message());
      copied += (copied.empty() ? "" : ", ") + std::string(name);
    }
    return copied.empty() ? "none (the source folder has no tokenizer files)" : "copied: " + copied;
  }
  if (source.size() < 5 || source.compare(source.size() - 5, 5, ".gguf") != 0) return "none (not a GGUF or HF source)";
  const GgufFile f(source);
  if (!f.find("tokenizer.ggml.tokens")) return "none (the GGUF has no vocabulary)";
  const Vocab v = vocab_from_gguf(f);
  if (v.algorithm != TokenizerAlgorithm::ByteLevelBpe)
    return std::string("none (") + tokenizer_algorithm_name(v.algorithm) + " vocabulary: writing it as tokenizer.json is not supported)";
  write_hf_tokenizer_files(v, n_ctx, dir.string());
  return "written from the GGUF vocabulary: tokenizer.json, tokenizer_config.json";
}

// quantization_config of a compressed-tensors checkpoint as llm-compressor saves one (ModelCompressor.
// update_config: the QuantizationConfig's fields, sorted keys, unset arguments left out): one scheme
// of weight-only int quantization over every Linear but lm_head. kCompressedTensorsVersion is the
// release whose writer this follows field for field and whose reader loads the folders in
// tools/make-consumer-fixtures.py.
constexpr const char* kCompressedTensorsVersion = "0.20.1";
nlohmann::ordered_json compressed_tensors_config(const QuantizeOptions& o) {
  const bool per_channel = o.grid.group_size <= 0;
  nlohmann::ordered_json weights;
  if (o.method == Method::Gptq && o.gptq.act_order) weights["actorder"] = "weight";  // static groups (check_exportable)
  weights["dynamic"] = false;
  if (!per_channel) weights["group_size"] = o.grid.group_size;
  weights["num_bits"] = o.grid.bits;
  weights["strategy"] = per_channel ? "channel" : "group";
  weights["symmetric"] = o.grid.symmetric;
  weights["type"] = "int";
  nlohmann::ordered_json scheme = {{"format", "pack-quantized"},
                                   {"input_activations", nullptr},
                                   {"output_activations", nullptr},
                                   {"targets", {"Linear"}},
                                   {"weights", weights}};
  return {{"config_groups", {{"group_0", scheme}}},
          {"format", "pack-quantized"},
          {"global_compression_ratio", nullptr},
          {"ignore", {"lm_head"}},
          {"kv_cache_scheme", nullptr},
          {"moe_sparsity_config", nullptr},
          {"quant_method", "compressed-tensors"},
          {"quantization_status", "compressed"},
          {"sparsity_config", nlohmann::ordered_json::object()},
          {"transform_config", nlohmann::ordered_json::object()},
          {"version", kCompressedTensorsVersion}};
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.flush();
  if (!out) throw Error(path.string(), "", "cannot write");
}

}  // namespace

HfExportFormat parse_export_format(const std::string& name) {
  if (name == "native") return HfExportFormat::Native;
  if (name == "compressed-tensors") return HfExportFormat::CompressedTensors;
  throw Error("--export-format", name, "expected native or compressed-tensors");
}

const char* export_format_name(HfExportFormat f) { return f == HfExportFormat::Native ? "native" : "compressed-tensors"; }

std::vector<int64_t> exportable_group_sizes(const ModelConfig& c) {
  const int64_t widths = std::gcd(std::gcd(c.n_embd, c.n_head * c.head_dim), c.n_ff);
  std::vector<int64_t> sizes;
  for (int64_t g = int64_t(1) << 20; g >= 32; g /= 2)
    if (widths % g == 0) sizes.push_back(g);
  return sizes;
}

int64_t auto_group_size(const ModelConfig& c, int64_t preferred) {
  for (int64_t g : exportable_group_sizes(c))
    if (g <= preferred) return g;
  return 0;
}

void check_exportable(const ModelConfig& c, const ExportInfo& info) {
  const QuantizeOptions& o = info.options;
  if (info.format == HfExportFormat::CompressedTensors) {
    if (!method_is_int_grid(o.method))
      throw Error("--export-format", "compressed-tensors", std::string("takes the integer grids of rtn, gptq and awq, not ") + method_name(o.method));
    if (o.grid.bits != 4 && o.grid.bits != 8)
      throw Error("--export-format", "compressed-tensors", "pack-quantized exports take --bits 4 or 8, not " + std::to_string(o.grid.bits));
    if (stores_g_idx(o))
      throw Error("--export-format", "compressed-tensors",
                  "act-order groups out of column order (actorder \"group\") were removed in compressed-tensors 0.20, "
                  "whose readers refuse them: add --static-groups (actorder \"weight\") or keep the native GPTQ layout");
  }
  if (!method_is_int_grid(o.method)) return;
  const struct {
    const char* module;
    int64_t in, out;
  } linears[] = {{"self_attn.q_proj", c.n_embd, c.n_head * c.head_dim},
                 {"self_attn.k_proj", c.n_embd, c.n_head_kv * c.head_dim},
                 {"self_attn.v_proj", c.n_embd, c.n_head_kv * c.head_dim},
                 {"self_attn.o_proj", c.n_head * c.head_dim, c.n_embd},
                 {"mlp.gate_proj", c.n_embd, c.n_ff},
                 {"mlp.up_proj", c.n_embd, c.n_ff},
                 {"mlp.down_proj", c.n_ff, c.n_embd}};
  // The native GPTQ/AWQ layouts pack codes and zeros 32 / bits to an int32 along both dimensions
  // (GPTQ's qweight along the inputs, qzeros along the outputs): refused before any layer is
  // quantized or written. compressed-tensors packs along the inputs only.
  const int64_t per_word = 32 / o.grid.bits;
  for (const auto& l : linears)
    if (info.format != HfExportFormat::CompressedTensors && (l.in % per_word != 0 || l.out % per_word != 0))
      throw Error("--bits", std::string("model.layers.0.") + l.module,
                  "[" + std::to_string(l.out) + ", " + std::to_string(l.in) + "] weight: the GPTQ/AWQ layouts pack " +
                      std::to_string(per_word) + " " + std::to_string(o.grid.bits) +
                      "-bit values to an int32 along both dimensions, and its " +
                      (l.out % per_word != 0 ? std::to_string(l.out) + " outputs" : std::to_string(l.in) + " inputs") +
                      " are not a multiple of " + std::to_string(per_word));
  if (o.grid.group_size <= 0) return;
  const int64_t g = o.grid.group_size;
  for (const auto& l : linears) {
    if (l.in % g == 0) continue;
    std::string sizes;
    for (int64_t s : exportable_group_sizes(c)) sizes += std::to_string(s) + ", ";
    sizes = sizes.empty() ? "none from 32 up; use 0 " : "group sizes that work for every linear of this model: " + sizes + "or 0 ";
    const char* loaders = info.format == HfExportFormat::CompressedTensors ? "compressed-tensors and vLLM size"
                          : o.method == Method::Awq                       ? "AutoAWQ's WQLinear_GEMM and vLLM size"
                                                                          : "GPTQModel/AutoGPTQ and vLLM size";
    throw Error("--group-size", std::string("model.layers.0.") + l.module,
                std::to_string(g) + " does not divide its " + std::to_string(l.in) + " inputs: " + loaders +
                    " scales and zeros as in_features // group_size groups, so they could not load the folder; " + sizes +
                    "(per channel, -1 in config.json); --group-size auto picks " +
                    std::to_string(auto_group_size(c, g)));
  }
}

nlohmann::ordered_json export_config(const QuantizeResult& q, const ExportInfo& info) {
  const ModelConfig& c = q.model.config;
  if (!c.rope_freq_factors.empty() || c.rope_freq_scale != 1.0f)
    throw Error(info.source_path, "rope scaling", "models with rotary scaling are not exported yet");
  if (c.arch == "gemma3") throw Error(info.source_path, "arch", "Gemma 3 is not exported yet");
  if (c.qk_norm) throw Error(info.source_path, "arch", "Qwen3 (Q/K norms) is not exported yet");
  if (c.n_rot != c.head_dim) throw Error(info.source_path, "n_rot", "partial rotary dimensions are not exported");
  const bool qwen2 = c.arch == "qwen2";
  nlohmann::ordered_json j;
  j["architectures"] = {qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM"};
  j["model_type"] = qwen2 ? "qwen2" : "llama";
  j["hidden_size"] = c.n_embd;
  j["intermediate_size"] = c.n_ff;
  j["num_hidden_layers"] = c.n_layer;
  j["num_attention_heads"] = c.n_head;
  j["num_key_value_heads"] = c.n_head_kv;
  j["head_dim"] = c.head_dim;
  j["hidden_act"] = "silu";
  j["rms_norm_eps"] = double(c.rms_eps);
  j["rope_theta"] = double(c.rope_freq_base);
  j["max_position_embeddings"] = c.n_ctx_train;
  j["vocab_size"] = c.n_vocab;
  j["tie_word_embeddings"] = c.tied_embeddings;
  if (!qwen2) j["attention_bias"] = c.qkv_bias;
  if (c.bos_id >= 0) j["bos_token_id"] = c.bos_id;
  if (c.eos_id >= 0) j["eos_token_id"] = c.eos_id;
  j["torch_dtype"] = "float32";
  const QuantizeOptions& o = info.options;
  check_exportable(c, info);
  nlohmann::ordered_json qc;
  if (info.format == HfExportFormat::CompressedTensors) {
    qc = compressed_tensors_config(o);
  } else if (o.method == Method::Awq) {
    qc = {{"quant_method", "awq"}, {"bits", o.grid.bits}, {"group_size", o.grid.group_size <= 0 ? -1 : o.grid.group_size},
          {"zero_point", true}, {"version", "gemm"}};
  } else if (method_is_int_grid(o.method)) {
    qc = {{"quant_method", "gptq"}, {"checkpoint_format", "gptq"}, {"bits", o.grid.bits},
          {"group_size", o.grid.group_size <= 0 ? -1 : o.grid.group_size}, {"sym", o.grid.symmetric},
          {"desc_act", o.method == Method::Gptq && o.gptq.act_order},
          {"static_groups", o.method == Method::Gptq && o.gptq.static_groups}, {"damp_percent", o.gptq.damp_percent},
          {"true_sequential", true}};
  } else if (o.method == Method::Int8) {
    qc = bnb::quantization_config_int8();
  } else {
    bnb::Spec4bit spec = o.bnb4;
    spec.type = o.method == Method::Nf4 ? bnb::QuantType::NF4 : bnb::QuantType::FP4;
    qc = bnb::quantization_config_4bit(spec, "float32");
  }
  qc["quantlab"] = provenance_json(q, info);
  j["quantization_config"] = qc;
  // What the loader needs beyond transformers' fields.
  j["quantlab_model"] = {{"add_bos", c.add_bos}, {"rope_interleaved_in_source", interleaved_rope(c)},
                         {"source_arch", c.arch}};
  return j;
}

bool HfExportWriter::streamable(const QuantizeOptions& o) {
  // bitsandbytes' double quantization records a value (nested_offset) in a tensor's JSON state,
  // so that tensor's size is not known before the weights are quantized.
  return !((o.method == Method::Nf4 || o.method == Method::Fp4) && o.bnb4.double_quant);
}

HfExportWriter::HfExportWriter(const Model& source, const ExportInfo& info, const std::string& dir)
    : source_(source), info_(info), dest_(dir), tmp_(dir + ".partial") {
  const ModelConfig& c = source.config;
  if (!streamable(info.options))
    throw Error(dir, "--double-quant", "this export's layout depends on the weights: quantize in memory first");
  {
    QuantizeResult probe;  // only the configuration and the options are read
    probe.model.config = c;
    export_config(probe, info);  // refuses what cannot be exported before anything is quantized
  }
  SafetensorsWriter layout;
  layout.set_metadata("format", "pt");
  layout.declare_tensor("model.embed_tokens.weight", "F32", {c.n_vocab, c.n_embd}, size_t(c.n_vocab * c.n_embd) * 4);
  layout.declare_tensor("model.norm.weight", "F32", {c.n_embd}, size_t(c.n_embd) * 4);
  if (!c.tied_embeddings) layout.declare_tensor("lm_head.weight", "F32", {c.n_vocab, c.n_embd}, size_t(c.n_vocab * c.n_embd) * 4);
  for (int64_t l = 0; l < c.n_layer; ++l)
    for (const OutTensor& t : layer_tensors(l, source.layers[size_t(l)], c)) layout.declare_tensor(t.name, t.dtype, t.shape, t.bytes.size());
  std::map<std::pair<int64_t, int64_t>, std::vector<OutTensor>> by_shape;  // suffix names, no bytes
  for (int64_t l = 0; l < c.n_layer; ++l)
    for (const LinearShape& ls : linear_shapes(source.layers[size_t(l)])) {
      const std::string name = "blk." + std::to_string(l) + "." + ls.role + ".weight";
      auto& planned = by_shape[{ls.rows, ls.cols}];
      if (planned.empty()) {
        const QuantizedTensor t = placeholder("blk.0.attn_output.weight", ls.rows, ls.cols, info.options);
        const std::string prefix = hf_linear(t.name) + ".";
        for (OutTensor& o : linear_tensors(t, info, c)) {
          o.name = o.name.substr(prefix.size());
          planned.push_back(std::move(o));
        }
      }
      const std::string prefix = hf_linear(name) + ".";
      for (const OutTensor& o : planned) layout.declare_tensor(prefix + o.name, o.dtype, o.shape, o.bytes.size());
    }
  std::error_code ec;
  fs::remove_all(tmp_, ec);
  fs::create_directories(tmp_);
  try {
    stream_ = std::make_unique<SafetensorsStream>(layout, (tmp_ / "model.safetensors").string());
    write_matrix("model.embed_tokens.weight", source.token_embd);
    stream_->write("model.norm.weight", source.output_norm.data(), source.output_norm.size() * 4);
    if (!c.tied_embeddings) write_matrix("lm_head.weight", source.output);
  } catch (...) {
    stream_.reset();
    fs::remove_all(tmp_, ec);
    throw;
  }
}

HfExportWriter::~HfExportWriter() {
  if (finished_) return;
  stream_.reset();  // removes its temporary file
  std::error_code ec;
  fs::remove_all(tmp_, ec);
}

void HfExportWriter::write_matrix(const std::string& name, const WeightMatrix& m) {
  // A few MiB of rows at a time, their source pages released once copied: exporting a large
  // embedding does not make it resident.
  const int64_t chunk = std::max<int64_t>(1, (int64_t(4) << 20) / std::max<int64_t>(1, m.cols * 4));
  std::vector<float> rows;
  for (int64_t r0 = 0; r0 < m.rows; r0 += chunk) {
    const int64_t n = std::min(chunk, m.rows - r0);
    rows.resize(size_t(n * m.cols));
    for (int64_t r = 0; r < n; ++r) row_to_f32(m.format, m.row(r0 + r), rows.data() + r * m.cols, m.cols);
    stream_->write(name, rows.data(), rows.size() * 4);
    release_mapped_pages(m.row(r0), size_t(n) * m.row_stride);
  }
}

void HfExportWriter::write_layer(int layer, const LayerWeights& weights, const std::vector<QuantizedTensor>& tensors) {
  const ModelConfig& c = source_.config;
  for (const OutTensor& t : layer_tensors(layer, weights, c)) stream_->write(t.name, t.bytes.data(), t.bytes.size());
  for (const QuantizedTensor& q : tensors)
    for (const OutTensor& t : linear_tensors(q, info_, c)) stream_->write(t.name, t.bytes.data(), t.bytes.size());
}

void HfExportWriter::layer_done(int layer, const LayerWeights& weights, std::vector<QuantizedTensor>& tensors) {
  write_layer(layer, weights, tensors);
}

void HfExportWriter::finish(const QuantizeResult& q) {
  nlohmann::ordered_json config = export_config(q, info_);
  std::error_code ec;
  try {
    stream_->commit();
    config["quantization_config"]["quantlab"]["tokenizer"] =
        export_tokenizer(info_.source_path, source_.config.n_ctx_train, tmp_);
    write_text(tmp_ / "config.json", config.dump(2) + "\n");
  } catch (...) {
    stream_.reset();
    fs::remove_all(tmp_, ec);
    throw;
  }
  finished_ = true;
  fs::remove_all(dest_, ec);
  fs::rename(tmp_, dest_, ec);
  if (ec) throw Error(dest_.string(), "", "cannot move the export into place: " + ec.message());
}

void export_quantized(const QuantizeResult& q, const ExportInfo& info, const std::string& dir) {
  if (!q.complete) throw Error(dir, "model", "the quantized model was streamed (keep_model off), not kept in memory");
  // The same writer as the streamed export, fed from memory: the same bytes.
  HfExportWriter w(q.model, info, dir);
  size_t i = 0;
  for (int64_t l = 0; l < q.model.config.n_layer; ++l) {
    const std::string prefix = "blk." + std::to_string(l) + ".";
    std::vector<QuantizedTensor> layer;
    for (; i < q.tensors.size() && q.tensors[i].name.rfind(prefix, 0) == 0; ++i) layer.push_back(q.tensors[i]);
    w.write_layer(int(l), q.model.layers[size_t(l)], layer);
  }
  w.finish(q);
}

Model load_quantized_export(const std::string& dir) { return load_hf_model(dir); }

}  // namespace quantlab::pipeline
