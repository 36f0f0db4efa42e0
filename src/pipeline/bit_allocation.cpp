// Bit allocation (see the header): plan, check the budget, measure (or reuse), solve, write.
#include "quantlab/pipeline/bit_allocation.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/sha256.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/quant/choice_knapsack.hpp"

#include <chrono>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

namespace quantlab {
namespace {

uint64_t align_up(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

std::string type_name(FormatId t) { return std::string(format_traits(t).name); }

GgufValue f64(double x) { return {GgufType::FLOAT64, x}; }

std::string fmt(const char* f, double x) {
  char b[64];
  std::snprintf(b, sizeof b, f, x);
  return b;
}

// The GGUF target whose file type the output records: the ladder type holding most weights.
GgufTarget dominant_target(const GgufFile& in, const std::vector<AllocationUnit>& units, const std::vector<int>& choice,
                           const std::vector<FormatId>& ladder) {
  std::map<FormatId, int64_t> weights;
  for (size_t u = 0; u < units.size(); ++u)
    for (const std::string& name : units[u].tensors) weights[ladder[size_t(choice[u])]] += in.find_tensor(name)->n_elements();
  FormatId best = ladder[0];
  for (const auto& [t, n] : weights)
    if (n > weights[best]) best = t;
  std::string name = type_name(best);
  for (char& c : name) c = char(std::toupper(static_cast<unsigned char>(c)));
  try {
    return parse_gguf_target(name);
  } catch (const Error&) {
    return {name, 0, best, false};
  }
}

// Writing options for a choice. The metadata's size does not depend on the choice (numbers and
// arrays of fixed length), so the header measured for one choice is the header of every choice.
GgufQuantizeOptions write_options(const GgufFile& in, const BitAllocationOptions& o, const BitAllocationResult& r,
                                  const std::vector<int>& choice) {
  GgufQuantizeOptions w;
  w.target = dominant_target(in, r.units, choice, o.ladder);
  w.pure = true;
  w.imatrix = o.imatrix;
  w.imatrix_path = o.imatrix_path;
  w.threads = o.threads;
  w.params_json = o.params_json;
  w.method = "gguf-allocation";
  std::vector<std::string> ladder, units;
  std::vector<GgufValue> kld, bytes, chosen;
  for (FormatId t : o.ladder) ladder.push_back(type_name(t));
  double predicted = 0;
  for (size_t u = 0; u < r.units.size(); ++u) {
    const AllocationUnit& unit = r.units[u];
    units.push_back(unit.name);
    const AllocationCandidate& c = unit.candidates[size_t(choice[u])];
    for (size_t i = 0; i < unit.tensors.size(); ++i) w.tensor_types[unit.tensors[i]] = c.types[i];
    for (const AllocationCandidate& k : unit.candidates) {
      kld.push_back(f64(k.kld));
      bytes.push_back(GgufValue::u64(k.bytes));
    }
    chosen.push_back(GgufValue::u32(uint32_t(choice[u])));
    predicted += c.kld;
  }
  auto& m = w.extra_metadata;
  m.emplace_back("quantlab.allocation.budget", GgufValue::str(o.budget.text));
  m.emplace_back("quantlab.allocation.budget_bytes", GgufValue::u64(r.budget_bytes));
  m.emplace_back("quantlab.allocation.unit", GgufValue::str(allocation_unit_name(o.unit)));
  m.emplace_back("quantlab.allocation.ladder", GgufValue::string_array(ladder));
  m.emplace_back("quantlab.allocation.units", GgufValue::string_array(units));
  m.emplace_back("quantlab.allocation.kld", GgufValue::array(GgufType::FLOAT64, std::move(kld)));
  m.emplace_back("quantlab.allocation.bytes", GgufValue::array(GgufType::UINT64, std::move(bytes)));
  m.emplace_back("quantlab.allocation.choice", GgufValue::array(GgufType::UINT32, std::move(chosen)));
  m.emplace_back("quantlab.allocation.predicted_kld", f64(predicted));
  m.emplace_back("quantlab.allocation.text.file", GgufValue::str(r.text_file));
  m.emplace_back("quantlab.allocation.text.sha256", GgufValue::str(r.text_sha256));
  m.emplace_back("quantlab.allocation.text.chunks", GgufValue::u32(uint32_t(r.n_chunks)));
  m.emplace_back("quantlab.allocation.text.ctx", GgufValue::u32(uint32_t(r.n_ctx)));
  if (!o.reuse_path.empty())
    m.emplace_back("quantlab.allocation.reused_from", GgufValue::str(std::filesystem::path(o.reuse_path).filename().string()));
  return w;
}

// The measured table of an earlier allocation of the same model, unit, ladder and imatrix.
void reuse_measurement(const std::string& path, const std::string& source_sha256, const BitAllocationOptions& o,
                       BitAllocationResult& r) {
  const GgufFile prev(path);
  auto need = [&](const std::string& key) -> const GgufValue& {
    const GgufValue* v = prev.find(key);
    if (!v) throw Error(path, key, "missing: not a quantlab bit-allocation file");
    return *v;
  };
  auto strings = [&](const std::string& key) {
    std::vector<std::string> v;
    for (const GgufValue& x : need(key).as_array(path, key).items) v.push_back(x.as_string(path, key));
    return v;
  };
  if (need("quantlab.source.sha256").as_string(path, "quantlab.source.sha256") != source_sha256)
    throw Error(path, "quantlab.source.sha256", "was measured on another source model");
  if (need("quantlab.allocation.unit").as_string(path, "quantlab.allocation.unit") != allocation_unit_name(o.unit))
    throw Error(path, "quantlab.allocation.unit", "measured with another --alloc-unit");
  std::vector<std::string> ladder;
  for (FormatId t : o.ladder) ladder.push_back(type_name(t));
  if (strings("quantlab.allocation.ladder") != ladder) throw Error(path, "quantlab.allocation.ladder", "measured with another --alloc-types");
  std::vector<std::string> units;
  for (const auto& u : r.units) units.push_back(u.name);
  if (strings("quantlab.allocation.units") != units) throw Error(path, "quantlab.allocation.units", "other units than this model's");
  const GgufValue* im = prev.find("quantlab.imatrix.sha256");
  const std::string want_im = o.imatrix ? sha256_file(o.imatrix_path) : "";
  if ((im ? im->as_string(path, "quantlab.imatrix.sha256") : std::string()) != want_im)
    throw Error(path, "quantlab.imatrix.sha256", "measured with another importance matrix (or with/without one)");
  const auto& kld = need("quantlab.allocation.kld").as_array(path, "quantlab.allocation.kld").items;
  if (kld.size() != units.size() * ladder.size()) throw Error(path, "quantlab.allocation.kld", "wrong number of values");
  size_t i = 0;
  for (auto& u : r.units)
    for (auto& c : u.candidates) c.kld = kld[i++].as_double(path, "quantlab.allocation.kld");
  r.text_file = need("quantlab.allocation.text.file").as_string(path, "quantlab.allocation.text.file");
  r.text_sha256 = need("quantlab.allocation.text.sha256").as_string(path, "quantlab.allocation.text.sha256");
  r.n_chunks = need("quantlab.allocation.text.chunks").as_int(path, "quantlab.allocation.text.chunks");
  r.n_ctx = need("quantlab.allocation.text.ctx").as_int(path, "quantlab.allocation.text.ctx");
  r.reused = true;
}

}  // namespace

BitAllocationResult run_bit_allocation(const std::string& in_path, const std::string& out_path, const BitAllocationOptions& o,
                                       const BitAllocationProgress& progress) {
  std::error_code ec;
  if (std::filesystem::equivalent(in_path, out_path, ec) && !ec) throw Error(out_path, "", "output would overwrite the input");
  const GgufFile in(in_path);
  BitAllocationResult r;
  r.units = plan_allocation_units(in, o.unit, o.ladder, o.imatrix);
  std::map<std::string, bool> in_unit;
  for (const auto& u : r.units)
    for (const auto& t : u.tensors) {
      in_unit[t] = true;
      const auto& f = format_traits(in.find_tensor(t)->type);
      if (f.is_quantized)
        throw Error(in_path, t, "is " + std::string(f.name) + ": bit allocation measures and quantizes F32/F16/BF16 weights (dequantize first with --type F32)");
    }
  // Tensors outside every unit (norms, biases) keep their type: a fixed part of any budget.
  uint64_t fixed = 0, fixed_padded = 0, n_elements = 0;
  for (const auto& t : in.tensors()) {
    n_elements += uint64_t(t.n_elements());
    if (in_unit.count(t.name)) continue;
    fixed += t.nbytes;
    fixed_padded += align_up(t.nbytes, in.alignment());
  }
  r.text_file = std::filesystem::path(o.text_path).filename().string();
  r.text_sha256 = o.text_sha256;
  r.n_ctx = o.n_ctx;
  r.n_chunks = std::min<int64_t>(o.n_chunks, int64_t(o.tokens.size()) / std::max<int64_t>(1, o.n_ctx));
  // A reused table brings its own text provenance, which the header below must already hold.
  const std::string source_sha = sha256_file(in_path);
  if (!o.reuse_path.empty()) reuse_measurement(o.reuse_path, source_sha, o, r);

  const bool by_size = o.budget.kind == AllocationBudget::Kind::FileSize;
  std::vector<std::vector<KnapsackOption>> groups(r.units.size());
  for (size_t u = 0; u < r.units.size(); ++u)
    for (const auto& c : r.units[u].candidates) groups[u].push_back({by_size ? c.padded_bytes : c.bytes, 0.0});
  // Everything but the units' tensor data: the fixed tensors, and for a file size the header
  // (its size measured on the smallest choice; every choice has the same).
  uint64_t overhead = fixed;
  std::vector<int> smallest(r.units.size(), 0);
  for (size_t u = 0; u < r.units.size(); ++u)
    for (size_t k = 0; k < groups[u].size(); ++k)
      if (groups[u][k].size < groups[u][size_t(smallest[u])].size) smallest[u] = int(k);
  const std::string placeholder_sha(64, '0');
  if (by_size) {
    const GgufQuantizeOptions w = write_options(in, o, r, smallest);
    const uint64_t file = gguf_quantize_layout(in, in_path, plan_gguf_quantization(in, w), w, placeholder_sha).file_size();
    uint64_t data = fixed_padded;
    for (size_t u = 0; u < r.units.size(); ++u) data += groups[u][size_t(smallest[u])].size;
    overhead = file - data + fixed_padded;
    r.budget_bytes = o.budget.bytes;
  } else {
    r.budget_bytes = uint64_t(std::floor((long double)(o.budget.bpw) * (long double)(n_elements) / 8.0L));
  }
  r.min_bytes = overhead + knapsack_min_size(groups);
  r.max_bytes = overhead + knapsack_max_size(groups);
  if (r.budget_bytes < r.min_bytes || r.budget_bytes > r.max_bytes) {
    std::string range;
    if (by_size)
      range = std::to_string(r.min_bytes) + " to " + std::to_string(r.max_bytes) + " bytes (" +
              fmt("%.2f", double(r.min_bytes) / 1048576.0) + " to " + fmt("%.2f", double(r.max_bytes) / 1048576.0) + " MiB)";
    else
      range = fmt("%.4f", 8.0 * double(r.min_bytes) / double(n_elements)) + " to " +
              fmt("%.4f", 8.0 * double(r.max_bytes) / double(n_elements)) + " bpw";
    std::string ladder;
    for (FormatId t : o.ladder) {
      if (!ladder.empty()) ladder += ',';
      ladder += type_name(t);
    }
    throw Error(o.budget.flag, o.budget.value,
                std::string(r.budget_bytes < r.min_bytes ? "below" : "above") + " what the types " + ladder + " reach on " +
                    in_path + ": " + range);
  }

  if (o.reuse_path.empty() && (o.n_ctx < 4 || r.n_chunks < 1))
    throw Error("--alloc-text", o.text_path, "needs at least one chunk of " + std::to_string(o.n_ctx) + " tokens (--alloc-ctx), the text has " +
                                                 std::to_string(o.tokens.size()));
  const auto t0 = std::chrono::steady_clock::now();
  if (o.reuse_path.empty()) {
    SensitivityOptions so;
    so.n_ctx = o.n_ctx;
    so.n_chunks = o.n_chunks;
    so.threads = o.threads;
    so.imatrix = o.imatrix;
    measure_sensitivity(in_path, o.tokens, so, r.units, progress.measure);
  }
  r.measure_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  for (size_t u = 0; u < r.units.size(); ++u)
    for (size_t k = 0; k < groups[u].size(); ++k) groups[u][k].cost = r.units[u].candidates[k].kld;
  const auto solution = solve_choice_knapsack(groups, r.budget_bytes - overhead);
  if (!solution) throw Error(out_path, "budget", "no choice of types fits (internal: the range check passed)");
  r.choice = solution->choice;
  r.granule = solution->granule;
  r.predicted_kld = solution->cost;
  r.used_bytes = overhead + solution->size;

  const GgufQuantizeOptions w = write_options(in, o, r, r.choice);
  // The exact size before writing, then the file itself: never over the budget.
  const std::vector<GgufTensorPlan> plan = plan_gguf_quantization(in, w);
  uint64_t data = 0;
  for (const auto& p : plan) {
    int64_t rows = 1;
    for (size_t d = 1; d < p.ne.size(); ++d) rows *= p.ne[d];
    data += row_bytes(p.to, p.ne[0]) * uint64_t(rows);
  }
  const uint64_t predicted = by_size ? gguf_quantize_layout(in, in_path, plan, w, source_sha).file_size() : data;
  if (predicted != r.used_bytes || predicted > r.budget_bytes)
    throw Error(out_path, "budget", "planned " + std::to_string(predicted) + " bytes against " + std::to_string(r.used_bytes) +
                                        " solved and a budget of " + std::to_string(r.budget_bytes) + " (internal error; nothing written)");
  r.written = gguf_quantize(in_path, out_path, w, progress.write);
  const uint64_t actual = by_size ? r.written.file_size : r.written.bytes_out;
  if (actual != predicted) {
    std::filesystem::remove(out_path, ec);
    throw Error(out_path, "budget", "wrote " + std::to_string(actual) + " bytes, planned " + std::to_string(predicted) + " (internal error; file removed)");
  }
  return r;
}

}  // namespace quantlab
