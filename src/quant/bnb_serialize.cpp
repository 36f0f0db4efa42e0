#include "quantlab/quant/bnb_serialize.hpp"

#include "quantlab/core/error.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cmath>
#include <cstring>

namespace quantlab::bnb {
namespace {

template <typename T>
NamedTensor make_tensor(std::string name, std::string dtype, std::vector<int64_t> shape, const T* data, size_t count) {
  NamedTensor t{std::move(name), std::move(dtype), std::move(shape), {}};
  t.bytes.resize(count * sizeof(T));
  if (count) std::memcpy(t.bytes.data(), data, t.bytes.size());
  return t;
}

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const NamedTensor& require(const TensorLookup& lookup, const std::string& name, const std::string& dtype,
                           const std::string& source) {
  const NamedTensor* t = lookup(name);
  if (!t) throw Error(source, name, "tensor missing");
  if (t->dtype != dtype) throw Error(source, name, "expected dtype " + dtype + ", found " + t->dtype);
  for (int64_t d : t->shape)
    if (d < 0) throw Error(source, name, "negative dimension");
  const size_t elem = dtype == "F32" ? 4 : dtype == "F16" || dtype == "BF16" ? 2 : 1;
  if (t->bytes.size() != size_t(numel(t->shape)) * elem)
    throw Error(source, name, "byte size " + std::to_string(t->bytes.size()) + " does not match its shape");
  return *t;
}

template <typename T>
std::vector<T> values_of(const NamedTensor& t) {
  std::vector<T> v(t.bytes.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), t.bytes.data(), t.bytes.size());
  return v;
}

void expect_count(const NamedTensor& t, int64_t n, const std::string& source) {
  if (numel(t.shape) != n)
    throw Error(source, t.name, "expected " + std::to_string(n) + " elements, found " + std::to_string(numel(t.shape)));
}

}  // namespace

std::string python_float_repr(double v) {
  if (std::isnan(v)) return "NaN";  // json.dumps spelling
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v == 0) return std::signbit(v) ? "-0.0" : "0.0";
  // Shortest round-trip digits and decimal exponent, from the scientific form "d.ddde+XX".
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exp10 = std::stoi(sci.substr(e + 1));
  std::string out;
  if (exp10 < -4 || exp10 >= 16) {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
    out += eb;
  } else if (exp10 < 0) {
    out = "0." + std::string(size_t(-exp10 - 1), '0') + digits;
  } else {
    const size_t int_digits = size_t(exp10) + 1;
    if (digits.size() <= int_digits) out = digits + std::string(int_digits - digits.size(), '0') + ".0";
    else out = digits.substr(0, int_digits) + "." + digits.substr(int_digits);
  }
  return sign + out;
}

std::string quant_state_json(const Quantized4bit& q) {
  // json.dumps with its default ", " and ": " separators, keys in QuantState.as_dict order.
  std::string s = "{\"quant_type\": \"" + std::string(quant_type_name(q.spec.type)) + "\", \"blocksize\": " +
                  std::to_string(q.spec.block_size) + ", \"dtype\": \"" + std::string(dtype_name(q.dtype)) +
                  "\", \"shape\": [";
  for (size_t i = 0; i < q.shape.size(); ++i) s += (i ? ", " : "") + std::to_string(q.shape[i]);
  s += "]";
  if (q.spec.double_quant)
    s += ", \"nested_blocksize\": " + std::to_string(q.nested.block_size) +
         ", \"nested_dtype\": \"float32\", \"nested_offset\": " + python_float_repr(double(q.nested_offset));
  return s + "}";
}

