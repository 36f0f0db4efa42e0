// GGUF-to-GGUF quantization (see the header). Layout facts from llama.cpp's
// llama_model_quantize_impl: tensors in (layer, name) order, KV copied in order with
// general.quantization_version and general.file_type moved to the end, quantize.imatrix.* after.
#include "quantlab/quant/gguf_quantize.hpp"

#include "gguf_mix_rules.hpp"

#include "quantlab/backend/thread_pool.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/core/mapped_file.hpp"
#include "quantlab/core/sha256.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/io/gguf_writer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace quantlab {
namespace {

int layer_of(const std::string& name) {
  int layer = -1;
  if (name.rfind("blk.", 0) == 0) std::sscanf(name.c_str(), "blk.%d.", &layer);
  return layer;
}

// llama.cpp's loader visits weights sorted by layer (non-block tensors first), then by name.
std::vector<const GgufTensorInfo*> llama_cpp_order(const GgufFile& in) {
  std::vector<const GgufTensorInfo*> v;
  for (const auto& t : in.tensors()) v.push_back(&t);
  std::stable_sort(v.begin(), v.end(), [](const GgufTensorInfo* a, const GgufTensorInfo* b) {
    const int la = layer_of(a->name), lb = layer_of(b->name);
    if (la != lb) return la < lb;
    return a->name < b->name;
  });
  return v;
}

gguf_mix::ModelFacts model_facts(const GgufFile& in) {
  gguf_mix::ModelFacts m;
  const std::string arch = in.get_string("general.architecture", std::string("llama"));
  m.n_layer = int(in.get_int(arch + ".block_count", 0));
  const int64_t n_head = in.get_int(arch + ".attention.head_count", 1);
  const int64_t n_head_kv = in.get_int(arch + ".attention.head_count_kv", n_head);
  m.n_gqa = n_head_kv > 0 ? int(n_head / n_head_kv) : 1;
  m.n_expert = int(in.get_int(arch + ".expert_count", 0));
  for (const auto& t : in.tensors()) {
    const auto c = gguf_mix::category_of(t.name);
    if (c == gguf_mix::Category::AttnV || c == gguf_mix::Category::AttnQKV || c == gguf_mix::Category::AttnKVB)
      ++m.n_attention_wv;
    if (c == gguf_mix::Category::Output) m.tied_embeddings = false;
  }
  return m;
}

// An imatrix made for another model is refused as a whole (llama.cpp only notices size mismatches
// of the tensors it happens to quantize).
void check_imatrix_fits(const GgufFile& in, const Imatrix& im, const std::string& im_path) {
  size_t matched = 0;
  for (const auto& [name, e] : im.entries) {
    const GgufTensorInfo* t = in.find_tensor(name);
    if (!t)
      throw Error(im_path, name, "imatrix entry names no tensor of " + in.path() + " (an imatrix for another model?)");
    const int64_t experts = t->ne.size() > 2 ? t->ne[2] : 1;
    if (int64_t(e.sum_x2.size()) != t->ne[0] * experts)
      throw Error(im_path, name, "has " + std::to_string(e.sum_x2.size()) + " columns, the model's tensor has " +
                                     std::to_string(t->ne[0] * experts) + " (an imatrix for another model?)");
    ++matched;
  }
  if (matched == 0) throw Error(im_path, "entries", "the imatrix has no entries");
}

}  // namespace

std::vector<float> llama_quantize_importance(const ImatrixEntry& e) {
  std::vector<float> w(e.sum_x2.size());
  const float count = float(e.count);
  for (size_t j = 0; j < w.size(); ++j) w[j] = count > 0 ? float(e.sum_x2[j]) / count : 1.0f;
  return w;
}

