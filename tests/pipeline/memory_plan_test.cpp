// The memory plan of layer-sequential quantization (pipeline/memory_plan.hpp): its parts from the
// shapes, budgets refused before any work with what would fit, and sizes as users write them.
#include "quantlab/core/byte_size.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/pipeline/memory_plan.hpp"
#include "quantlab/pipeline/quantize_model.hpp"
#include "io/io_test_util.hpp"
#include "test_support.hpp"

#include <algorithm>
#include <filesystem>

namespace quantlab::pipeline {
namespace {

namespace fs = std::filesystem;

// A model of the given shapes with no weights behind them: the plan reads shapes only.
Model shaped_model(int64_t n_layer, int64_t n_embd, int64_t n_head, int64_t n_head_kv, int64_t n_ff) {
  Model m;
  const int64_t hd = n_embd / n_head;
  m.config.n_layer = n_layer;
  m.config.n_embd = n_embd;
  m.config.n_head = n_head;
  m.config.n_head_kv = n_head_kv;
  m.config.head_dim = hd;
  m.config.n_ff = n_ff;
  const auto shaped = [](int64_t rows, int64_t cols) {
    WeightMatrix w;
    w.format = FormatId::F16;
    w.rows = rows;
    w.cols = cols;
    return w;
  };
  for (int64_t l = 0; l < n_layer; ++l) {
    LayerWeights L;
    L.attn_norm.assign(size_t(n_embd), 1.0f);
    L.ffn_norm.assign(size_t(n_embd), 1.0f);
    L.wq = shaped(n_head * hd, n_embd);
    L.wk = shaped(n_head_kv * hd, n_embd);
    L.wv = shaped(n_head_kv * hd, n_embd);
    L.wo = shaped(n_embd, n_head * hd);
    L.ffn_gate = shaped(n_ff, n_embd);
    L.ffn_up = shaped(n_ff, n_embd);
    L.ffn_down = shaped(n_embd, n_ff);
    m.layers.push_back(std::move(L));
  }
  return m;
}

double part(const std::vector<MemoryPart>& parts, const std::string& prefix) {
  for (const MemoryPart& p : parts)
    if (p.name.rfind(prefix, 0) == 0) return p.bytes;
  ADD_FAILURE() << "no part named " << prefix << "...";
  return -1;
}

QuantizeOptions gptq_on(Device device) {
  QuantizeOptions o;
  o.method = Method::Gptq;
  o.device = device;
  o.keep_model = false;
  o.micro_batch_tokens = 2048;
  return o;
}

const Device kGpu{DeviceType::Cuda, 0};

// Llama-2-70B's shapes: hidden 8192, 64 heads / 8 KV heads, FFN 28672; 128 samples of 2048 tokens.
TEST(MemoryPlan, SeventyBShapedGptqOnAGpuHasTheLayerTheHessianAndTheMicroBatch) {
  const Model m = shaped_model(80, 8192, 64, 8, 28672);
  const CalibrationShape c{128 * 2048, 2048, 128};
  QuantizeOptions o = gptq_on(kGpu);
  o.hidden_on_device = false;  // the hidden states stay on the host: each pass copies them over
  const MemoryPlan p = plan_memory(m, o, c);
  const double layer = 4.0 * (2.0 * 8192 * 8192 + 2.0 * 1024 * 8192 + 3.0 * 8192 * 28672 + 2 * 8192);
  EXPECT_DOUBLE_EQ(part(p.device, "layer blk.0"), layer);
  EXPECT_DOUBLE_EQ(part(p.device, "KV cache"), 2.0 * 2048 * 1024 * 4);  // f32: calibration's statistics
  // Only the sums of 64 MiB and more go back to the driver; 8192² doubles are 512 MiB.
  EXPECT_DOUBLE_EQ(part(p.device, "Hessian sums"), 8.0 * 28672.0 * 28672.0);
  EXPECT_DOUBLE_EQ(part(p.device, "micro-batch activations"),
                   2048.0 * 4 * (2 * 8192 + 2 * 8192 + 2 * 1024 + 2 * 28672));
  // The hidden states of every calibration token stay on the host: 8 GiB here.
  EXPECT_DOUBLE_EQ(part(p.host, "calibration hidden states"), 4.0 * 128 * 2048 * 8192);
  // The Hessian and its factor never come to the host: the factor is made beside the sums.
  for (const MemoryPart& h : p.host) EXPECT_EQ(h.name.find("GPTQ Hessian"), std::string::npos) << h.name;
  EXPECT_DOUBLE_EQ(part(p.device, "GPTQ factor"), 8.0 * 28672.0 * 28672.0);
  // GPTQ's sweep of ffn_down on the GPU: its f32 weights, its codes and a lazy block's f32 errors.
  EXPECT_DOUBLE_EQ(part(p.device, "GPTQ sweep"), 5.0 * 8192 * 28672 + 4.0 * 128 * 28672);
  // About 17.5 GiB, 19.4 GiB with the 10 % slack: one layer of a 70B calibrates and quantizes on any
  // 24 GB GPU.
  EXPECT_GT(p.device_bytes(), 17.0 * (1 << 30));
  EXPECT_LT(p.device_bytes(), 20.0 * (1 << 30));
  for (const MemoryPart& d : p.device) EXPECT_EQ(d.name.rfind("calibration hidden states", 0), std::string::npos);
  // Kept on the GPU (the default where they fit), the hidden states are a device part too, and so
  // are GPTQ's attention results (8192 per token here) unless they are left out.
  o.hidden_on_device = true;
  o.attention_on_device = false;
  const MemoryPlan kept = plan_memory(m, o, c);
  EXPECT_DOUBLE_EQ(part(kept.device, "calibration hidden states"), 4.0 * 128 * 2048 * 8192);
  EXPECT_NEAR(kept.device_bytes(), p.device_bytes() + 1.1 * 4.0 * 128 * 2048 * 8192, 1.0);
  o.attention_on_device = true;
  const MemoryPlan with_attention = plan_memory(m, o, c);
  EXPECT_DOUBLE_EQ(part(with_attention.device, "attention results"), 4.0 * 128 * 2048 * 8192);
  EXPECT_NEAR(with_attention.device_bytes(), kept.device_bytes() + 1.1 * 4.0 * 128 * 2048 * 8192, 1.0);
}

TEST(MemoryPlan, TheCpuPathHasNoDevicePartsAndCalibrationFreeMethodsNoActivations) {
  const Model m = shaped_model(4, 256, 4, 2, 512);
  const CalibrationShape c{64 * 128, 128, 64};
  const MemoryPlan cpu = plan_memory(m, gptq_on(Device{}), c);
  EXPECT_TRUE(cpu.device.empty());
  EXPECT_GT(part(cpu.host, "micro-batch activations"), 0);
  QuantizeOptions rtn = gptq_on(kGpu);
  rtn.method = Method::Rtn;
  const MemoryPlan r = plan_memory(m, rtn, CalibrationShape{});
  EXPECT_TRUE(r.device.empty());  // no layer runs: nothing goes to the GPU
  for (const MemoryPart& p : r.host) EXPECT_EQ(p.name.find("calibration"), std::string::npos) << p.name;
}

TEST(MemoryPlan, AHostBudgetTooSmallForTheCalibrationSetSaysHowManySamplesFit) {
  const Model m = shaped_model(4, 1024, 8, 8, 2816);
  const CalibrationShape c{256 * 512, 512, 256};
  QuantizeOptions o = gptq_on(Device{});
  o.micro_batch_tokens = 512;
  const MemoryPlan full = plan_memory(m, o, c);
  const double budget = plan_memory(m, o, CalibrationShape{128 * 512, 512, 128}).host_bytes();  // room for half
  try {
    check_memory_budget(m, o, c, false, budget, "--max-host-memory", "--max-host-memory (test)");
    FAIL() << "not refused";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("--max-host-memory"), std::string::npos) << what;
    EXPECT_NE(what.find("at most 128 samples of this length fit"), std::string::npos) << what;
  }
  EXPECT_NO_THROW(check_memory_budget(m, o, c, false, full.host_bytes(), "--max-host-memory", "x"));
}

TEST(MemoryPlan, AGpuBudgetSaysWhichMicroBatchFitsOrThatNoneDoes) {
  const Model m = shaped_model(2, 4096, 32, 8, 11008);
  const CalibrationShape c{64 * 1024, 1024, 64};
  QuantizeOptions o = gptq_on(kGpu);
  o.micro_batch_tokens = 8192;
  const MemoryPlan p = plan_memory(m, o, c);
  const double at_1024 = [&] {
    QuantizeOptions s = o;
    s.micro_batch_tokens = 1024;
    return plan_memory(m, s, c).device_bytes();
  }();
  try {
    check_memory_budget(m, o, c, true, at_1024, "--max-gpu-memory", "--max-gpu-memory (test)");
    FAIL() << "not refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--micro-batch 1024 fits"), std::string::npos) << e.what();
  }
  // Below what the layer and its Hessian alone need on the GPU: no calibration set can fit.
  try {
    check_memory_budget(m, o, c, true, part(p.device, "layer blk.0"), "--max-gpu-memory", "--max-gpu-memory (test)");
    FAIL() << "not refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a smaller budget cannot be met"), std::string::npos) << e.what();
  }
}

