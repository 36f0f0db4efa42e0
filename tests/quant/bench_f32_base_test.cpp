// The bench model's F32 base, derived/SmolLM2-135M-Instruct.Q4_1.f32.gguf in the asset cache, which
// the GPTQ/AWQ/streaming tests of the bench model start from: quantlab makes it, and it must be the
// very file llama.cpp makes (llama-quantize --allow-requantize SHIPPED OUT F32; its SHA-256 is in
// assets/reference.json, models.bench.variants.f32). tests/CMakeLists.txt runs BenchF32Base as the
// setup of those tests (ctest fixture bench_f32), so CI never lacks the file.
#include "quantlab/core/sha256.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/io/gguf_writer.hpp"
#include "quantlab/quant/gguf_quantize.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <unistd.h>

using namespace quantlab;
namespace fs = std::filesystem;

namespace {

nlohmann::json bench_reference() {
  std::ifstream in(test::source_dir() / "assets" / "reference.json");
  return nlohmann::json::parse(in).at("models").at("bench");
}

fs::path shipped() { return test::assets_dir() / bench_reference().at("file").get<std::string>(); }
fs::path derived() { return test::assets_dir() / bench_reference().at("variants").at("f32").at("file").get<std::string>(); }
std::string llama_cpp_sha256() { return bench_reference().at("variants").at("f32").at("sha256").get<std::string>(); }

// quantlab's F32 dequantization of the shipped Q4_1 file, as bytes, less quantlab's provenance keys
// (the only difference from llama-quantize's file).
std::vector<uint8_t> quantlab_f32_bytes() {
  const auto dir = test::temp_dir("bench-f32");
  const auto path = (dir / "f32.gguf").string();
  GgufQuantizeOptions o;
  o.target = parse_gguf_target("F32");
  o.threads = 0;
  gguf_quantize(shipped().string(), path, o);
  std::vector<uint8_t> bytes;
  {
    const GgufFile f(path);
    GgufWriter w = gguf_writer_from(f);
    for (const auto& [k, v] : f.metadata())
      if (k.rfind("quantlab.", 0) == 0) w.remove(k);
    bytes = w.to_bytes();
  }
  fs::remove_all(dir);
  return bytes;
}

TEST(GgufQuantizeSlow, BenchModelDequantizesLikeLlamaCpp) {
  QUANTLAB_REQUIRE_FILE(shipped());
  const auto bytes = quantlab_f32_bytes();
  EXPECT_EQ(sha256_hex(bytes.data(), bytes.size()), llama_cpp_sha256());
}

// The ctest fixture's setup: a file already in the cache is checked, an absent or different one is
// made by quantlab (written beside, then renamed: a concurrent reader never sees half a file).
TEST(BenchF32Base, InTheAssetCache) {
  QUANTLAB_REQUIRE_FILE(shipped());
  if (fs::exists(derived()) && sha256_file(derived().string()) == llama_cpp_sha256()) return;
  const auto bytes = quantlab_f32_bytes();
  ASSERT_EQ(sha256_hex(bytes.data(), bytes.size()), llama_cpp_sha256()) << "quantlab's F32 base is not llama.cpp's";
  fs::create_directories(derived().parent_path());
  const auto partial = derived().string() + ".partial-" + std::to_string(::getpid());
  {
    std::ofstream out(partial, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    ASSERT_TRUE(out.good()) << "cannot write " << partial;
  }
  fs::rename(partial, derived());
  EXPECT_EQ(sha256_file(derived().string()), llama_cpp_sha256());
}

}  // namespace