std::vector<GgufTensorPlan> plan_gguf_quantization(const GgufFile& in, const GgufQuantizeOptions& o) {
  if (o.imatrix) check_imatrix_fits(in, *o.imatrix, o.imatrix_path);
  gguf_mix::TypeChooser chooser(o, model_facts(in));
  std::vector<GgufTensorPlan> plan;
  for (const GgufTensorInfo* t : llama_cpp_order(in)) {
    GgufTensorPlan p;
    p.name = t->name;
    p.ne = t->ne;
    p.from = t->type;
    p.quantizable = gguf_mix::allows_quantization(t->name, t->ne);
    p.to = p.quantizable ? chooser.choose(t->name, t->ne, t->type, p.fell_back) : t->type;
    p.requires_imatrix = p.quantizable && gguf_mix::requires_imatrix(t->name, p.to, o.target.file_type);
    const bool changes = p.to != p.from;
    p.uses_imatrix = changes && o.imatrix && o.imatrix->entries.count(t->name) > 0 && format_traits(p.to).is_quantized;
    if (p.requires_imatrix && !(o.imatrix && o.imatrix->entries.count(t->name)))
      throw Error(t->name, std::string(format_traits(p.to).name),
                  o.imatrix ? "the imatrix has no entry for this tensor, which this type needs"
                            : "type " + o.target.name + " needs an importance matrix (--imatrix) for this tensor");
    const auto& ft = format_traits(p.to);
    if (changes && ft.is_quantized && !ft.from_float)
      throw Error(t->name, std::string(ft.name), "quantlab cannot encode this type");
    if (changes && !format_traits(p.from).to_float) throw Error(t->name, std::string(format_traits(p.from).name), "quantlab cannot decode this type");
    if (t->ne[0] % ft.block_size != 0)
      throw Error(t->name, std::string(ft.name), "rows of " + std::to_string(t->ne[0]) + " values do not fit blocks of " +
                                                     std::to_string(ft.block_size));
    plan.push_back(std::move(p));
  }
  return plan;
}

GgufWriter gguf_quantize_layout(const GgufFile& in, const std::string& in_path, const std::vector<GgufTensorPlan>& plan,
                                const GgufQuantizeOptions& o, const std::string& source_sha256) {
  GgufWriter w(in.version());
  for (const auto& [k, v] : in.metadata()) {
    if (k == "split.no" || k == "split.count" || k == "split.tensors.count") continue;
    w.set(k, v);
  }
  // gguf_set_val_* in llama.cpp removes a key and appends it.
  auto append = [&](const std::string& k, GgufValue v) {
    w.remove(k);
    w.set(k, std::move(v));
  };
  append("general.quantization_version", GgufValue::u32(2));
  append("general.file_type", GgufValue::u32(o.target.file_type));
  if (o.imatrix) {
    append("quantize.imatrix.file", GgufValue::str(o.imatrix_path.substr(0, 127)));
    if (!o.imatrix->datasets.empty()) append("quantize.imatrix.dataset", GgufValue::str(o.imatrix->datasets[0].substr(0, 127)));
    append("quantize.imatrix.entries_count", GgufValue::u32(uint32_t(o.imatrix->entries.size())));
    if (o.imatrix->chunk_count > 0) append("quantize.imatrix.chunks_count", GgufValue::u32(uint32_t(o.imatrix->chunk_count)));
  }
  append("quantlab.version", GgufValue::str(QUANTLAB_VERSION));
  append("quantlab.source.file", GgufValue::str(std::filesystem::path(in_path).filename().string()));
  append("quantlab.source.sha256", GgufValue::str(source_sha256));
  append("quantlab.method", GgufValue::str(o.method));
  append("quantlab.params", GgufValue::str(o.params_json));
  for (const auto& [k, v] : o.extra_metadata) append(k, v);
  if (o.imatrix) {
    append("quantlab.imatrix.file", GgufValue::str(std::filesystem::path(o.imatrix_path).filename().string()));
    append("quantlab.imatrix.sha256", GgufValue::str(sha256_file(o.imatrix_path)));
    append("quantlab.imatrix.datasets", GgufValue::string_array(o.imatrix->datasets));
    if (!o.imatrix->dataset_sha256.empty())
      append("quantlab.imatrix.dataset_sha256", GgufValue::str(o.imatrix->dataset_sha256));
    if (!o.imatrix->calibration.empty())
      append("quantlab.imatrix.calibration", GgufValue::str(o.imatrix->calibration));
    append("quantlab.imatrix.chunk_count", GgufValue::u64(uint64_t(std::max<int64_t>(0, o.imatrix->chunk_count))));
    append("quantlab.imatrix.chunk_size", GgufValue::u64(uint64_t(std::max<int64_t>(0, o.imatrix->chunk_size))));
  }
  for (const GgufTensorPlan& p : plan) w.declare_tensor(p.name, p.ne, p.to);
  return w;
}

