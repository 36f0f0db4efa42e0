#include "quantlab/calib/packing.hpp"

#include "quantlab/text/script_mix.hpp"
#include "quantlab/core/error.hpp"

#include <algorithm>
#include <numeric>

namespace quantlab::calib {
namespace {

// splitmix64: a small generator whose output is the same on every platform and standard library
// (std::uniform_int_distribution is not), so a seed names one selection everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) {  // unbiased, by rejection
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = next();
    while (x >= limit);
    return x % n;
  }

 private:
  uint64_t s_;
};

// k of `pool`, chosen by a partial Fisher-Yates shuffle.
std::vector<size_t> sample_k(std::vector<size_t> pool, size_t k, Rng& rng) {
  k = std::min(k, pool.size());
  for (size_t i = 0; i < k; ++i) std::swap(pool[i], pool[i + rng.below(pool.size() - i)]);
  pool.resize(k);
  return pool;
}

// Splits `total` over groups in proportion to their sizes (largest remainder), capped by size.
std::vector<size_t> proportional_quotas(const std::vector<size_t>& sizes, size_t total) {
  const size_t n = std::accumulate(sizes.begin(), sizes.end(), size_t{0});
  std::vector<size_t> q(sizes.size(), 0);
  if (n == 0) return q;
  total = std::min(total, n);
  std::vector<std::pair<double, size_t>> rem;
  size_t used = 0;
  for (size_t g = 0; g < sizes.size(); ++g) {
    const double exact = static_cast<double>(total) * static_cast<double>(sizes[g]) / static_cast<double>(n);
    q[g] = static_cast<size_t>(exact);
    used += q[g];
    rem.emplace_back(exact - static_cast<double>(q[g]), g);
  }
  std::stable_sort(rem.begin(), rem.end(), [](auto& a, auto& b) { return a.first > b.first; });
  for (size_t k = 0; used < total && k < rem.size(); ++k)
    if (q[rem[k].second] < sizes[rem[k].second]) ++q[rem[k].second], ++used;
  return q;
}

// Splits `budget` equally over groups; a group smaller than its share gives the rest to the others.
std::vector<size_t> equal_shares(const std::vector<size_t>& sizes, size_t budget) {
  std::vector<size_t> q(sizes.size(), 0);
  while (budget > 0) {
    std::vector<size_t> active;
    for (size_t g = 0; g < sizes.size(); ++g)
      if (q[g] < sizes[g]) active.push_back(g);
    if (active.empty()) break;
    const size_t share = budget / active.size();
    if (share == 0) {
      for (size_t k = 0; k < budget; ++k) ++q[active[k]];
      break;
    }
    for (size_t g : active) {
      const size_t add = std::min(share, sizes[g] - q[g]);
      q[g] += add;
      budget -= add;
    }
  }
  return q;
}

// `k` of `pool`, stratified by category when asked; file order unless shuffled.
std::vector<size_t> choose(const std::vector<size_t>& pool, size_t k, const std::vector<std::string>& categories,
                           const SelectionOptions& opt, Rng& rng) {
  std::vector<size_t> out;
  if (k >= pool.size() && !opt.shuffle) return pool;
  if (!opt.stratify) {
    out = sample_k(pool, k, rng);
  } else {
    std::map<std::string, std::vector<size_t>> groups;
    for (size_t i : pool) groups[categories[i]].push_back(i);
    std::vector<size_t> sizes;
    for (auto& [c, v] : groups) sizes.push_back(v.size());
    const auto quotas = proportional_quotas(sizes, k);
    size_t g = 0;
    for (auto& [c, v] : groups) {
      auto part = sample_k(v, quotas[g++], rng);
      out.insert(out.end(), part.begin(), part.end());
    }
  }
  if (opt.shuffle) {
    for (size_t i = out.size(); i > 1; --i) std::swap(out[i - 1], out[rng.below(i)]);
  } else {
    std::sort(out.begin(), out.end());
  }
  return out;
}

}  // namespace

const char* packing_name(Packing p) {
  switch (p) {
    case Packing::PerSample: return "per-sample";
    case Packing::ConcatChunk: return "concat-chunk";
    case Packing::ImatrixChunk: return "imatrix-chunk";
  }
  return "?";
}

Packing parse_packing(const std::string& name) {
  for (Packing p : {Packing::PerSample, Packing::ConcatChunk, Packing::ImatrixChunk})
    if (name == packing_name(p)) return p;
  throw Error("--packing", name, "unknown packing (expected per-sample, concat-chunk or imatrix-chunk)");
}

const char* overflow_name(Overflow o) { return o == Overflow::Truncate ? "truncate" : "drop"; }

Overflow parse_overflow(const std::string& name) {
  if (name == "truncate") return Overflow::Truncate;
  if (name == "drop") return Overflow::Drop;
  throw Error("--overflow", name, "expected truncate or drop");
}

std::vector<int32_t> tokenize_sample(const std::string& text, bool templated, const TokenizerFn& tok) {
  if (!tok.encode) throw Error("tokenizer", "", "no tokenizer was given");
  std::vector<int32_t> ids = tok.encode(text, !templated, templated);
  if (tok.bos_id >= 0 && tok.add_bos) {
    size_t lead = 0;
    while (lead < ids.size() && ids[lead] == tok.bos_id) ++lead;
    if (lead == 0) ids.insert(ids.begin(), tok.bos_id);
    else if (lead > 1) ids.erase(ids.begin(), ids.begin() + static_cast<long>(lead - 1));
  }
  return ids;
}

