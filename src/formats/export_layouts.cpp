// Decoders of the Hugging Face quantized-linear layouts (include/quantlab/formats/export_layouts.hpp).
// The encoders are quantlab's quantizers and packers (quant/int_packing, quant/bnb_serialize); the
// tests hold every decoder to their in-memory dequantization, bit for bit.
#include "quantlab/formats/export_layouts.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/half.hpp"

#include <cmath>
#include <cstring>
#include <limits>

namespace quantlab {
namespace {

using Json = nlohmann::json;

std::string shape_text(const std::vector<int64_t>& s) {
  std::string t = "[";
  for (size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + "]";
}

// The tensor `name`, checked for one of `dtypes` and, where given, its shape.
StoredTensor require(const StoredTensorLookup& tensors, const std::string& file, const std::string& name,
                     std::initializer_list<std::string_view> dtypes, std::optional<std::vector<int64_t>> shape = {}) {
  const std::optional<StoredTensor> t = tensors(name);
  if (!t) throw Error(file, name, "tensor missing");
  bool dtype_ok = false;
  std::string wanted;
  for (std::string_view d : dtypes) {
    dtype_ok = dtype_ok || t->dtype == d;
    wanted += (wanted.empty() ? "" : " or ") + std::string(d);
  }
  if (!dtype_ok) throw Error(file, name, "dtype " + t->dtype + ", expected " + wanted);
  if (shape && t->shape != *shape) throw Error(file, name, "shape " + shape_text(t->shape) + ", expected " + shape_text(*shape));
  return *t;
}

int64_t count(const StoredTensor& t) {
  int64_t n = 1;
  for (int64_t d : t.shape) n *= d;
  return n;
}

uint32_t u32_at(const StoredTensor& t, int64_t i) {
  uint32_t v;
  std::memcpy(&v, t.data + size_t(i) * 4, 4);
  return v;
}
float f32_at(const StoredTensor& t, int64_t i) {
  float v;
  std::memcpy(&v, t.data + size_t(i) * 4, 4);
  return v;
}
// A scale stored as F32, F16 or BF16.
float scale_at(const StoredTensor& t, int64_t i) {
  if (t.dtype == "F32") return f32_at(t, i);
  uint16_t h;
  std::memcpy(&h, t.data + size_t(i) * 2, 2);
  return t.dtype == "F16" ? fp16_to_f32(h) : bf16_to_f32(h);
}

float flush_denormal(float x) { return std::fabs(x) < std::numeric_limits<float>::min() ? std::copysign(0.0f, x) : x; }

// quantlab's grid value: scale * (code - zero), in f32 (IntQuantizedMatrix::value).
inline float grid_value(uint32_t code, float scale, float zero) { return scale * (float(code) - zero); }

// Bit `k*bits` of a little-endian stream of 32-bit words (GPTQ packs values across word borders
// for 3 bits).
uint32_t stream_bits(const uint32_t* words, int64_t k, int bits) {
  const int64_t bit = k * bits, w = bit / 32, off = bit % 32;
  uint64_t v = words[w] >> off;
  if (off + bits > 32) v |= uint64_t(words[w + 1]) << (32 - off);
  return uint32_t(v) & ((1u << bits) - 1);
}

// A group index list (g_idx) checked against the group count.
std::vector<int32_t> group_index(const StoredTensorLookup& tensors, const std::string& file, const std::string& name,
                                 int64_t cols, int64_t n_groups) {
  const StoredTensor t = require(tensors, file, name, {"I32"}, std::vector<int64_t>{cols});
  std::vector<int32_t> g(static_cast<size_t>(cols));
  std::memcpy(g.data(), t.data, g.size() * 4);
  for (int64_t c = 0; c < cols; ++c)
    if (g[size_t(c)] < 0 || g[size_t(c)] >= n_groups)
      throw Error(file, name + "[" + std::to_string(c) + "]", "group " + std::to_string(g[size_t(c)]) + " outside 0.." +
                                                                   std::to_string(n_groups - 1));
  return g;
}

std::vector<int32_t> contiguous_groups(int64_t cols, int64_t group_size) {
  std::vector<int32_t> g(static_cast<size_t>(cols));
  for (int64_t c = 0; c < cols; ++c) g[size_t(c)] = int32_t(group_size > 0 ? c / group_size : 0);
  return g;
}

int64_t groups_of(int64_t cols, int64_t group_size) { return group_size > 0 ? (cols + group_size - 1) / group_size : 1; }

const Json* member(const Json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}
template <typename T>
T field(const Json& j, const char* key, const std::string& path, std::optional<T> fallback = std::nullopt) {
  const Json* v = member(j, key);
  if (!v) {
    if (fallback) return *fallback;
    throw Error(path, std::string("quantization_config.") + key, "missing");
  }
  try {
    return v->get<T>();
  } catch (const Json::exception&) {
    throw Error(path, std::string("quantization_config.") + key, "has the wrong type");
  }
}
std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
bool method_is(const Json& qc, std::string_view m) {
  const Json* v = member(qc, "quant_method");
  return v && v->is_string() && lower(v->get<std::string>()) == m;
}

int64_t checked_group_size(int64_t g, const std::string& path, const char* key) {
  if (g == -1 || g == 0) return 0;
  if (g < 0) throw Error(path, key, "group size " + std::to_string(g) + " (expected -1 or a positive number)");
  return g;
}

// --- gptq -------------------------------------------------------------------------------------

bool gptq_claims(const Json& qc) { return method_is(qc, "gptq"); }

ExportLayoutParams gptq_config(const Json& qc, const std::string& path) {
  const std::string format = lower(field<std::string>(qc, "checkpoint_format", path, std::string("gptq")));
  if (format != "gptq")
    throw Error(path, "quantization_config.checkpoint_format", "'" + format + "' is not read (gptq, the v1 format, is)");
  ExportLayoutParams p;
  p.bits = field<int>(qc, "bits", path);
  if (p.bits != 2 && p.bits != 3 && p.bits != 4 && p.bits != 8)
    throw Error(path, "quantization_config.bits", std::to_string(p.bits) + " (expected 2, 3, 4 or 8)");
  p.group_size = checked_group_size(field<int64_t>(qc, "group_size", path), path, "quantization_config.group_size");
  p.symmetric = field<bool>(qc, "sym", path, true);
  p.act_order_groups = true;  // g_idx is always stored and always decides
  return p;
}

std::vector<float> gptq_decode(const StoredTensorLookup& tensors, const std::string& file, const std::string& module,
                               int64_t rows, int64_t cols, const ExportLayoutParams& p) {
  const int bits = p.bits;
  if ((cols * bits) % 32 != 0 || (rows * bits) % 32 != 0)
    throw Error(file, module + ".qweight", "[" + std::to_string(rows) + ", " + std::to_string(cols) + "] cannot be packed at " +
                                               std::to_string(bits) + " bits");
  const int64_t wrows = cols * bits / 32, zcols = rows * bits / 32;
  const StoredTensor qw = require(tensors, file, module + ".qweight", {"I32"}, std::vector<int64_t>{wrows, rows});
  const StoredTensor sc = require(tensors, file, module + ".scales", {"F16", "F32", "BF16"});
  if (sc.shape.size() != 2 || sc.shape[1] != rows || sc.shape[0] < 1)
    throw Error(file, module + ".scales", "shape " + shape_text(sc.shape) + ", expected [groups, " + std::to_string(rows) + "]");
  const int64_t n_groups = sc.shape[0];
  const StoredTensor qz = require(tensors, file, module + ".qzeros", {"I32"}, std::vector<int64_t>{n_groups, zcols});
  const std::vector<int32_t> g = group_index(tensors, file, module + ".g_idx", cols, n_groups);
  std::vector<float> zero(size_t(n_groups * rows)), scale(size_t(n_groups * rows));
  std::vector<uint32_t> words(size_t(std::max(wrows, zcols)));
  for (int64_t gi = 0; gi < n_groups; ++gi) {
    for (int64_t w = 0; w < zcols; ++w) words[size_t(w)] = u32_at(qz, gi * zcols + w);
    for (int64_t o = 0; o < rows; ++o) {
      // v1 stores zero - 1; readers add the 1 back without wrapping (a zero of 0, stored as
      // 2^bits - 1, reads as 2^bits, as AutoGPTQ, GPTQModel and transformers read it).
      zero[size_t(gi * rows + o)] = float(stream_bits(words.data(), o, bits) + 1);
      scale[size_t(gi * rows + o)] = scale_at(sc, gi * rows + o);
    }
  }
  std::vector<float> out(size_t(rows * cols));
  for (int64_t o = 0; o < rows; ++o) {
    for (int64_t w = 0; w < wrows; ++w) words[size_t(w)] = u32_at(qw, w * rows + o);
    for (int64_t i = 0; i < cols; ++i) {
      const int64_t gi = g[size_t(i)];
      out[size_t(o * cols + i)] = grid_value(stream_bits(words.data(), i, bits), scale[size_t(gi * rows + o)], zero[size_t(gi * rows + o)]);
    }
  }
  return out;
}

// --- awq (GEMM) -------------------------------------------------------------------------------

constexpr int kAwqOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};

bool awq_claims(const Json& qc) { return method_is(qc, "awq"); }

ExportLayoutParams awq_config(const Json& qc, const std::string& path) {
  const std::string version = lower(field<std::string>(qc, "version", path, std::string("gemm")));
  if (version != "gemm") throw Error(path, "quantization_config.version", "'" + version + "' is not read (gemm is)");
  ExportLayoutParams p;
  p.bits = field<int>(qc, "bits", path, 4);
  if (p.bits != 4) throw Error(path, "quantization_config.bits", std::to_string(p.bits) + " (AWQ GEMM stores 4 bits)");
  p.group_size = checked_group_size(field<int64_t>(qc, "group_size", path), path, "quantization_config.group_size");
  if (!field<bool>(qc, "zero_point", path, true)) throw Error(path, "quantization_config.zero_point", "false is not read");
  return p;
}

std::vector<float> awq_decode(const StoredTensorLookup& tensors, const std::string& file, const std::string& module,
                              int64_t rows, int64_t cols, const ExportLayoutParams& p) {
  if (rows % 8 != 0) throw Error(file, module + ".qweight", "output dimension " + std::to_string(rows) + " is not a multiple of 8");
  const int64_t pc = rows / 8, n_groups = groups_of(cols, p.group_size);
  const StoredTensor qw = require(tensors, file, module + ".qweight", {"I32"}, std::vector<int64_t>{cols, pc});
  const StoredTensor qz = require(tensors, file, module + ".qzeros", {"I32"}, std::vector<int64_t>{n_groups, pc});
  const StoredTensor sc = require(tensors, file, module + ".scales", {"F16", "F32", "BF16"}, std::vector<int64_t>{n_groups, rows});
  std::vector<float> zero(size_t(n_groups * rows)), scale(size_t(n_groups * rows));
  for (int64_t gi = 0; gi < n_groups; ++gi)
    for (int64_t j = 0; j < pc; ++j) {
      const uint32_t word = u32_at(qz, gi * pc + j);
      for (int k = 0; k < 8; ++k) {
        const int64_t o = j * 8 + kAwqOrder[k];
        zero[size_t(gi * rows + o)] = float((word >> (4 * k)) & 15);
        scale[size_t(gi * rows + o)] = scale_at(sc, gi * rows + o);
      }
    }
  std::vector<float> out(size_t(rows * cols));
  for (int64_t i = 0; i < cols; ++i) {
    const int64_t gi = p.group_size > 0 ? i / p.group_size : 0;
    for (int64_t j = 0; j < pc; ++j) {
      const uint32_t word = u32_at(qw, i * pc + j);
      for (int k = 0; k < 8; ++k) {
        const int64_t o = j * 8 + kAwqOrder[k];
        out[size_t(o * cols + i)] = grid_value((word >> (4 * k)) & 15, scale[size_t(gi * rows + o)], zero[size_t(gi * rows + o)]);
      }
    }
  }
  return out;
}

// --- bitsandbytes -----------------------------------------------------------------------------

bool bnb4_claims(const Json& qc) {
  const Json* v = member(qc, "load_in_4bit");
  return method_is(qc, "bitsandbytes") && v && v->is_boolean() && v->get<bool>();
}
bool bnb8_claims(const Json& qc) {
  const Json* v = member(qc, "load_in_8bit");
  return method_is(qc, "bitsandbytes") && v && v->is_boolean() && v->get<bool>();
}
ExportLayoutParams no_params(const Json&, const std::string&) { return {}; }

// Rounds a dequantized value to the dtype bitsandbytes returns it in (the quant_state's "dtype").
float round_to(float x, const std::string& dtype) {
  if (dtype == "float16") return fp16_to_f32(f32_to_fp16(x));
  if (dtype == "bfloat16") return bf16_to_f32(f32_to_bf16(x));
  return x;
}

std::vector<float> bnb4_decode(const StoredTensorLookup& tensors, const std::string& file, const std::string& module,
                               int64_t rows, int64_t cols, const ExportLayoutParams&) {
  const std::string w = module + ".weight";
  std::optional<StoredTensor> state = tensors(w + ".quant_state.bitsandbytes__nf4");
  std::string state_name = w + ".quant_state.bitsandbytes__nf4";
  if (!state) state = tensors(state_name = w + ".quant_state.bitsandbytes__fp4");
  if (!state) throw Error(file, w + ".quant_state.bitsandbytes__nf4", "tensor missing (no bitsandbytes 4-bit state)");
  if (state->dtype != "U8") throw Error(file, state_name, "dtype " + state->dtype + ", expected U8");
  Json js;
  try {
    js = Json::parse(std::string(reinterpret_cast<const char*>(state->data), state->nbytes));
  } catch (const std::exception& e) {
    throw Error(file, state_name, std::string("quant_state is not valid JSON: ") + e.what());
  }
  int64_t block = 0, nested_block = 0;
  std::vector<int64_t> shape;
  std::string dtype;
  std::optional<float> nested_offset;
  try {
    block = js.at("blocksize").get<int64_t>();
    shape = js.at("shape").get<std::vector<int64_t>>();
    dtype = js.at("dtype").get<std::string>();
    if (js.contains("nested_offset")) {
      nested_offset = float(js.at("nested_offset").get<double>());
      nested_block = js.at("nested_blocksize").get<int64_t>();
      if (js.at("nested_dtype").get<std::string>() != "float32")
        throw Error(file, state_name + ": nested_dtype", "only float32 is read");
    }
  } catch (const Json::exception& e) {
    throw Error(file, state_name, std::string("quant_state: ") + e.what());
  }
  if (dtype != "float32" && dtype != "float16" && dtype != "bfloat16") throw Error(file, state_name + ": dtype", "'" + dtype + "'");
  if (block < 32 || block > 4096 || (block & (block - 1)) != 0) throw Error(file, state_name + ": blocksize", std::to_string(block));
  if (shape != std::vector<int64_t>{rows, cols})
    throw Error(file, state_name + ": shape", shape_text(shape) + ", expected " + shape_text({rows, cols}));
  const int64_t numel = rows * cols, blocks = (numel + block - 1) / block;
  const StoredTensor packed = require(tensors, file, w, {"U8"});
  if (count(packed) != (numel + 1) / 2) throw Error(file, w, "holds " + std::to_string(count(packed)) + " bytes, expected " + std::to_string((numel + 1) / 2));
  const StoredTensor map = require(tensors, file, w + ".quant_map", {"F32"}, std::vector<int64_t>{16});
  std::vector<float> absmax(static_cast<size_t>(blocks));
  if (nested_offset) {
    if (nested_block <= 0) throw Error(file, state_name + ": nested_blocksize", "must be positive");
    const StoredTensor codes = require(tensors, file, w + ".absmax", {"U8"}, std::vector<int64_t>{blocks});
    const int64_t nested_blocks = (blocks + nested_block - 1) / nested_block;
    const StoredTensor nested = require(tensors, file, w + ".nested_absmax", {"F32"}, std::vector<int64_t>{nested_blocks});
    const StoredTensor nested_map = require(tensors, file, w + ".nested_quant_map", {"F32"}, std::vector<int64_t>{256});
    // dequantize_blockwise of the absmax codes (one f32 product, flushed), plus the offset.
    for (int64_t b = 0; b < blocks; ++b)
      absmax[size_t(b)] = flush_denormal(f32_at(nested_map, codes.data[b]) * f32_at(nested, b / nested_block)) + *nested_offset;
  } else {
    const StoredTensor a = require(tensors, file, w + ".absmax", {"F32"}, std::vector<int64_t>{blocks});
    for (int64_t b = 0; b < blocks; ++b) absmax[size_t(b)] = f32_at(a, b);
  }
  std::vector<float> out(static_cast<size_t>(numel));
  float table[16];
  for (int64_t b = 0; b < blocks; ++b) {
    for (int c = 0; c < 16; ++c) table[c] = round_to(flush_denormal(f32_at(map, c) * absmax[size_t(b)]), dtype);
    const int64_t end = std::min(numel, (b + 1) * block);
    for (int64_t i = b * block; i < end; ++i) {
      const uint8_t byte = packed.data[i / 2];
      out[size_t(i)] = table[i % 2 == 0 ? byte >> 4 : byte & 15];
    }
  }
  return out;
}

std::vector<float> bnb8_decode(const StoredTensorLookup& tensors, const std::string& file, const std::string& module,
                               int64_t rows, int64_t cols, const ExportLayoutParams&) {
  const StoredTensor cb = require(tensors, file, module + ".weight", {"I8"}, std::vector<int64_t>{rows, cols});
  const StoredTensor scb = require(tensors, file, module + ".SCB", {"F32"}, std::vector<int64_t>{rows});
  const float inv127 = float(7.874015718698502e-3);  // int8_vectorwise_dequant's constant, as torch casts it
  std::vector<float> out(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    const float s = f32_at(scb, r);
    for (int64_t c = 0; c < cols; ++c)
      out[size_t(r * cols + c)] = (float(int8_t(cb.data[r * cols + c])) * s) * inv127;
  }
  return out;
}

// --- compressed-tensors pack-quantized --------------------------------------------------------

bool pack_quantized_claims(const Json& qc) {
  const Json* f = member(qc, "format");
  return method_is(qc, "compressed-tensors") && f && f->is_string() && f->get<std::string>() == "pack-quantized";
}

ExportLayoutParams pack_quantized_config(const Json& qc, const std::string& path) {
  const Json* groups = member(qc, "config_groups");
  if (!groups || !groups->is_object() || groups->size() != 1)
    throw Error(path, "quantization_config.config_groups", "expected one scheme (weight-only quantization of every Linear)");
  const Json& scheme = groups->begin().value();
  const std::string where = "quantization_config.config_groups." + groups->begin().key();
  if (member(scheme, "input_activations") || member(scheme, "output_activations"))
    throw Error(path, where + ".input_activations", "activation quantization is not read (weight-only is)");
  const Json* w = member(scheme, "weights");
  if (!w || !w->is_object()) throw Error(path, where + ".weights", "missing");
  auto get = [&](const char* key) -> const Json* { return member(*w, key); };
  const Json* type = get("type");
  if (!type || !type->is_string() || type->get<std::string>() != "int") throw Error(path, where + ".weights.type", "expected \"int\"");
  ExportLayoutParams p;
  const Json* bits = get("num_bits");
  if (!bits || !bits->is_number_integer()) throw Error(path, where + ".weights.num_bits", "missing");
  p.bits = bits->get<int>();
  if (p.bits != 2 && p.bits != 4 && p.bits != 8) throw Error(path, where + ".weights.num_bits", std::to_string(p.bits) + " (expected 2, 4 or 8)");
  const Json* strategy = get("strategy");
  const std::string s = strategy && strategy->is_string() ? strategy->get<std::string>() : "";
  if (s == "group") {
    const Json* g = get("group_size");
    if (!g || !g->is_number_integer() || g->get<int64_t>() <= 0) throw Error(path, where + ".weights.group_size", "expected a positive number");
    p.group_size = g->get<int64_t>();
  } else if (s == "channel") {
    p.group_size = 0;
  } else {
    throw Error(path, where + ".weights.strategy", "'" + s + "' is not read (group, channel)");
  }
  const Json* sym = get("symmetric");
  p.symmetric = !sym || !sym->is_boolean() || sym->get<bool>();
  const Json* dyn = get("dynamic");
  if (dyn && !(dyn->is_boolean() && !dyn->get<bool>())) throw Error(path, where + ".weights.dynamic", "dynamic weights are not read");
  const Json* order = get("actorder");
  p.act_order_groups = order && order->is_string() && (order->get<std::string>() == "group" || order->get<std::string>() == "dynamic");
  return p;
}

std::vector<float> pack_quantized_decode(const StoredTensorLookup& tensors, const std::string& file, const std::string& module,
                                         int64_t rows, int64_t cols, const ExportLayoutParams& p) {
  const int bits = p.bits, per_word = 32 / bits;
  const int64_t n_groups = groups_of(cols, p.group_size);
  const StoredTensor shape = require(tensors, file, module + ".weight_shape", {"I64", "I32"}, std::vector<int64_t>{2});
  auto dim = [&](int i) {
    if (shape.dtype == "I32") return int64_t(int32_t(u32_at(shape, i)));
    int64_t v;
    std::memcpy(&v, shape.data + i * 8, 8);
    return v;
  };
  if (dim(0) != rows || dim(1) != cols)
    throw Error(file, module + ".weight_shape", shape_text({dim(0), dim(1)}) + ", expected " + shape_text({rows, cols}));
  const StoredTensor packed = require(tensors, file, module + ".weight_packed", {"I32"},
                                      std::vector<int64_t>{rows, (cols + per_word - 1) / per_word});
  const StoredTensor sc = require(tensors, file, module + ".weight_scale", {"F32", "F16", "BF16"}, std::vector<int64_t>{rows, n_groups});
  const uint32_t mask = (1u << bits) - 1;
  const float mid = float(1 << (bits - 1));  // codes are stored as signed value + 2^(bits-1)
  std::vector<float> zero(size_t(rows * n_groups), mid);
  if (!p.symmetric) {
    const StoredTensor zp = require(tensors, file, module + ".weight_zero_point", {"I32"},
                                    std::vector<int64_t>{(rows + per_word - 1) / per_word, n_groups});
    for (int64_t o = 0; o < rows; ++o)
      for (int64_t gi = 0; gi < n_groups; ++gi)
        zero[size_t(o * n_groups + gi)] = float((u32_at(zp, (o / per_word) * n_groups + gi) >> (bits * (o % per_word))) & mask);
  }
  const std::vector<int32_t> g = p.act_order_groups ? group_index(tensors, file, module + ".weight_g_idx", cols, n_groups)
                                                    : contiguous_groups(cols, p.group_size);
  const int64_t words = (cols + per_word - 1) / per_word;
  std::vector<float> out(size_t(rows * cols));
  for (int64_t o = 0; o < rows; ++o)
    for (int64_t i = 0; i < cols; ++i) {
      const uint32_t code = (u32_at(packed, o * words + i / per_word) >> (bits * (i % per_word))) & mask;
      const int64_t k = o * n_groups + g[size_t(i)];
      out[size_t(o * cols + i)] = grid_value(code, scale_at(sc, k), zero[size_t(k)]);
    }
  return out;
}

const ExportLayoutTraits kGptq{"gptq", "gptq", gptq_claims, gptq_config, ".qweight", gptq_decode};
const ExportLayoutTraits kAwq{"awq", "awq", awq_claims, awq_config, ".qweight", awq_decode};
const ExportLayoutTraits kBnb4{"bitsandbytes-4bit", "bitsandbytes", bnb4_claims, no_params, ".weight.quant_map", bnb4_decode};
const ExportLayoutTraits kBnb8{"bitsandbytes-8bit", "bitsandbytes", bnb8_claims, no_params, ".SCB", bnb8_decode};
const ExportLayoutTraits kPackQuantized{"pack-quantized", "compressed-tensors", pack_quantized_claims, pack_quantized_config,
                                        ".weight_packed", pack_quantized_decode};

}  // namespace

const std::vector<const ExportLayoutTraits*>& all_export_layouts() {
  static const std::vector<const ExportLayoutTraits*> table = {&kGptq, &kAwq, &kBnb4, &kBnb8, &kPackQuantized};
  return table;
}

const ExportLayoutTraits& export_layout_for(const Json& qc, const std::string& config_path) {
  if (!qc.is_object()) throw Error(config_path, "quantization_config", "expected an object");
  for (const ExportLayoutTraits* l : all_export_layouts())
    if (l->claims(qc)) return *l;
  const Json* m = member(qc, "quant_method");
  std::string known;
  for (const ExportLayoutTraits* l : all_export_layouts()) known += (known.empty() ? "" : ", ") + std::string(l->name);
  throw Error(config_path, "quantization_config.quant_method",
              "'" + (m && m->is_string() ? m->get<std::string>() : std::string("?")) + "' in this form is not read (" + known + ")");
}

}  // namespace quantlab
