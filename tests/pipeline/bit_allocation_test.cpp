// Bit allocation end to end on the real tiny model (aidreams260K as a GGUF: dim 64, hidden 172, so
// K types fall back to 32-blocks and ffn_down's 172-wide rows stay F16): the written file fits the
// budget, holds the planned types and reads its measurement back; budgets out of reach are refused
// before any work; thread counts give the same bytes.
#include "quantlab/core/error.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/io/llama2c_gguf.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/pipeline/bit_allocation.hpp"
#include "quantlab/quant/choice_knapsack.hpp"
#include "quantlab/text/tokenizer.hpp"
#include "test_support.hpp"

#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>

namespace quantlab {
namespace {

namespace fs = std::filesystem;

class BitAllocation : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path model = test::shared_dir() / "models/aidreams260K/aidreams260K.bin";
    const fs::path tok = test::shared_dir() / "models/aidreams260K/tok512.bin";
    const fs::path wiki = test::shared_dir() / "data/wikitext-2-raw/wiki.test.raw";
    if (!fs::exists(model) || !fs::exists(tok) || !fs::exists(wiki)) QUANTLAB_SKIP() << "input absent: " << model;
    dir_ = test::temp_dir("bit-allocation");
    in_ = (dir_ / "aidreams260K.gguf").string();
    Llama2cCheckpoint ck(model.string());
    llama2c_to_gguf(ck, read_llama2c_tokenizer(tok.string(), ck.config().vocab_size)).write(in_);
    std::ifstream text(wiki);
    std::string s(20000, '\0');
    text.read(s.data(), std::streamsize(s.size()));
    tokens_ = Tokenizer::load(tok.string()).encode(s, true, false);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  BitAllocationOptions options(const AllocationBudget& budget, int threads = 2) const {
    BitAllocationOptions o;
    o.budget = budget;
    o.tokens = tokens_;
    o.text_path = "wiki.test.raw";
    o.text_sha256 = std::string(64, 'a');
    o.n_ctx = 64;
    o.n_chunks = 3;
    o.threads = threads;
    return o;
  }

  // The bpw range the default ladder reaches on the tiny model, computed from the plan.
  std::pair<double, double> bpw_range() const {
    const GgufFile in(in_);
    const auto units = plan_allocation_units(in, AllocationUnitKind::Group, default_allocation_ladder(), nullptr);
    std::vector<std::vector<KnapsackOption>> groups;
    std::map<std::string, bool> member;
    for (const auto& u : units) {
      groups.emplace_back();
      for (const auto& c : u.candidates) groups.back().push_back({c.bytes, 0});
      for (const auto& t : u.tensors) member[t] = true;
    }
    uint64_t fixed = 0, n = 0;
    for (const auto& t : in.tensors()) {
      n += uint64_t(t.n_elements());
      if (!member.count(t.name)) fixed += t.nbytes;
    }
    return {8.0 * double(fixed + knapsack_min_size(groups)) / double(n), 8.0 * double(fixed + knapsack_max_size(groups)) / double(n)};
  }

  static uint64_t tensor_bytes(const GgufFile& f, uint64_t* n_elements = nullptr) {
    uint64_t b = 0, n = 0;
    for (const auto& t : f.tensors()) b += t.nbytes, n += uint64_t(t.n_elements());
    if (n_elements) *n_elements = n;
    return b;
  }

