// Every Hugging Face folder quantlab writes is read back by load_model (the format registry's export
// layouts, through the model layer) to exactly the in-memory quantized model's logits: GPTQ (with
// and without act-order), AWQ, NF4/FP4 (with and without double quantization), LLM.int8 and
// compressed-tensors pack-quantized. The model is a small random llama GGUF (interleaved Q/K rows,
// so the rotary row permutation is exercised) whose widths (64, 128) take groups of 32.
// Group sizes no loader reads are refused before anything is quantized.
#include "quantlab/backend/thread_pool.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/formats/export_layouts.hpp"
#include "quantlab/io/gguf_writer.hpp"
#include "quantlab/io/json.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/model/session.hpp"
#include "quantlab/pipeline/export_hf.hpp"
#include "quantlab/pipeline/quantize_model.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

namespace quantlab::pipeline {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kEmbd = 64, kFf = 128, kHeads = 4, kLayers = 2, kVocab = 96;

// A random llama with llama.cpp's tensor names (F32), written once per test process.
std::string random_llama() {
  static const std::string path = [] {
    const fs::path p = test::temp_dir("export-reload") / "random-llama.gguf";
    std::mt19937 rng(11);
    std::normal_distribution<float> normal(0.0f, 0.08f);
    GgufWriter w;
    w.set("general.architecture", GgufValue::str("llama"));
    w.set("llama.context_length", GgufValue::u32(64));
    w.set("llama.embedding_length", GgufValue::u32(kEmbd));
    w.set("llama.feed_forward_length", GgufValue::u32(kFf));
    w.set("llama.attention.head_count", GgufValue::u32(kHeads));
    w.set("llama.attention.head_count_kv", GgufValue::u32(kHeads / 2));
    w.set("llama.block_count", GgufValue::u32(kLayers));
    w.set("llama.attention.layer_norm_rms_epsilon", GgufValue::f32(1e-5f));
    w.set("tokenizer.ggml.bos_token_id", GgufValue::u32(1));
    auto add = [&](const std::string& name, int64_t rows, int64_t cols, bool ones = false) {
      std::vector<float> v(size_t(rows * cols));
      for (float& x : v) x = ones ? 1.0f + normal(rng) : normal(rng);
      std::vector<uint8_t> b(v.size() * 4);
      std::memcpy(b.data(), v.data(), b.size());
      std::vector<int64_t> ne = rows == 1 ? std::vector<int64_t>{cols} : std::vector<int64_t>{cols, rows};
      w.add_tensor(name, ne, FormatId::F32, std::move(b));
    };
    add("token_embd.weight", kVocab, kEmbd);
    add("output_norm.weight", 1, kEmbd, true);
    add("output.weight", kVocab, kEmbd);
    const int64_t kv = kEmbd / 2;
    for (int64_t l = 0; l < kLayers; ++l) {
      const std::string b = "blk." + std::to_string(l) + ".";
      add(b + "attn_norm.weight", 1, kEmbd, true);
      add(b + "attn_q.weight", kEmbd, kEmbd);
      add(b + "attn_k.weight", kv, kEmbd);
      add(b + "attn_v.weight", kv, kEmbd);
      add(b + "attn_output.weight", kEmbd, kEmbd);
      add(b + "ffn_norm.weight", 1, kEmbd, true);
      add(b + "ffn_gate.weight", kFf, kEmbd);
      add(b + "ffn_up.weight", kFf, kEmbd);
      add(b + "ffn_down.weight", kEmbd, kFf);
    }
    w.write(p.string());
    return p.string();
  }();
  return path;
}

std::vector<std::vector<int32_t>> calibration() {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int32_t> id(2, kVocab - 1);
  std::vector<std::vector<int32_t>> s(6, std::vector<int32_t>(24));
  for (auto& v : s) {
    v[0] = 1;
    for (size_t i = 1; i < v.size(); ++i) v[i] = id(rng);
  }
  return s;
}

std::vector<float> logits(const Model& m) {
  ThreadPool pool(1);
  Session s(m, pool);
  const std::vector<int32_t> probe = {1, 17, 42, 5, 88, 23, 60, 9, 71, 33};
  const auto out = s.forward(probe, 0);
  return {out.begin(), out.end()};
}

struct Case {
  const char* label;
  Method method;
  int bits;
  int64_t group;
  bool sym, act_order, static_groups, double_quant;
  HfExportFormat format;
  const char* layout;  // the registry entry that must read it back
};

class ExportReload : public ::testing::TestWithParam<Case> {};

TEST_P(ExportReload, LoadModelGivesTheInMemoryLogits) {
  const Case& k = GetParam();
  const Model source = load_model(random_llama());
  QuantizeOptions o;
  o.method = k.method;
  o.grid.bits = k.bits;
  o.grid.group_size = k.group;
  o.grid.symmetric = k.sym;
  o.gptq.act_order = k.act_order;
  o.gptq.static_groups = k.static_groups;
  o.bnb4.double_quant = k.double_quant;
  o.micro_batch_tokens = 0;
  ThreadPool pool(1);
  const QuantizeResult q = quantize_model(source, method_needs_calibration(k.method) ? calibration() : std::vector<std::vector<int32_t>>{},
                                          o, pool);
  ExportInfo info;
  info.source_path = random_llama();
  info.source_sha256 = "test";
  info.options = o;
  info.format = k.format;
  const fs::path dir = test::temp_dir(std::string("export-reload-") + k.label) / "out";
  export_quantized(q, info, dir.string());

  const Model back = load_model(dir.string());
  EXPECT_EQ(back.source_format, k.layout);
  EXPECT_EQ(back.config.rope_style, source.config.rope_style);
  const std::vector<float> a = logits(q.model), b = logits(back);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << k.label;
  // And through the pipeline's name for it.
  EXPECT_EQ(0, std::memcmp(logits(load_quantized_export(dir.string())).data(), a.data(), a.size() * sizeof(float)));
  fs::remove_all(dir.parent_path());
}

constexpr HfExportFormat kNative = HfExportFormat::Native, kCt = HfExportFormat::CompressedTensors;
INSTANTIATE_TEST_SUITE_P(
    EveryExport, ExportReload,
    ::testing::Values(Case{"rtn_g32", Method::Rtn, 4, 32, false, false, false, false, kNative, "gptq"},
                      Case{"gptq_g32", Method::Gptq, 4, 32, false, false, false, false, kNative, "gptq"},
                      Case{"gptq_actorder_g32", Method::Gptq, 4, 32, false, true, false, false, kNative, "gptq"},
                      Case{"gptq_8bit_sym_channel", Method::Gptq, 8, 0, true, true, false, false, kNative, "gptq"},
                      Case{"awq_g32", Method::Awq, 4, 32, false, false, false, false, kNative, "awq"},
                      Case{"awq_channel", Method::Awq, 4, 0, false, false, false, false, kNative, "awq"},
                      Case{"nf4", Method::Nf4, 4, 0, false, false, false, false, kNative, "bitsandbytes-4bit"},
                      Case{"fp4", Method::Fp4, 4, 0, false, false, false, false, kNative, "bitsandbytes-4bit"},
                      Case{"int8", Method::Int8, 8, 0, false, false, false, false, kNative, "bitsandbytes-8bit"},
                      Case{"ct_rtn_g32", Method::Rtn, 4, 32, false, false, false, false, kCt, "pack-quantized"},
                      Case{"ct_gptq_sym_g32", Method::Gptq, 4, 32, true, false, false, false, kCt, "pack-quantized"},
                      Case{"ct_gptq_actorder_static", Method::Gptq, 4, 32, false, true, true, false, kCt, "pack-quantized"},
                      Case{"ct_awq_g32", Method::Awq, 4, 32, false, false, false, false, kCt, "pack-quantized"},
                      Case{"ct_gptq_8bit_channel", Method::Gptq, 8, 0, true, false, false, false, kCt, "pack-quantized"}),
    [](const ::testing::TestParamInfo<Case>& i) { return std::string(i.param.label); });

// SmolLM2-135M's shapes (the bench model): 576-wide inputs, 1536 for down_proj.
ModelConfig bench_shapes() {
  ModelConfig c;
  c.arch = "llama";
  c.n_embd = 576, c.n_head = 9, c.n_head_kv = 3, c.head_dim = 64, c.n_ff = 1536;
  return c;
}

TEST(ExportGroupSize, GroupsThatDoNotDivideTheInputsAreRefusedNamingTheTensorAndTheSizesThatWork) {
  const ModelConfig c = bench_shapes();
  EXPECT_EQ(exportable_group_sizes(c), (std::vector<int64_t>{64, 32}));
  EXPECT_EQ(auto_group_size(c, 128), 64);
  for (Method m : {Method::Gptq, Method::Awq, Method::Rtn})
    for (HfExportFormat f : {kNative, kCt}) {
      ExportInfo info;
      info.options.method = m;
      info.options.grid.group_size = 128;
      info.format = f;
      try {
        check_exportable(c, info);
        ADD_FAILURE() << "group 128 on 576 inputs was accepted for " << method_name(m);
      } catch (const Error& e) {
        EXPECT_EQ(e.source(), "--group-size");
        EXPECT_EQ(e.field(), "model.layers.0.self_attn.q_proj");
        EXPECT_NE(e.message().find("576"), std::string::npos) << e.what();
        EXPECT_NE(e.message().find("64, 32, or 0 (per channel"), std::string::npos) << e.what();
        EXPECT_NE(e.message().find("auto picks 64"), std::string::npos) << e.what();
      }
      for (int64_t g : {int64_t(64), int64_t(32), int64_t(0)}) {
        info.options.grid.group_size = g;
        EXPECT_NO_THROW(check_exportable(c, info)) << g;
      }
    }
}

TEST(ExportGroupSize, TheWriterRefusesBeforeWritingAnything) {
  const Model source = load_model(random_llama());
  ExportInfo info;
  info.source_path = random_llama();
  info.options.method = Method::Gptq;
  info.options.grid.group_size = 48;  // divides neither 64 nor 128
  const fs::path dir = test::temp_dir("export-refused") / "out";
  EXPECT_THROW(HfExportWriter(source, info, dir.string()), Error);
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_FALSE(fs::exists(dir.string() + ".partial"));
}

TEST(ExportFormat, CompressedTensorsTakesIntegerGridsOfFourOrEightBits) {
  ExportInfo info;
  info.format = kCt;
  info.options.method = Method::Nf4;
  EXPECT_THROW(check_exportable(bench_shapes(), info), Error);
  info.options.method = Method::Rtn;
  info.options.grid.bits = 3;
  info.options.grid.group_size = 64;
  EXPECT_THROW(check_exportable(bench_shapes(), info), Error);
  EXPECT_THROW(parse_export_format("gptq-v2"), Error);
  // Act-order groups out of column order: compressed-tensors 0.20 removed actorder "group".
  info.options.method = Method::Gptq;
  info.options.grid.bits = 4;
  info.options.gptq.act_order = true;
  EXPECT_THROW(check_exportable(bench_shapes(), info), Error);
  info.options.gptq.static_groups = true;
  EXPECT_NO_THROW(check_exportable(bench_shapes(), info));
}

// The config.json of a compressed-tensors export follows llm-compressor's schema field for field.
TEST(ExportFormat, CompressedTensorsConfigSchema) {
  const Model source = load_model(random_llama());
  QuantizeOptions o;
  o.method = Method::Gptq;
  o.grid.group_size = 32;
  o.gptq.act_order = true;
  o.gptq.static_groups = true;
  ThreadPool pool(1);
  const QuantizeResult q = quantize_model(source, calibration(), o, pool);
  ExportInfo info;
  info.source_path = random_llama();
  info.options = o;
  info.format = kCt;
  const nlohmann::ordered_json j = export_config(q, info);
  const auto& qc = j["quantization_config"];
  EXPECT_EQ(qc["quant_method"], "compressed-tensors");
  EXPECT_EQ(qc["format"], "pack-quantized");
  EXPECT_EQ(qc["quantization_status"], "compressed");
  EXPECT_EQ(qc["ignore"], nlohmann::ordered_json({"lm_head"}));
  const auto& w = qc["config_groups"]["group_0"]["weights"];
  EXPECT_EQ(w["num_bits"], 4);
  EXPECT_EQ(w["group_size"], 32);
  EXPECT_EQ(w["strategy"], "group");
  EXPECT_EQ(w["symmetric"], false);
  EXPECT_EQ(w["actorder"], "weight");
  EXPECT_EQ(w["type"], "int");
  EXPECT_EQ(qc["config_groups"]["group_0"]["targets"], nlohmann::ordered_json({"Linear"}));
}

// A folder whose group index points past the stored groups is refused naming the tensor.
TEST(ExportLayouts, BadGroupIndexIsRefusedNamingTheTensor) {
  const std::vector<int32_t> qweight(size_t(8 * 4 / 8 * 8), 0), qzeros(1, 0), g_idx = {0, 0, 0, 0, 0, 0, 0, 3};
  const std::vector<uint16_t> scales(8, 0x3c00);
  auto view = [](const std::string& dtype, std::vector<int64_t> shape, const void* data, size_t n) {
    return StoredTensor{dtype, std::move(shape), static_cast<const uint8_t*>(data), n};
  };
  const StoredTensorLookup lookup = [&](const std::string& name) -> std::optional<StoredTensor> {
    if (name == "m.qweight") return view("I32", {1, 8}, qweight.data(), 32);
    if (name == "m.qzeros") return view("I32", {1, 1}, qzeros.data(), 4);
    if (name == "m.scales") return view("F16", {1, 8}, scales.data(), 16);
    if (name == "m.g_idx") return view("I32", {8}, g_idx.data(), 32);
    return std::nullopt;
  };
  nlohmann::json qc = {{"quant_method", "gptq"}, {"bits", 4}, {"group_size", 8}, {"sym", false}};
  const ExportLayoutTraits& l = export_layout_for(qc, "config.json");
  ASSERT_EQ(l.name, "gptq");
  try {
    l.decode(lookup, "f.safetensors", "m", 8, 8, l.read_config(qc, "config.json"));
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "m.g_idx[7]") << e.what();
  }
  EXPECT_THROW(export_layout_for(nlohmann::json{{"quant_method", "hqq"}}, "config.json"), Error);
}

}  // namespace
}  // namespace quantlab::pipeline
