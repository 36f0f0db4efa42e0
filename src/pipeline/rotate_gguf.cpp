// GGUF -> rotated GGUF (see the header): the source's tensor order and metadata order, the rotated
// tensors streamed one at a time into their planned slots, so memory holds one tensor.
#include "quantlab/pipeline/rotate_gguf.hpp"

#include "quantlab/backend/thread_pool.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/core/sha256.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/io/gguf_writer.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/quant/rotation.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <set>

namespace quantlab::pipeline {
namespace {

std::vector<uint8_t> encode(const RotatedTensor& t, FormatId type) {
  const size_t row = row_bytes(type, t.cols);
  std::vector<uint8_t> out(row * size_t(t.rows));
  const FormatTraits& f = format_traits(type);
  for (int64_t r = 0; r < t.rows; ++r) f.from_float(t.values.data() + r * t.cols, out.data() + size_t(r) * row, t.cols, nullptr);
  return out;
}

}  // namespace

RotateGgufResult rotate_gguf(const std::string& in_path, const std::string& out_path, const RotateGgufOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.type != FormatId::F32 && o.type != FormatId::F16)
    throw Error("--type", std::string(format_traits(o.type).name), "a rotated model is written as F32 or F16");
  std::error_code ec;
  if (std::filesystem::equivalent(in_path, out_path, ec) && !ec) throw Error(out_path, "", "output would overwrite the input");
  if (model_file_kind(in_path) != ModelFileKind::Gguf)
    throw Error(in_path, "", "rotate reads GGUF files (convert a folder with llama.cpp's convert_hf_to_gguf.py, a llama2.c checkpoint with quantlab convert)");
  const Model m = load_gguf_model(in_path);
  check_rotatable(m);
  const GgufFile in(in_path);

  RotateGgufResult r;
  r.arch = m.config.arch;
  r.n_embd = m.config.n_embd;
  r.seed = o.seed;
  r.untied = m.config.tied_embeddings;
  r.source_sha256 = sha256_file(in_path);
  const Rotation q = o.fold_only ? Rotation::identity(m.config.n_embd) : Rotation(m.config.n_embd, o.seed, o.force_random);
  r.construction = q.construction();
  r.hadamard = q.is_hadamard();

  // Names the rotation writes (a dry pass would rotate everything; the list is fixed by the model).
  std::set<std::string> rotated = {"token_embd.weight", "output_norm.weight", "output.weight"};
  for (int64_t l = 0; l < m.config.n_layer; ++l)
    for (const char* s : {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"})
      rotated.insert("blk." + std::to_string(l) + "." + s + ".weight");
  auto type_of = [&](const std::vector<int64_t>& ne) { return ne.size() == 1 ? FormatId::F32 : o.type; };

  GgufWriter w(in.version());
  for (const auto& [k, v] : in.metadata())
    if (k != "split.no" && k != "split.count" && k != "split.tensors.count") w.set(k, v);
  auto append = [&](const std::string& k, GgufValue v) {  // moved to the end, as llama.cpp's gguf_set_val_* does
    w.remove(k);
    w.set(k, std::move(v));
  };
  append("general.file_type", GgufValue::u32(o.type == FormatId::F32 ? 0 : 1));
  append("quantlab.version", GgufValue::str(QUANTLAB_VERSION));
  append("quantlab.source.file", GgufValue::str(std::filesystem::path(in_path).filename().string()));
  append("quantlab.source.sha256", GgufValue::str(r.source_sha256));
  append("quantlab.method", GgufValue::str("rotate"));
  const nlohmann::json params = {{"seed", o.seed}, {"type", std::string(format_traits(o.type).name)},
                                 {"construction", r.construction}, {"untied_output", r.untied}};
  append("quantlab.params", GgufValue::str(params.dump()));
  append("quantlab.rotation.seed", GgufValue::u64(o.seed));
  append("quantlab.rotation.construction", GgufValue::str(r.construction));
  append("quantlab.rotation.source.sha256", GgufValue::str(r.source_sha256));

  for (const GgufTensorInfo& t : in.tensors()) {
    const bool rot = rotated.count(t.name) > 0;
    w.declare_tensor(t.name, t.ne, rot ? type_of(t.ne) : t.type);
    (rot ? r.tensors_rotated : r.tensors_copied) += 1;
  }
  if (r.untied) {
    w.declare_tensor("output.weight", {m.config.n_embd, m.config.n_vocab}, o.type);
    ++r.tensors_rotated;
  }

  GgufStream out(w, out_path);
  for (const GgufTensorInfo& t : in.tensors())
    if (!rotated.count(t.name)) out.write(t.name, in.tensor_data(t), size_t(t.nbytes));
  ThreadPool pool(o.threads);
  for_each_rotated_tensor(m, q, pool, [&](RotatedTensor&& t) {
    if (t.rows == 1 || o.type == FormatId::F32) out.write(t.name, t.values.data(), t.values.size() * sizeof(float));
    else {
      const std::vector<uint8_t> bytes = encode(t, o.type);
      out.write(t.name, bytes.data(), bytes.size());
    }
  });
  out.commit();
  r.file_size = std::filesystem::file_size(out_path);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace quantlab::pipeline