  fs::path dir_;
  std::string in_;
  std::vector<int32_t> tokens_;
};

std::vector<char> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string fmt(double x) {
  std::ostringstream s;
  s.precision(6);
  s << std::fixed << x;
  return s.str();
}

TEST_F(BitAllocation, WritesTheChosenTypesWithinTheBudgetAndReadsItsMeasurementBack) {
  const auto [lo, hi] = bpw_range();
  ASSERT_LT(lo + 0.5, hi);
  const std::string bpw = fmt((lo + hi) / 2);
  const std::string out = (dir_ / "alloc.gguf").string();
  const BitAllocationResult r = run_bit_allocation(in_, out, options(parse_target_bpw(bpw)));

  const GgufFile f(out);
  uint64_t n = 0;
  const uint64_t bytes = tensor_bytes(f, &n);
  EXPECT_LE(8.0 * double(bytes), std::stod(bpw) * double(n)) << "over the budget";
  EXPECT_EQ(bytes, r.written.bytes_out);
  EXPECT_EQ(bytes, r.used_bytes);
  // The types of the plan, tensor by tensor; the measurement is real (not all zero) and the
  // choice is not one ladder type for everything (the budget lies inside the range).
  std::set<FormatId> chosen;
  for (size_t u = 0; u < r.units.size(); ++u) {
    const AllocationCandidate& c = r.units[u].candidates[size_t(r.choice[u])];
    chosen.insert(c.ladder_type);
    for (size_t i = 0; i < r.units[u].tensors.size(); ++i)
      EXPECT_EQ(f.find_tensor(r.units[u].tensors[i])->type, c.types[i]) << r.units[u].tensors[i];
    EXPECT_GT(r.units[u].candidates[0].kld, 0) << r.units[u].name;
  }
  EXPECT_GE(chosen.size(), 2u);
  // 4 layers x (attention, FFN), the embedding, and the output head (llama2.c's own matrix).
  ASSERT_EQ(r.units.size(), 10u);
  EXPECT_EQ(r.units[0].name, "output.weight");
  EXPECT_EQ(r.units[1].name, "token_embd.weight");
  EXPECT_EQ(r.units[2].name, "blk.0.attn");
  EXPECT_EQ(r.units[3].name, "blk.0.ffn");

  // The measurement in the provenance.
  EXPECT_EQ(f.get_string("quantlab.method"), "gguf-allocation");
  EXPECT_EQ(f.get_string("quantlab.allocation.budget"), "--target-bpw " + bpw);
  EXPECT_EQ(f.get_string("quantlab.allocation.unit"), "group");
  EXPECT_EQ(f.get_string("quantlab.allocation.text.sha256"), std::string(64, 'a'));
  EXPECT_EQ(f.get_int("quantlab.allocation.text.chunks"), 3);
  const auto& choice = f.get("quantlab.allocation.choice").as_array(out, "choice").items;
  const auto& kld = f.get("quantlab.allocation.kld").as_array(out, "kld").items;
  const auto& units = f.get("quantlab.allocation.units").as_array(out, "units").items;
  ASSERT_EQ(choice.size(), r.units.size());
  const size_t n_types = default_allocation_ladder().size();
  ASSERT_EQ(kld.size(), r.units.size() * n_types);
  for (size_t u = 0; u < r.units.size(); ++u) {
    EXPECT_EQ(choice[u].as_int(out, "choice"), r.choice[u]);
    EXPECT_EQ(units[u].as_string(out, "units"), r.units[u].name);
    for (size_t k = 0; k < n_types; ++k) EXPECT_EQ(kld[u * n_types + k].as_double(out, "kld"), r.units[u].candidates[k].kld);
  }
  EXPECT_NO_THROW(load_model(out));
}

TEST_F(BitAllocation, NeverExceedsABudgetOverTheWholeRange) {
  const std::string first = (dir_ / "first.gguf").string();
  const auto [lo, hi] = bpw_range();
  // Budgets strictly inside the range, so that printing them with 6 decimals keeps them inside.
  auto budget = [&](int i) { return fmt(lo + 1e-5 + (hi - lo - 2e-5) * i / 8.0); };
  const BitAllocationResult r0 = run_bit_allocation(in_, first, options(parse_target_bpw(budget(8))));
  // Every budget reuses the measurement; file sizes from the smallest reachable file to the largest.
  BitAllocationOptions probe = options(parse_target_size("1"));
  probe.reuse_path = first;
  uint64_t min_file = 0, max_file = 0;
  try {
    run_bit_allocation(in_, (dir_ / "never.gguf").string(), probe);
    FAIL() << "a one-byte file was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("below"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("MiB"), std::string::npos) << e.what();
  }
  double last_kld = 1e300;
  for (int i = 0; i <= 8; ++i) {
    const std::string b = budget(i);
    BitAllocationOptions o = options(parse_target_bpw(b));
    o.reuse_path = first;
    const std::string out = (dir_ / ("bpw" + std::to_string(i) + ".gguf")).string();
    const BitAllocationResult r = run_bit_allocation(in_, out, o);
    uint64_t n = 0;
    const uint64_t bytes = tensor_bytes(GgufFile(out), &n);
    EXPECT_LE(8.0 * double(bytes), std::stod(b) * double(n)) << "budget " << b;
    EXPECT_TRUE(r.reused);
    EXPECT_LE(r.predicted_kld, last_kld + 1e-15) << "a larger budget gave a worse optimum";
    last_kld = r.predicted_kld;
    if (i == 0) min_file = fs::file_size(out);
    if (i == 8) max_file = fs::file_size(out);
  }
  EXPECT_EQ(r0.predicted_kld, last_kld);
  for (int i = 0; i <= 6; ++i) {
    const uint64_t size = min_file + (max_file - min_file) * uint64_t(i) / 6;
    BitAllocationOptions o = options(parse_target_size(std::to_string(size)));
    o.reuse_path = first;
    const std::string out = (dir_ / ("size" + std::to_string(i) + ".gguf")).string();
    const BitAllocationResult r = run_bit_allocation(in_, out, o);
    EXPECT_LE(fs::file_size(out), size) << "over the file budget";
    EXPECT_EQ(fs::file_size(out), r.used_bytes);
  }
}

TEST_F(BitAllocation, BudgetsOutOfReachAreRefusedBeforeAnyWorkWithTheRange) {
  const auto [lo, hi] = bpw_range();
  for (const double b : {lo * 0.9, hi * 1.1}) {
    const std::string out = (dir_ / "refused.gguf").string();
    BitAllocationOptions o = options(parse_target_bpw(fmt(b)));
    o.tokens.clear();  // nothing to measure on: the refusal must come before the measurement
    o.tokens.resize(10, 1);
    try {
      run_bit_allocation(in_, out, o);
      FAIL() << b << " bpw accepted";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(b < lo ? "below" : "above"), std::string::npos) << msg;
      char range[64];  // the reachable range, as the message prints it
      std::snprintf(range, sizeof range, "%.4f to %.4f bpw", lo, hi);
      EXPECT_NE(msg.find(range), std::string::npos) << msg;
      EXPECT_NE(msg.find("bpw"), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
    EXPECT_FALSE(fs::exists(out));
  }
  EXPECT_THROW(parse_target_bpw("three"), Error);
  EXPECT_THROW(parse_target_bpw("-1"), Error);
  EXPECT_THROW(parse_target_size("2.5 parsecs"), Error);
  EXPECT_EQ(parse_target_size("2.5GiB").bytes, uint64_t(2.5 * 1024 * 1024 * 1024));
  EXPECT_EQ(parse_target_size("90MB").bytes, 90000000u);
  EXPECT_THROW(parse_allocation_ladder("Q4_K,Q4_K"), Error);
  EXPECT_THROW(parse_allocation_ladder("F16"), Error);
}

TEST_F(BitAllocation, OneAndTwoThreadsWriteTheSameBytes) {
  const auto [lo, hi] = bpw_range();
  const std::string bpw = fmt(lo + (hi - lo) / 3);
  const std::string a = (dir_ / "t1.gguf").string(), b = (dir_ / "t2.gguf").string();
  const BitAllocationResult r1 = run_bit_allocation(in_, a, options(parse_target_bpw(bpw), 1));
  const BitAllocationResult r2 = run_bit_allocation(in_, b, options(parse_target_bpw(bpw), 2));
  for (size_t u = 0; u < r1.units.size(); ++u)
    for (size_t k = 0; k < r1.units[u].candidates.size(); ++k)
      EXPECT_EQ(r1.units[u].candidates[k].kld, r2.units[u].candidates[k].kld) << r1.units[u].name << " " << k;
  EXPECT_EQ(file_bytes(a), file_bytes(b));
}

}  // namespace
}  // namespace quantlab
