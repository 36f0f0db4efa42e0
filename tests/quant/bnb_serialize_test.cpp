// bitsandbytes checkpoints in transformers' layout: quantlab's exported tensors against the state
// dicts real bitsandbytes / transformers wrote (tools/make-bnb-fixtures.py).
#include "bnb_fixture_support.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/half.hpp"
#include "quantlab/quant/bnb_serialize.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace quantlab;
using namespace quantlab::bnb;
using quantlab::test::bnb_fixture_dir;

namespace {

const test::SafetensorsFile& fixtures() {
  static const auto f = test::read_safetensors(bnb_fixture_dir() / "fixtures.safetensors");
  return f;
}
const nlohmann::json& meta() {
  static const auto m = test::read_json(bnb_fixture_dir() / "meta.json");
  return m;
}

// Every exported tensor equals the reference file's tensor of the same name, and nothing the
// reference holds for the weight is missing.
void expect_same_tensors(const std::vector<NamedTensor>& ours, const test::SafetensorsFile& ref,
                         const std::string& ref_prefix, const std::string& our_prefix) {
  size_t ref_weight_tensors = 0;
  for (const auto& [name, t] : ref.tensors)
    if (name.rfind(ref_prefix + "weight", 0) == 0) ++ref_weight_tensors;
  EXPECT_EQ(ours.size(), ref_weight_tensors);
  for (const auto& t : ours) {
    SCOPED_TRACE(t.name);
    const std::string ref_name = ref_prefix + t.name.substr(our_prefix.size());
    ASSERT_TRUE(ref.has(ref_name)) << "reference has no " << ref_name;
    const auto& r = ref.at(ref_name);
    EXPECT_EQ(t.dtype, r.dtype);
    EXPECT_EQ(t.shape, r.shape);
    EXPECT_EQ(t.bytes, r.bytes);
    if (t.bytes != r.bytes && t.dtype == "U8" && t.name.find("quant_state") != std::string::npos)
      ADD_FAILURE() << std::string(t.bytes.begin(), t.bytes.end()) << "\nvs\n" << std::string(r.bytes.begin(), r.bytes.end());
  }
}

}  // namespace

TEST(BnbSerialize, PythonFloatRepr) {
  EXPECT_EQ(python_float_repr(0.053347110748291016), "0.053347110748291016");
  EXPECT_EQ(python_float_repr(2047.3072509765625), "2047.3072509765625");
  EXPECT_EQ(python_float_repr(1.0), "1.0");
  EXPECT_EQ(python_float_repr(100.0), "100.0");
  EXPECT_EQ(python_float_repr(1e16), "1e+16");
  EXPECT_EQ(python_float_repr(1.5e16), "1.5e+16");
  EXPECT_EQ(python_float_repr(1234567890123456.0), "1234567890123456.0");
  EXPECT_EQ(python_float_repr(0.0001), "0.0001");
  EXPECT_EQ(python_float_repr(0.00001), "1e-05");
  EXPECT_EQ(python_float_repr(-2.5e-7), "-2.5e-07");
  EXPECT_EQ(python_float_repr(double(0.1f)), "0.10000000149011612");
  EXPECT_EQ(python_float_repr(0.0), "0.0");
}

TEST(BnbSerialize, Linear4bitStateDictsAreReproduced) {
  // bnb.nn.Linear4bit(128, 16) of the f16 weight, moved to CUDA and saved with state_dict().
  const auto w = fixtures().floats("in8.weight");
  struct Variant {
    const char* file;
    Spec4bit spec;
  };
  for (const Variant& v : {Variant{"linear4bit_nf4_dq_state.safetensors", {QuantType::NF4, 64, true}},
                           Variant{"linear4bit_fp4_plain_state.safetensors", {QuantType::FP4, 64, false}}}) {
    SCOPED_TRACE(v.file);
    const auto ref = test::read_safetensors(bnb_fixture_dir() / v.file);
    const Quantized4bit q = quantize_4bit(w.data(), {16, 128}, v.spec, SourceDtype::F16);
    expect_same_tensors(export_4bit("", q), ref, "", "");
    // And back: the file as bitsandbytes wrote it reads into the same quantized weight.
    const Quantized4bit back = import_4bit("", ref.lookup(), v.file);
    EXPECT_EQ(back.packed, q.packed);
    EXPECT_EQ(back.shape, q.shape);
    EXPECT_EQ(back.dtype, SourceDtype::F16);
    EXPECT_EQ(dequantize_4bit(back), dequantize_4bit(q));
  }
}