std::vector<size_t> select_samples(const std::vector<std::string>& languages, const std::vector<std::string>& categories,
                                   const std::vector<size_t>& token_counts, const SelectionOptions& opt,
                                   PackingStats& stats) {
  const size_t n = token_counts.size();
  std::vector<size_t> pool;
  for (size_t i = 0; i < n; ++i) {
    if (opt.min_tokens && token_counts[i] < opt.min_tokens) {
      ++stats.filtered_short;
      continue;
    }
    if (opt.max_tokens && token_counts[i] > opt.max_tokens) {
      ++stats.filtered_long;
      continue;
    }
    pool.push_back(i);
  }
  Rng rng(opt.seed);
  std::vector<size_t> out;
  if (opt.language_order.empty()) {
    out = choose(pool, opt.num_samples ? opt.num_samples : pool.size(), categories, opt, rng);
  } else {
    // Equal shares per language (a language with too few samples leaves its share to the next
    // ones), concatenated in the requested order.
    std::vector<std::vector<size_t>> by_lang(opt.language_order.size());
    for (size_t i : pool) {
      auto it = std::find(opt.language_order.begin(), opt.language_order.end(), languages[i]);
      if (it == opt.language_order.end()) ++stats.filtered_language;
      else by_lang[static_cast<size_t>(it - opt.language_order.begin())].push_back(i);
    }
    std::vector<size_t> sizes;
    for (auto& v : by_lang) sizes.push_back(v.size());
    size_t budget = std::accumulate(sizes.begin(), sizes.end(), size_t{0});
    if (opt.num_samples) budget = std::min(budget, opt.num_samples);
    const auto quotas = equal_shares(sizes, budget);
    for (size_t g = 0; g < by_lang.size(); ++g) {
      auto part = choose(by_lang[g], quotas[g], categories, opt, rng);
      out.insert(out.end(), part.begin(), part.end());
    }
  }
  for (size_t i : out) {
    ++stats.languages[languages[i]];
    ++stats.categories[categories[i]];
  }
  stats.selected = out.size();
  return out;
}

PackedSet pack(const std::vector<Sample>& samples, const FormatOptions& fmt, const TokenizerFn& tok,
               const PackingOptions& opt) {
  if (opt.seq_len == 0) throw Error("--seq-len", "0", "must be at least 1");
  PackedSet out;
  out.stats.input_samples = samples.size();
  std::vector<std::vector<int32_t>> ids(samples.size());
  std::vector<std::string> languages(samples.size()), categories(samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    const std::string text = format_sample(samples[i], fmt);
    const bool templated = uses_chat_template(samples[i], fmt);
    if (opt.mode == Packing::ImatrixChunk) ids[i] = tok.encode(text, false, false);  // as llama.cpp imatrix
    else ids[i] = tokenize_sample(text, templated, tok);
    languages[i] = text::language_of(text);
    categories[i] = samples[i].category;
    out.sample_tokens.push_back(ids[i].size());
  }
  out.selected = select_samples(languages, categories, out.sample_tokens, opt.select, out.stats);
  const size_t L = opt.seq_len;
  if (opt.mode == Packing::PerSample) {
    for (size_t i : out.selected) {
      std::vector<int32_t> t = ids[i];
      if (t.size() > L) {
        if (opt.overflow == Overflow::Drop) {
          ++out.stats.dropped;
          continue;
        }
        t.resize(L);
        ++out.stats.truncated;
      }
      out.stats.tokens += t.size();
      out.sequences.push_back({std::move(t), {i}});
    }
  } else {
    std::vector<int32_t> stream;
    std::vector<std::pair<size_t, size_t>> spans;  // [begin, end) of each selected sample
    for (size_t i : out.selected) {
      spans.emplace_back(stream.size(), stream.size() + ids[i].size());
      stream.insert(stream.end(), ids[i].begin(), ids[i].end());
    }
    const size_t blocks = stream.size() / L, usable = blocks * L;
    out.stats.discarded_tail_tokens = stream.size() - usable;
    for (size_t b = 0; b < blocks; ++b) {
      PackedSequence seq;
      seq.tokens.assign(stream.begin() + static_cast<long>(b * L), stream.begin() + static_cast<long>((b + 1) * L));
      if (opt.mode == Packing::ImatrixChunk && tok.bos_id >= 0 && tok.add_bos) {
        if (seq.tokens[0] != tok.bos_id) ++out.stats.bos_overwrites;
        seq.tokens[0] = tok.bos_id;
      }
      for (size_t k = 0; k < spans.size(); ++k)
        if (spans[k].first < (b + 1) * L && spans[k].second > b * L && spans[k].second > spans[k].first)
          seq.samples.push_back(out.selected[k]);
      out.stats.tokens += seq.tokens.size();
      out.sequences.push_back(std::move(seq));
    }
    for (const auto& [s, e] : spans) {
      if (e == s) continue;
      if (s >= usable) ++out.stats.lost_samples;
      else if (e > usable || s / L != (e - 1) / L) ++out.stats.cut_samples;
    }
  }
  out.stats.sequences = out.sequences.size();
  return out;
}

}  // namespace quantlab::calib