std::vector<NamedTensor> export_4bit(const std::string& prefix, const Quantized4bit& q) {
  const std::string w = prefix + "weight";
  std::vector<NamedTensor> out;
  out.push_back(make_tensor(w, "U8", {int64_t(q.packed.size()), 1}, q.packed.data(), q.packed.size()));
  const auto qmap = quant_map(q.spec.type);
  if (q.spec.double_quant) {
    out.push_back(make_tensor(w + ".absmax", "U8", {int64_t(q.nested.codes.size())}, q.nested.codes.data(), q.nested.codes.size()));
    out.push_back(make_tensor(w + ".quant_map", "F32", {16}, qmap.data(), qmap.size()));
    out.push_back(make_tensor(w + ".nested_absmax", "F32", {int64_t(q.nested.absmax.size())}, q.nested.absmax.data(),
                              q.nested.absmax.size()));
    const auto& dyn = dynamic_map_signed();
    out.push_back(make_tensor(w + ".nested_quant_map", "F32", {256}, dyn.data(), dyn.size()));
  } else {
    out.push_back(make_tensor(w + ".absmax", "F32", {int64_t(q.absmax.size())}, q.absmax.data(), q.absmax.size()));
    out.push_back(make_tensor(w + ".quant_map", "F32", {16}, qmap.data(), qmap.size()));
  }
  const std::string js = quant_state_json(q);
  out.push_back(make_tensor(w + ".quant_state.bitsandbytes__" + std::string(quant_type_name(q.spec.type)), "U8",
                            {int64_t(js.size())}, reinterpret_cast<const uint8_t*>(js.data()), js.size()));
  return out;
}