TEST(BnbSerialize, ImportedLayerComputesWhatLinear4bitComputed) {
  // Linear4bit's forward (f16 compute) on the fixture activations, against quantlab's dequantized
  // weight read from the same state dict: agreement to f16 rounding.
  const auto x = fixtures().floats("in8.x");
  for (const char* type : {"nf4", "fp4"}) {
    SCOPED_TRACE(type);
    const std::string file = std::string("linear4bit_") + type + (type[0] == 'n' ? "_dq" : "_plain") + "_state.safetensors";
    const auto sd = test::read_safetensors(bnb_fixture_dir() / file);
    const auto w = dequantize_4bit(import_4bit("", sd.lookup(), file));
    const auto bias = sd.floats("bias");
    const auto y = fixtures().floats(std::string("l4.") + type + ".y");
    for (int t = 0; t < 6; ++t)
      for (int o = 0; o < 16; ++o) {
        double acc = bias[size_t(o)];
        double mag = std::fabs(acc);
        for (int c = 0; c < 128; ++c) {
          const double p = double(fp16_to_f32(f32_to_fp16(x[size_t(t * 128 + c)]))) * w[size_t(o * 128 + c)];
          acc += p;
          mag += std::fabs(p);
        }
        const float ref = y[size_t(t * 16 + o)];
        if (!std::isfinite(ref)) continue;  // row 7 (65504) overflows f16 in bitsandbytes
        EXPECT_NEAR(acc, ref, 2e-3 * std::max(1.0, mag)) << t << "," << o;
      }
  }
}

TEST(BnbSerialize, TransformersSavedNf4LayerIsReproduced) {
  // model.layers.0.mlp.down_proj of a tiny Llama saved by transformers 5.17 (load_in_4bit, nf4,
  // double quant, compute f16), from its original f16 weight.
  const auto& fx = fixtures();
  const auto w = fx.floats("hf.down_proj.f16");
  const Quantized4bit q = quantize_4bit(w.data(), {64, 128}, {QuantType::NF4, 64, true}, SourceDtype::F16);
  expect_same_tensors(export_4bit("P.", q), fx, "hf.nf4dq.", "P.");
  const auto& info = meta().at("hf").at("nf4dq");
  EXPECT_EQ(quant_state_json(q), info.at("down_proj_quant_state_json").get<std::string>());
  // Every quantized linear of that checkpoint has exactly the tensor names export_4bit writes.
  const auto& keys = info.at("keys");
  for (const char* layer : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                            "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}) {
    const std::string prefix = std::string("model.layers.0.") + layer + ".";
    for (const auto& t : export_4bit(prefix, q)) EXPECT_TRUE(keys.contains(t.name)) << t.name;
  }
  EXPECT_FALSE(keys.contains("lm_head.weight.absmax")) << "transformers keeps lm_head unquantized";
}

TEST(BnbSerialize, QuantizationConfigMatchesTransformers) {
  const auto nf4 = test::read_json(bnb_fixture_dir() / "tiny_nf4dq_config.json").at("quantization_config");
  EXPECT_EQ(quantization_config_4bit({QuantType::NF4, 64, true}, "float16"), nf4);
  const auto int8 = test::read_json(bnb_fixture_dir() / "tiny_int8_config.json").at("quantization_config");
  EXPECT_EQ(quantization_config_int8(), int8);
}

