#include "quantlab/io/tensor_source.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/foreign_error.hpp"
#include "src/io/quote.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace quantlab {
namespace fs = std::filesystem;

int64_t TensorView::n_elements() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

void WeightSource::add(TensorView v) {
  if (!index_.emplace(v.name, tensors_.size()).second) throw Error(path(), "tensor " + io_detail::printable_name(v.name), "duplicate tensor name");
  tensors_.push_back(std::move(v));
}

const TensorView* WeightSource::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorView& WeightSource::get(const std::string& name) const {
  if (const auto* t = find(name)) return *t;
  throw Error(path(), "tensor " + io_detail::printable_name(name), "no such tensor");
}

nlohmann::json gguf_value_to_json(const GgufValue& v, size_t max_array_items) {
  switch (v.type) {
    case GgufType::STRING: return std::get<std::string>(v.v);
    case GgufType::BOOL: return std::get<bool>(v.v);
    case GgufType::FLOAT32: case GgufType::FLOAT64: return std::get<double>(v.v);
    case GgufType::ARRAY: {
      const auto& a = *std::get<std::shared_ptr<GgufArray>>(v.v);
      nlohmann::json items = nlohmann::json::array();
      const size_t n = std::min(a.items.size(), max_array_items);
      for (size_t i = 0; i < n; ++i) items.push_back(gguf_value_to_json(a.items[i], max_array_items));
      if (n == a.items.size()) return items;
      return {{"array", gguf_type_name(a.elem_type)}, {"length", a.items.size()}, {"first", items}};
    }
    default:
      if (const auto* u = std::get_if<uint64_t>(&v.v)) return *u;
      return std::get<int64_t>(v.v);
  }
}

GgufSource::GgufSource(const std::string& path) : file_(path) {
  for (const auto& t : file_.tensors()) {
    TensorView v;
    v.name = t.name;
    v.shape.assign(t.ne.rbegin(), t.ne.rend());
    v.format = t.type;
    v.dtype = std::string(format_traits(t.type).name);
    v.data = file_.tensor_data(t);
    v.nbytes = size_t(t.nbytes);
    add(std::move(v));
  }
}

std::string GgufSource::architecture() const { return file_.get_string("general.architecture", std::string("unknown")); }

nlohmann::json GgufSource::metadata(size_t max_array_items) const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : file_.metadata()) j[k] = gguf_value_to_json(v, max_array_items);
  return j;
}

SafetensorsSource::SafetensorsSource(const std::string& path) : path_(path) {
  if (is_hf_model_dir(path)) {
    hf_ = read_hf_model_dir(path);
    if (!hf_->weights) throw Error(path, "weights", "no model.safetensors nor model.safetensors.index.json in this folder");
    checkpoint_ = std::make_unique<SafetensorsCheckpoint>(*hf_->weights);
  } else {
    checkpoint_ = std::make_unique<SafetensorsCheckpoint>(path);
  }
  for (const auto& e : checkpoint_->tensors()) {
    TensorView v;
    v.name = e.tensor->name;
    v.shape = e.tensor->shape;
    v.dtype = std::string(e.tensor->dtype->name);
    v.format = e.tensor->dtype->format;
    v.data = e.file->data(*e.tensor);
    v.nbytes = size_t(e.tensor->nbytes());
    add(std::move(v));
  }
}

std::string SafetensorsSource::architecture() const {
  if (hf_) return hf_->architecture();
  const auto& m = checkpoint_->metadata();
  if (auto it = m.find("architecture"); it != m.end()) return it->second;
  return "unknown";
}

nlohmann::json SafetensorsSource::metadata(size_t) const {
  nlohmann::json j = nlohmann::json::object();
  if (hf_) {
    j["config.json"] = hf_->config.json;
    if (hf_->generation_config) j["generation_config.json"] = hf_->generation_config->json;
    if (hf_->tokenizer_json) j["tokenizer.json"] = *hf_->tokenizer_json;
  }
  if (!checkpoint_->metadata().empty()) j["__metadata__"] = checkpoint_->metadata();
  j["files"] = nlohmann::json::array();
  for (const auto& f : checkpoint_->files()) j["files"].push_back(f->path());
  return j;
}

Llama2cSource::Llama2cSource(const std::string& path) : checkpoint_(path) {
  for (const auto& t : checkpoint_.tensors()) {
    TensorView v;
    v.name = t.name;
    v.shape = t.shape;
    v.dtype = "F32";
    v.format = FormatId::F32;
    v.data = reinterpret_cast<const uint8_t*>(t.data);
    v.nbytes = size_t(t.n_elements()) * 4;
    add(std::move(v));
  }
}

nlohmann::json Llama2cSource::metadata(size_t) const {
  const auto& c = checkpoint_.config();
  return {{"dim", c.dim},           {"hidden_dim", c.hidden_dim}, {"n_layers", c.n_layers},
          {"n_heads", c.n_heads},   {"n_kv_heads", c.n_kv_heads}, {"vocab_size", c.vocab_size},
          {"seq_len", c.seq_len},   {"shared_classifier", c.shared_classifier}};
}

std::unique_ptr<WeightSource> open_weight_source(const std::string& path) try {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return std::make_unique<SafetensorsSource>(path);
  if (!fs::exists(path, ec)) throw Error(path, "path", "no such file or folder");
  if (!fs::is_regular_file(path, ec)) throw Error(path, "path", "not a regular file");
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) return std::make_unique<SafetensorsSource>(path);
  uint8_t head[9] = {};
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(head), sizeof(head));
  const auto got = size_t(in.gcount());
  if (got >= 4 && std::memcmp(head, "GGUF", 4) == 0) return std::make_unique<GgufSource>(path);
  if (got == 9 && head[8] == '{') return std::make_unique<SafetensorsSource>(path);
  const std::string ext = fs::path(path).extension().string();
  if (ext == ".safetensors") return std::make_unique<SafetensorsSource>(path);
  if (ext == ".gguf") return std::make_unique<GgufSource>(path);
  if (ext == ".bin") return std::make_unique<Llama2cSource>(path);
  throw Error(path, "format", "not a model file (not a GGUF, safetensors or llama2.c file, nor a model folder)");
} catch (...) {
  rethrow_as_error(path, "");
}

}  // namespace quantlab
