// Sensitivity measurement (see the header): the base's layer inputs are kept so each candidate
// reruns only the layers at and after its unit.
#include "quantlab/pipeline/sensitivity.hpp"

#include "quantlab/backend/thread_pool.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/eval/kld.hpp"
#include "quantlab/model/layer_runner.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/quant/gguf_quantize.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <memory>
#include <sstream>

namespace quantlab {
namespace {

int layer_of(const std::string& name) {
  int layer = -1;
  if (name.rfind("blk.", 0) == 0) std::sscanf(name.c_str(), "blk.%d.", &layer);
  return layer;
}

// The linear of a layer a tensor name is, or null for anything the forward pass does not swap.
WeightMatrix* layer_matrix(LayerWeights& w, const std::string& name) {
  const size_t dot = name.find('.', 4);
  const std::string role = dot == std::string::npos ? "" : name.substr(dot + 1);
  if (role == "attn_q.weight") return &w.wq;
  if (role == "attn_k.weight") return &w.wk;
  if (role == "attn_v.weight") return &w.wv;
  if (role == "attn_output.weight") return &w.wo;
  if (role == "ffn_gate.weight") return &w.ffn_gate;
  if (role == "ffn_up.weight") return &w.ffn_up;
  if (role == "ffn_down.weight") return &w.ffn_down;
  return nullptr;
}

std::string unit_of(const std::string& name, AllocationUnitKind kind) {
  const int layer = layer_of(name);
  if (layer < 0 || kind == AllocationUnitKind::Tensor) return name;
  const std::string blk = "blk." + std::to_string(layer);
  if (kind == AllocationUnitKind::Layer) return blk;
  return blk + (name.find(".attn_") != std::string::npos ? ".attn" : ".ffn");
}

GgufTarget pure_target(FormatId t) {
  std::string name(format_traits(t).name);
  for (char& c : name) c = char(std::toupper(static_cast<unsigned char>(c)));
  try {
    return parse_gguf_target(name);
  } catch (const Error&) {  // a registry type llama-quantize has no file type for (MXFP4 ...)
    return {name, 0, t, false};
  }
}

uint64_t align_up(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

// `src` (rows x cols in `from`) encoded row by row to `to`, as gguf_quantize encodes it.
WeightMatrix quantize_matrix(ThreadPool& pool, const uint8_t* src, FormatId from, FormatId to, int64_t rows, int64_t cols,
                             const std::vector<float>& importance) {
  const auto& f = format_traits(from);
  const auto& t = format_traits(to);
  const size_t src_row = row_bytes(from, cols), dst_row = row_bytes(to, cols);
  auto bytes = std::make_shared<std::vector<uint8_t>>(dst_row * size_t(rows));
  pool.parallel_for(rows, [&](int64_t b, int64_t e, int) {
    std::vector<float> x(static_cast<size_t>(cols));
    for (int64_t r = b; r < e; ++r) {
      f.to_float(src + size_t(r) * src_row, x.data(), cols);
      uint8_t* y = bytes->data() + size_t(r) * dst_row;
      if (to == FormatId::F32) std::copy(x.begin(), x.end(), reinterpret_cast<float*>(y));
      else t.from_float(x.data(), y, cols, importance.empty() ? nullptr : importance.data());
    }
  });
  WeightMatrix w = make_weight_matrix(to, bytes->data(), rows, cols);
  w.storage = bytes;
  return w;
}

}  // namespace

AllocationUnitKind parse_allocation_unit(const std::string& name) {
  if (name == "tensor") return AllocationUnitKind::Tensor;
  if (name == "group") return AllocationUnitKind::Group;
  if (name == "layer") return AllocationUnitKind::Layer;
  throw Error("--alloc-unit", name, "one of: tensor, group, layer");
}

const char* allocation_unit_name(AllocationUnitKind kind) {
  switch (kind) {
    case AllocationUnitKind::Tensor: return "tensor";
    case AllocationUnitKind::Group: return "group";
    case AllocationUnitKind::Layer: return "layer";
  }
  return "?";
}

std::vector<FormatId> default_allocation_ladder() {
  return {FormatId::Q2_K, FormatId::Q3_K, FormatId::IQ4_XS, FormatId::Q4_K, FormatId::Q5_K, FormatId::Q6_K, FormatId::Q8_0};
}

std::vector<FormatId> parse_allocation_ladder(const std::string& list) {
  std::vector<FormatId> ladder;
  std::stringstream in(list);
  std::string name;
  while (std::getline(in, name, ',')) {
    const FormatTraits* t = find_format(name);
    if (!t || int(t->id) >= 1000) throw Error("--alloc-types", name, "not a GGUF tensor type");
    if (!t->is_quantized) throw Error("--alloc-types", name, "not a quantized type (the ladder's top is the largest type it names)");
    if (!t->from_float) throw Error("--alloc-types", name, "quantlab cannot encode this type");
    if (std::find(ladder.begin(), ladder.end(), t->id) != ladder.end()) throw Error("--alloc-types", name, "named twice");
    ladder.push_back(t->id);
  }
  if (ladder.empty()) throw Error("--alloc-types", list, "no type given");
  return ladder;
}

std::vector<AllocationUnit> plan_allocation_units(const GgufFile& in, AllocationUnitKind kind,
                                                  const std::vector<FormatId>& ladder, const Imatrix* imatrix) {
  std::vector<std::vector<GgufTensorPlan>> plans;
  for (FormatId t : ladder) {
    GgufQuantizeOptions o;
    o.target = pure_target(t);
    o.pure = true;  // the ladder type itself, then llama.cpp's fallback where rows do not fit
    o.imatrix = imatrix;
    plans.push_back(plan_gguf_quantization(in, o));
  }
  std::vector<AllocationUnit> units;
  std::map<std::string, size_t> index;
  std::vector<std::vector<size_t>> members;  // plan rows of each unit
  LayerWeights probe;
  for (size_t i = 0; i < plans[0].size(); ++i) {
    const GgufTensorPlan& p = plans[0][i];
    if (!p.quantizable) continue;
    if (p.name != "token_embd.weight" && p.name != "output.weight" && !layer_matrix(probe, p.name))
      throw Error(in.path(), p.name, "bit allocation can only measure the embedding, the output head and the seven linears of a layer");
    const std::string u = unit_of(p.name, kind);
    if (!index.count(u)) {
      index[u] = units.size();
      units.push_back({u, {}, {}});
      members.emplace_back();
    }
    units[index[u]].tensors.push_back(p.name);
    members[index[u]].push_back(i);
  }
  const uint64_t al = in.alignment();
  for (size_t u = 0; u < units.size(); ++u) {
    for (size_t k = 0; k < ladder.size(); ++k) {
      AllocationCandidate c;
      c.ladder_type = ladder[k];
      for (size_t i : members[u]) {
        const GgufTensorPlan& p = plans[k][i];
        int64_t rows = 1;
        for (size_t d = 1; d < p.ne.size(); ++d) rows *= p.ne[d];
        const uint64_t b = row_bytes(p.to, p.ne[0]) * uint64_t(rows);
        c.types.push_back(p.to);
        c.bytes += b;
        c.padded_bytes += align_up(b, al);
      }
      for (size_t j = 0; j < k && c.same_as < 0; ++j)
        if (units[u].candidates[j].types == c.types) c.same_as = int(j);
      units[u].candidates.push_back(std::move(c));
    }
  }
  return units;
}

void measure_sensitivity(const std::string& model_path, std::span<const int32_t> tokens, const SensitivityOptions& o,
                         std::vector<AllocationUnit>& units, const SensitivityProgress& progress) {
  const Model model = load_model(model_path);
  const GgufFile in(model_path);
  const ModelConfig& cfg = model.config;
  const int64_t n_ctx = o.n_ctx;
  if (n_ctx < 4) throw Error("--alloc-ctx", std::to_string(n_ctx), "must be at least 4");
  const int64_t n_chunks = std::min<int64_t>(o.n_chunks, int64_t(tokens.size()) / n_ctx);
  if (n_chunks < 1)
    throw Error("--alloc-text", "tokens", "needs at least one chunk of " + std::to_string(n_ctx) + " tokens, the text has " +
                                              std::to_string(tokens.size()));
  // Chunks as llama-perplexity cuts them: BOS in place of the first token, the second half scored.
  std::vector<std::vector<int32_t>> samples;
  for (int64_t c = 0; c < n_chunks; ++c) {
    samples.emplace_back(tokens.begin() + c * n_ctx, tokens.begin() + (c + 1) * n_ctx);
    if (cfg.add_bos) samples.back()[0] = cfg.bos_id;
  }
  const int64_t first = n_ctx / 2, scored = n_ctx - 1 - first, n_vocab = cfg.n_vocab;
  const int64_t words = compressed_logprob_words(n_vocab);
  const int n_layer = int(model.layers.size());

  ThreadPool pool(o.threads);
  LayerRunner runner(cfg, pool);
  runner.set_micro_batch(n_ctx);
  SampleBatch batch = runner.embed(model, samples);
  std::vector<std::vector<float>> inputs(size_t(n_layer) + 1);  // layer l's input; [n_layer]: the head's
  for (int l = 0; l < n_layer; ++l) {
    inputs[size_t(l)] = batch.hidden;
    runner.run_layer(l, model.layers[size_t(l)], batch);
  }
  inputs[size_t(n_layer)] = batch.hidden;
  std::vector<float> logits;
  std::vector<std::vector<uint16_t>> base(samples.size());
  for (size_t s = 0; s < samples.size(); ++s) {
    runner.logits(model, batch, int64_t(s), logits, first);
    base[s].resize(size_t(scored * words));
    for (int64_t j = 0; j < scored; ++j)
      compress_logprobs(logits.data() + j * n_vocab, n_vocab, samples[s][size_t(first + j + 1)], base[s].data() + j * words);
  }
  auto kld_of = [&](LayerRunner& r, const Model& m, const SampleBatch& b) {
    KldAccumulator acc;
    for (size_t s = 0; s < samples.size(); ++s) {
      r.logits(m, b, int64_t(s), logits, first);
      for (int64_t j = 0; j < scored; ++j)
        acc.add(logits.data() + j * n_vocab, base[s].data() + j * words, n_vocab, samples[s][size_t(first + j + 1)]);
    }
    return acc.summary().kld_mean;
  };

  int64_t total = 0, done = 0;
  for (const auto& u : units)
    for (const auto& c : u.candidates) total += c.same_as < 0;
  const bool tied = model.output.data == model.token_embd.data;
  for (AllocationUnit& u : units) {
    for (AllocationCandidate& c : u.candidates) {
      if (c.same_as >= 0) continue;
      std::vector<WeightMatrix> q;  // the unit's tensors in the candidate's types
      for (size_t i = 0; i < u.tensors.size(); ++i) {
        const GgufTensorInfo* t = in.find_tensor(u.tensors[i]);
        const auto& src = format_traits(t->type);
        if (src.is_quantized || !src.to_float)
          throw Error(model_path, t->name, "is " + std::string(src.name) + ": sensitivity is measured from F32/F16/BF16 weights (dequantize first with --type F32)");
        std::vector<float> importance;
        if (o.imatrix && format_traits(c.types[i]).is_quantized)
          if (const auto it = o.imatrix->entries.find(t->name); it != o.imatrix->entries.end())
            importance = llama_quantize_importance(it->second);
        q.push_back(quantize_matrix(pool, in.tensor_data(*t), t->type, c.types[i], t->n_elements() / t->ne[0], t->ne[0], importance));
      }
      const int layer = layer_of(u.tensors[0]);
      if (layer >= 0) {
        LayerWeights w = model.layers[size_t(layer)];
        for (size_t i = 0; i < u.tensors.size(); ++i) *layer_matrix(w, u.tensors[i]) = q[i];
        batch.hidden = inputs[size_t(layer)];
        runner.run_layer(layer, w, batch);
        for (int l = layer + 1; l < n_layer; ++l) runner.run_layer(l, model.layers[size_t(l)], batch);
        c.kld = kld_of(runner, model, batch);
      } else {
        // The embedding (and the head, when tied to it) or the head: a copy of the model with it
        // swapped, on a runner of its own (a runner keeps the head it placed for a model).
        Model m = model;
        for (size_t i = 0; i < u.tensors.size(); ++i) {
          if (u.tensors[i] == "token_embd.weight") {
            m.token_embd = q[i];
            if (tied) m.output = q[i];
          } else {
            m.output = q[i];
          }
        }
        LayerRunner r(cfg, pool);
        r.set_micro_batch(n_ctx);
        SampleBatch b;
        if (m.token_embd.data != model.token_embd.data) {
          b = r.embed(m, samples);
          for (int l = 0; l < n_layer; ++l) r.run_layer(l, model.layers[size_t(l)], b);
        } else {
          b = batch;
          b.hidden = inputs[size_t(n_layer)];
        }
        c.kld = kld_of(r, m, b);
      }
      if (progress) progress(++done, total, u.name);
    }
    for (AllocationCandidate& c : u.candidates)
      if (c.same_as >= 0) c.kld = u.candidates[size_t(c.same_as)].kld;
  }
}

}  // namespace quantlab