TEST(BnbSerialize, ImportRejectsBrokenState) {
  const auto w = fixtures().floats("in8.weight");
  const auto q = quantize_4bit(w.data(), {16, 128}, {QuantType::NF4, 64, true}, SourceDtype::F16);
  auto tensors = export_4bit("m.", q);
  auto find = [&](const std::string& suffix) -> NamedTensor& {
    for (auto& t : tensors)
      if (t.name == "m.weight" + suffix) return t;
    throw std::runtime_error("no " + suffix);
  };
  auto lookup = [&](const std::string& n) -> const NamedTensor* {
    for (const auto& t : tensors)
      if (t.name == n) return &t;
    return nullptr;
  };
  EXPECT_NO_THROW(import_4bit("m.", lookup, "f"));
  auto expect_error = [&](const std::string& field_part) {
    try {
      import_4bit("m.", lookup, "model.safetensors");
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.source(), "model.safetensors");
      EXPECT_NE(e.field().find(field_part), std::string::npos) << e.what();
    }
  };
  {
    auto saved = find(".absmax");
    find(".absmax").bytes.pop_back();
    expect_error("weight.absmax");
    find(".absmax") = saved;
  }
  {
    auto& js = find(".quant_state.bitsandbytes__nf4").bytes;
    const auto saved = js;
    js.resize(10);
    expect_error("quant_state");
    js = saved;
  }
  {
    auto& packed = find("");
    packed.dtype = "I8";
    expect_error("m.weight");
    packed.dtype = "U8";
  }
  tensors.erase(std::remove_if(tensors.begin(), tensors.end(), [](const NamedTensor& t) { return t.name == "m.weight.nested_absmax"; }),
                tensors.end());
  expect_error("nested_absmax");
}

TEST(BnbSerialize, TransformersFileReadsBackToTheSameWeights) {
  // Reading transformers' tensors gives the dequantized weight quantlab computes from the f16 source.
  const auto& fx = fixtures();
  const auto w = fx.floats("hf.down_proj.f16");
  const Quantized4bit ours = quantize_4bit(w.data(), {64, 128}, {QuantType::NF4, 64, true}, SourceDtype::F16);
  const Quantized4bit theirs = import_4bit("hf.nf4dq.", fx.lookup(), "model.safetensors");
  EXPECT_EQ(theirs.shape, (std::vector<int64_t>{64, 128}));
  EXPECT_EQ(dequantize_4bit(theirs), dequantize_4bit(ours));
  const Int8Rows int8 = import_int8("hf.int8.", fx.lookup(), "model.safetensors");
  EXPECT_EQ(dequantize_int8_rows(int8), dequantize_int8_rows(quantize_int8_rows(w.data(), 64, 128)));
}

TEST(BnbSerialize, ExportImportRoundTripsEveryVariant) {
  const auto w = test::fixture_normals(99, 3 * 4096 + 64);
  for (QuantType t : {QuantType::NF4, QuantType::FP4})
    for (int64_t bs : {32, 64, 128, 256, 4096})
      for (bool dq : {false, true})
        for (SourceDtype d : {SourceDtype::F32, SourceDtype::F16, SourceDtype::BF16}) {
          SCOPED_TRACE(std::string(quant_type_name(t)) + " " + std::to_string(bs) + (dq ? " dq " : " ") +
                       std::string(dtype_name(d)));
          const auto q = quantize_4bit(w.data(), {int64_t(w.size())}, {t, bs, dq}, d);
          const auto tensors = export_4bit("x.", q);
          const TensorLookup lookup = [&](const std::string& n) -> const NamedTensor* {
            for (const auto& tt : tensors)
              if (tt.name == n) return &tt;
            return nullptr;
          };
          const auto back = import_4bit("x.", lookup, "mem");
          EXPECT_EQ(back.packed, q.packed);
          EXPECT_EQ(f32_bits(back.nested_offset), f32_bits(q.nested_offset));  // the JSON float round-trips
          EXPECT_EQ(dequantize_4bit(back), dequantize_4bit(q));
        }
}