TEST(ByteSize, UnitsAsUsersWriteThem) {
  EXPECT_DOUBLE_EQ(parse_byte_size("64GiB", "--x"), 64.0 * (1 << 30));
  EXPECT_DOUBLE_EQ(parse_byte_size("8g", "--x"), 8.0 * (1 << 30));
  EXPECT_DOUBLE_EQ(parse_byte_size("512MiB", "--x"), 512.0 * (1 << 20));
  EXPECT_DOUBLE_EQ(parse_byte_size("1.5TB", "--x"), 1.5e12);
  EXPECT_DOUBLE_EQ(parse_byte_size("1000", "--x"), 1000.0);
  for (const char* bad : {"", "GiB", "-1G", "0", "12 parsecs", "nan", "1e400"}) {
    try {
      parse_byte_size(bad, "--max-gpu-memory");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--max-gpu-memory"), std::string::npos) << e.what();
    }
  }
}

// Through the CLI: a budget the tiny model's calibration cannot meet is one line, a non-zero exit and
// nothing on stdout.
TEST(MemoryPlan, QuantizeRefusesAnImpossibleHostBudgetBeforeAnyWork) {
  const fs::path model = test::shared_dir() / "models/aidreams260K/aidreams260K.bin";
  const fs::path tok = test::shared_dir() / "models/aidreams260K/tok512.bin";
  const fs::path text = test::shared_dir() / "data/wikitext-2-raw/wiki.test.raw";
  QUANTLAB_REQUIRE_FILE(model);
  QUANTLAB_REQUIRE_FILE(text);
  const std::string ql = test::shell_quote(test::cli_path().string()) + " quantize --model " + test::shell_quote(model.string());
  const auto r = test::run_command(ql + " --method gptq --tokenizer " + test::shell_quote(tok.string()) + " --calib " +
                                   test::shell_quote(text.string()) +
                                   " --format text-paragraphs --raw --samples 8 --seq-len 64 --max-host-memory 1MiB");
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("--max-host-memory"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("resident before the run"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  // The same run within a budget it meets goes through.
  const auto ok = test::run_command(ql + " --method gptq --tokenizer " + test::shell_quote(tok.string()) + " --calib " +
                                    test::shell_quote(text.string()) +
                                    " --format text-paragraphs --raw --samples 8 --seq-len 64 --max-host-memory 4GiB --json");
  EXPECT_EQ(ok.status, 0) << ok.err;
  // --max-gpu-memory on a run that uses no GPU is a mistake, not a no-op.
  const auto g = test::run_command(ql + " --method rtn --max-gpu-memory 8GiB");
  EXPECT_NE(g.status, 0);
  EXPECT_NE(g.err.find("uses no GPU"), std::string::npos) << g.err;
  EXPECT_TRUE(g.out.empty()) << g.out;
}

}  // namespace
}  // namespace quantlab::pipeline