Quantized4bit import_4bit(const std::string& prefix, const TensorLookup& lookup, const std::string& source) {
  const std::string w = prefix + "weight";
  const NamedTensor* state = lookup(w + ".quant_state.bitsandbytes__nf4");
  if (!state) state = lookup(w + ".quant_state.bitsandbytes__fp4");
  if (!state) throw Error(source, w + ".quant_state.bitsandbytes__nf4", "tensor missing (no bitsandbytes 4-bit state)");
  if (state->dtype != "U8") throw Error(source, state->name, "expected dtype U8, found " + state->dtype);
  nlohmann::json js;
  try {
    js = nlohmann::json::parse(std::string(state->bytes.begin(), state->bytes.end()));
  } catch (const std::exception& e) {
    throw Error(source, state->name, std::string("quant_state is not valid JSON: ") + e.what());
  }
  Quantized4bit q;
  try {
    q.spec.type = parse_quant_type(js.at("quant_type").get<std::string>(), source);
    if (state->name.substr(state->name.size() - 3) != quant_type_name(q.spec.type))
      throw Error(source, state->name, "tensor name and quant_type disagree");
    q.spec.block_size = js.at("blocksize").get<int64_t>();
    q.dtype = parse_dtype(js.at("dtype").get<std::string>(), source);
    q.shape = js.at("shape").get<std::vector<int64_t>>();
    q.spec.double_quant = js.contains("nested_offset");
    if (q.spec.double_quant) {
      q.nested.block_size = js.at("nested_blocksize").get<int64_t>();
      if (js.at("nested_dtype").get<std::string>() != "float32")
        throw Error(source, state->name + ": nested_dtype", "only float32 is supported");
      q.nested_offset = float(js.at("nested_offset").get<double>());
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(source, state->name, std::string("quant_state: ") + e.what());
  }
  const int64_t bs = q.spec.block_size;
  if (bs < 32 || bs > 4096 || (bs & (bs - 1)) != 0) throw Error(source, state->name + ": blocksize", "invalid " + std::to_string(bs));
  if (q.shape.empty()) throw Error(source, state->name + ": shape", "empty");
  q.numel = 1;
  for (int64_t d : q.shape) {
    if (d <= 0 || q.numel > (int64_t(1) << 40) / d) throw Error(source, state->name + ": shape", "invalid dimension");
    q.numel *= d;
  }
  const NamedTensor& packed = require(lookup, w, "U8", source);
  expect_count(packed, (q.numel + 1) / 2, source);
  q.packed = values_of<uint8_t>(packed);
  const int64_t blocks = q.blocks();
  if (q.spec.double_quant) {
    if (q.nested.block_size <= 0) throw Error(source, state->name + ": nested_blocksize", "must be positive");
    const NamedTensor& codes = require(lookup, w + ".absmax", "U8", source);
    expect_count(codes, blocks, source);
    q.nested.codes = values_of<uint8_t>(codes);
    const NamedTensor& nested = require(lookup, w + ".nested_absmax", "F32", source);
    expect_count(nested, (blocks + q.nested.block_size - 1) / q.nested.block_size, source);
    q.nested.absmax = values_of<float>(nested);
    const NamedTensor& map = require(lookup, w + ".nested_quant_map", "F32", source);
    expect_count(map, 256, source);
    // Dequantization uses quantlab's own table; a file with another map is not one quantlab can read.
    const auto stored = values_of<float>(map);
    if (std::memcmp(stored.data(), dynamic_map_signed().data(), 256 * sizeof(float)) != 0)
      throw Error(source, map.name, "is not bitsandbytes' signed dynamic map");
  } else {
    const NamedTensor& absmax = require(lookup, w + ".absmax", "F32", source);
    expect_count(absmax, blocks, source);
    q.absmax = values_of<float>(absmax);
  }
  return q;
}

std::vector<NamedTensor> export_int8(const std::string& prefix, const Int8Rows& w) {
  std::vector<NamedTensor> out;
  out.push_back(make_tensor(prefix + "weight", "I8", {w.rows, w.cols}, w.codes.data(), w.codes.size()));
  out.push_back(make_tensor(prefix + "SCB", "F32", {w.rows}, w.absmax.data(), w.absmax.size()));
  const uint8_t row_format = 0;  // bitsandbytes' LINEAR_8BIT_WEIGHTS_FORMAT_MAPPING["row"]
  out.push_back(make_tensor(prefix + "weight_format", "U8", {}, &row_format, 1));
  return out;
}

Int8Rows import_int8(const std::string& prefix, const TensorLookup& lookup, const std::string& source) {
  const NamedTensor& cb = require(lookup, prefix + "weight", "I8", source);
  if (cb.shape.size() != 2) throw Error(source, cb.name, "expected a 2-D int8 weight");
  const NamedTensor& scb = require(lookup, prefix + "SCB", "F32", source);
  Int8Rows w;
  w.rows = cb.shape[0];
  w.cols = cb.shape[1];
  expect_count(scb, w.rows, source);
  if (const NamedTensor* fmt = lookup(prefix + "weight_format")) {
    if (fmt->bytes.size() != 1 || fmt->bytes[0] != 0)
      throw Error(source, fmt->name, "only the row-major int8 format (0) is supported");
  }
  w.codes = values_of<int8_t>(cb);
  w.absmax = values_of<float>(scb);
  return w;
}

nlohmann::json quantization_config_4bit(const Spec4bit& spec, const std::string& compute_dtype) {
  // BitsAndBytesConfig has no block size: a pre-quantized checkpoint carries it in each layer's
  // quant_state, which is what transformers reads when it loads one.
  (void)spec.block_size;
  return {{"_load_in_4bit", true},
          {"_load_in_8bit", false},
          {"bnb_4bit_compute_dtype", compute_dtype},
          {"bnb_4bit_quant_storage", "uint8"},
          {"bnb_4bit_quant_type", std::string(quant_type_name(spec.type))},
          {"bnb_4bit_use_double_quant", spec.double_quant},
          {"llm_int8_enable_fp32_cpu_offload", false},
          {"llm_int8_has_fp16_weight", false},
          {"llm_int8_skip_modules", nullptr},
          {"llm_int8_threshold", 6.0},
          {"load_in_4bit", true},
          {"load_in_8bit", false},
          {"quant_method", "bitsandbytes"}};
}

nlohmann::json quantization_config_int8(float threshold) {
  return {{"_load_in_4bit", false},
          {"_load_in_8bit", true},
          {"bnb_4bit_compute_dtype", "float32"},
          {"bnb_4bit_quant_storage", "uint8"},
          {"bnb_4bit_quant_type", "fp4"},
          {"bnb_4bit_use_double_quant", false},
          {"llm_int8_enable_fp32_cpu_offload", false},
          {"llm_int8_has_fp16_weight", false},
          {"llm_int8_skip_modules", nullptr},
          {"llm_int8_threshold", double(threshold)},
          {"load_in_4bit", false},
          {"load_in_8bit", true},
          {"quant_method", "bitsandbytes"}};
}

}  // namespace quantlab::bnb