GgufQuantizeStream::GgufQuantizeStream(const std::string& in_path, const std::string& out_path, const GgufQuantizeOptions& o)
    : t0_(std::chrono::steady_clock::now()), in_path_(in_path), out_path_(out_path), o_(o), pool_(o.threads) {
  std::error_code ec;  // either path missing or unreadable: not the same file (and no filesystem_error)
  if (std::filesystem::equivalent(in_path, out_path, ec) && !ec)
    throw Error(out_path, "", "output would overwrite the input");
  in_ = std::make_unique<GgufFile>(in_path);
  const GgufFile& in = *in_;
  r_.tensors = plan_gguf_quantization(in, o);
  r_.source_sha256 = sha256_file(in_path);

  GgufWriter w = gguf_quantize_layout(in, in_path, r_.tensors, o, r_.source_sha256);
  for (size_t i = 0; i < r_.tensors.size(); ++i) index_[r_.tensors[i].name] = i;
  done_.assign(r_.tensors.size(), false);
  stream_ = std::make_unique<GgufStream>(w, out_path);
}

GgufQuantizeStream::~GgufQuantizeStream() = default;

void GgufQuantizeStream::put(const std::string& name, FormatId type, const std::vector<uint8_t>& bytes) {
  const auto it = index_.find(name);
  if (it == index_.end()) throw Error(in_path_, name, "a precomputed tensor names no tensor of the model");
  GgufTensorPlan& p = r_.tensors[it->second];
  if (done_[it->second]) throw Error(p.name, "bytes", "written twice");
  if (type != p.to)
    throw Error(p.name, std::string(format_traits(type).name),
                "was encoded as this type, the plan gives " + std::string(format_traits(p.to).name));
  const GgufTensorInfo& t = *in_->find_tensor(p.name);
  const int64_t n_per_row = t.ne[0], n_rows = t.n_elements() / n_per_row;
  if (bytes.size() != row_bytes(p.to, n_per_row) * size_t(n_rows))
    throw Error(p.name, "bytes", "precomputed tensor data has the wrong size");
  // Decode the source too (a NaN/Inf weight is refused as for encoded tensors) and count it.
  check_source(p, t, false);
  stream_->write(p.name, bytes.data(), bytes.size());
  r_.bytes_out += bytes.size();
  done_[it->second] = true;
}

