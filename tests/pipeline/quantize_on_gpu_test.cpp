// Calibrated quantization on a GPU (skipped where there is none; tools/device-check runs it): the
// calibration hidden states kept on the device between passes and layers give the bits of the
// run that copies them over for every pass, and a GPU run stays close to the CPU's.
#include "quantlab/backend/device.hpp"
#include "quantlab/backend/thread_pool.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/pipeline/quantize_model.hpp"
#include "cli/tiny_llama2c.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

namespace quantlab::pipeline {
namespace {

std::vector<std::vector<int32_t>> random_samples(int64_t vocab, int count, int len) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> id(3, int32_t(vocab - 1));
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(count));
  for (auto& s : out) {
    s.push_back(1);  // BOS
    for (int i = 1; i < len; ++i) s.push_back(id(rng));
  }
  return out;
}

std::vector<float> linears(const QuantizeResult& r) {
  std::vector<float> v;
  for (const LayerWeights& l : r.model.layers)
    for (const WeightMatrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down}) {
      const float* p = static_cast<const float*>(m->data);
      v.insert(v.end(), p, p + m->rows * m->cols);
    }
  return v;
}

// Hidden states (and GPTQ's attention results) kept on the GPU give the bits of copying them over.
TEST(CudaPipeline, HiddenStatesKeptOnTheGpuGiveTheBitsOfCopyingThemOver) {
  if (cuda_device_count() == 0) QUANTLAB_SKIP() << "no GPU";
  const std::filesystem::path dir = test::temp_dir("gpu-pipeline");
  const test::TinyLlama2c t = test::write_tiny_llama2c(dir);
  const Model m = load_llama2c_model(t.model.string());
  const auto samples = random_samples(m.config.n_vocab, 6, 40);
  ThreadPool pool(2);
  for (Method method : {Method::Gptq, Method::Awq}) {
    QuantizeOptions o;
    o.method = method;
    o.grid.group_size = 32;
    o.device = Device{DeviceType::Cuda, 0};
    o.micro_batch_tokens = 100;  // several micro-batches
    o.hidden_on_device = true;
    const QuantizeResult kept = quantize_model(m, samples, o, pool);
    o.attention_on_device = false;  // GPTQ computes each layer's attention twice
    const QuantizeResult attention_twice = quantize_model(m, samples, o, pool);
    o.hidden_on_device = false;
    const QuantizeResult copied = quantize_model(m, samples, o, pool);
    EXPECT_EQ(linears(kept), linears(copied)) << method_name(method);
    EXPECT_EQ(linears(attention_twice), linears(copied)) << method_name(method);
    EXPECT_NE(kept.memory_plan.device.front().name.find("hidden states"), std::string::npos);
    bool attention_planned = false;
    for (const MemoryPart& part : kept.memory_plan.device) attention_planned |= part.name.find("attention results") != std::string::npos;
    EXPECT_EQ(attention_planned, method == Method::Gptq) << method_name(method);
  }
}

}  // namespace
}  // namespace quantlab::pipeline