// Reads the source tensor in row chunks (their pages released once used): refuses non-finite
// weights; with `encode`, writes each chunk encoded to the planned type (or copied when it stays).
void GgufQuantizeStream::check_source(GgufTensorPlan& p, const GgufTensorInfo& t, bool encode) {
  const uint8_t* src = in_->tensor_data(t);
  const int64_t n_per_row = t.ne[0];
  const int64_t n_rows = t.n_elements() / n_per_row;
  r_.n_elements += uint64_t(t.n_elements());
  r_.bytes_in += t.nbytes;
  if (p.fell_back) ++r_.n_fallback;
  const auto& from = format_traits(p.from);
  const auto& to = format_traits(p.to);
  const size_t src_row = row_bytes(p.from, n_per_row);
  const size_t dst_row = row_bytes(p.to, n_per_row);
  std::vector<float> imp;
  if (encode && p.uses_imatrix) imp = llama_quantize_importance(o_.imatrix->entries.at(p.name));
  // Rows are independent (per-row encoders), so chunking changes no byte.
  const int64_t chunk = std::max<int64_t>(1, (int64_t(8) << 20) / std::max<int64_t>(1, n_per_row * 4));
  std::vector<float> f32;
  std::vector<uint8_t> out;
  for (int64_t r0 = 0; r0 < n_rows; r0 += chunk) {
    const int64_t nr = std::min(chunk, n_rows - r0);
    const uint8_t* csrc = src + size_t(r0) * src_row;
    // Decode every row (also of tensors copied unchanged) so that a NaN/Inf weight is refused.
    const bool decodable = from.to_float != nullptr;
    if (decodable) {
      f32.resize(size_t(nr * n_per_row));
      std::vector<int64_t> bad(size_t(pool_.size()), -1);
      pool_.parallel_for(nr, [&](int64_t b, int64_t e, int th) {
        for (int64_t row = b; row < e; ++row) {
          float* y = f32.data() + row * n_per_row;
          from.to_float(csrc + size_t(row) * src_row, y, n_per_row);
          if (bad[size_t(th)] < 0)
            for (int64_t j = 0; j < n_per_row; ++j)
              if (!std::isfinite(y[j])) {
                bad[size_t(th)] = row * n_per_row + j;
                break;
              }
        }
      });
      for (int64_t b : bad)
        if (b >= 0) throw Error(in_path_, p.name, "weight " + std::to_string(r0 * n_per_row + b) + " is NaN or infinite");
    }
    if (encode) {
      if (p.to == p.from) {
        stream_->write(p.name, csrc, size_t(nr) * src_row);
      } else {
        out.resize(dst_row * size_t(nr));
        pool_.parallel_for(nr, [&](int64_t b, int64_t e, int) {
          for (int64_t row = b; row < e; ++row) {
            const float* x = f32.data() + row * n_per_row;
            uint8_t* y = out.data() + size_t(row) * dst_row;
            if (p.to == FormatId::F32) std::memcpy(y, x, size_t(n_per_row) * 4);
            else to.from_float(x, y, n_per_row, imp.empty() ? nullptr : imp.data());
          }
        });
        stream_->write(p.name, out.data(), out.size());
      }
    }
    release_mapped_pages(csrc, size_t(nr) * src_row);
  }
  if (encode) r_.bytes_out += p.to == p.from ? t.nbytes : dst_row * size_t(n_rows);
}

void GgufQuantizeStream::encode_pending(const std::string& prefix, const GgufQuantizeProgress& progress) {
  for (size_t i = 0; i < r_.tensors.size(); ++i) {
    GgufTensorPlan& p = r_.tensors[i];
    if (done_[i] || p.name.rfind(prefix, 0) != 0) continue;
    if (progress) progress(i, r_.tensors.size(), p.name);
    check_source(p, *in_->find_tensor(p.name), true);
    done_[i] = true;
  }
}

GgufQuantizeResult GgufQuantizeStream::finish(const GgufQuantizeProgress& progress) {
  encode_pending("", progress);
  stream_->commit();
  r_.file_size = std::filesystem::file_size(out_path_);
  r_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  return r_;
}

GgufQuantizeResult gguf_quantize(const std::string& in_path, const std::string& out_path, const GgufQuantizeOptions& o,
                                 const GgufQuantizeProgress& progress) {
  GgufQuantizeStream s(in_path, out_path, o);
  if (o.precomputed)
    for (const auto& [name, tensor] : *o.precomputed) s.put(name, tensor.first, tensor.second);
  return s.finish(progress);
}

}  // namespace quantlab
