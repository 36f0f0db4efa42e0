#include "quantlab/core/error.hpp"
#include "quantlab/core/foreign_error.hpp"
#include "quantlab/io/json.hpp"
#include "quantlab/io/safetensors.hpp"
#include "src/io/quote.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

namespace quantlab {
namespace {

using io_detail::printable_name;

// The reference implementation refuses headers above 100 MB; no real checkpoint comes close.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

uint64_t json_offset(const nlohmann::json& v, const std::string& source, const std::string& field) {
  if (!v.is_number_unsigned()) throw Error(source, field, "expected a non-negative integer, found " + v.dump().substr(0, 40));
  return v.get<uint64_t>();
}

SafetensorsTensor parse_tensor(const std::string& source, const std::string& name, const nlohmann::json& j) {
  const std::string field = "tensor " + printable_name(name);
  if (name.empty()) throw Error(source, "tensor ''", "empty tensor name");
  if (!j.is_object()) throw Error(source, field, "expected an object with dtype, shape and data_offsets");
  SafetensorsTensor t;
  t.name = name;
  const auto dt = j.find("dtype");
  if (dt == j.end() || !dt->is_string()) throw Error(source, field + " dtype", "missing or not a string");
  t.dtype = find_safetensors_dtype(dt->get_ref<const std::string&>());
  if (!t.dtype) throw Error(source, field + " dtype", "unknown dtype " + printable_name(dt->get<std::string>(), 24));
  const auto sh = j.find("shape");
  if (sh == j.end() || !sh->is_array()) throw Error(source, field + " shape", "missing or not an array");
  if (sh->size() > 8) throw Error(source, field + " shape", std::to_string(sh->size()) + " dimensions (at most 8 supported)");
  uint64_t n = 1;
  for (size_t d = 0; d < sh->size(); ++d) {
    const uint64_t dim = json_offset((*sh)[d], source, field + " shape[" + std::to_string(d) + "]");
    if (dim > (uint64_t(1) << 40)) throw Error(source, field + " shape[" + std::to_string(d) + "]", "dimension " + std::to_string(dim) + " is too large");
    if (dim != 0 && n > (uint64_t(1) << 50) / dim) throw Error(source, field + " shape", "element count overflows");
    n *= dim;
    t.shape.push_back(int64_t(dim));
  }
  const auto off = j.find("data_offsets");
  if (off == j.end() || !off->is_array() || off->size() != 2)
    throw Error(source, field + " data_offsets", "missing or not a [begin, end] pair");
  t.begin = json_offset((*off)[0], source, field + " data_offsets");
  t.end = json_offset((*off)[1], source, field + " data_offsets");
  if (t.end < t.begin) throw Error(source, field + " data_offsets", "end " + std::to_string(t.end) + " is before begin " + std::to_string(t.begin));
  const uint64_t want = n * t.dtype->bytes;
  if (t.end - t.begin != want)
    throw Error(source, field + " data_offsets",
                std::to_string(t.end - t.begin) + " bytes, but shape and dtype " + std::string(t.dtype->name) + " take " + std::to_string(want));
  return t;
}

}  // namespace

const std::vector<SafetensorsDtype>& safetensors_dtypes() {
  static const std::vector<SafetensorsDtype> table = {
      {"F64", 8, FormatId::F64},  {"F32", 4, FormatId::F32},  {"F16", 2, FormatId::F16},
      {"BF16", 2, FormatId::BF16}, {"I64", 8, FormatId::I64},  {"I32", 4, FormatId::I32},
      {"I16", 2, FormatId::I16},  {"I8", 1, FormatId::I8},    {"U64", 8, std::nullopt},
      {"U32", 4, std::nullopt},   {"U16", 2, std::nullopt},   {"U8", 1, std::nullopt},
      {"BOOL", 1, std::nullopt},  {"F8_E4M3", 1, std::nullopt}, {"F8_E5M2", 1, std::nullopt},
  };
  return table;
}

const SafetensorsDtype* find_safetensors_dtype(std::string_view name) {
  for (const auto& d : safetensors_dtypes())
    if (d.name == name) return &d;
  return nullptr;
}

int64_t SafetensorsTensor::n_elements() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

SafetensorsHeader parse_safetensors(const std::string& source, const uint8_t* data, size_t size) try {
  if (size < 8) throw Error(source, "header length", "file of " + std::to_string(size) + " bytes is too short for the 8-byte header length");
  uint64_t n;
  std::memcpy(&n, data, 8);
  if (n > kMaxHeaderBytes) throw Error(source, "header length", std::to_string(n) + " bytes exceeds the 100 MB limit");
  if (n > size - 8) throw Error(source, "header length", std::to_string(n) + " bytes, but only " + std::to_string(size - 8) + " follow");
  if (n < 2 || data[8] != '{') throw Error(source, "header", "does not start with a JSON object");
  const std::string_view text(reinterpret_cast<const char*>(data + 8), size_t(n));
  const nlohmann::json j = parse_json(text, source, JsonLimits{}, "header");
  if (!j.is_object()) throw Error(source, "header", "is not a JSON object");

  SafetensorsHeader h;
  h.data_offset = 8 + n;
  const uint64_t data_size = size - h.data_offset;
  for (const auto& [key, value] : j.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) throw Error(source, "__metadata__", "expected an object of strings");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) throw Error(source, "__metadata__ " + printable_name(mk), "expected a string value");
        h.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    SafetensorsTensor t = parse_tensor(source, key, value);
    if (t.end > data_size)
      throw Error(source, "tensor " + printable_name(t.name) + " data_offsets",
                  "range [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + ") lies past the end of the data (" +
                      std::to_string(data_size) + " bytes)");
    h.tensors.push_back(std::move(t));
  }
  std::sort(h.tensors.begin(), h.tensors.end(), [](const auto& a, const auto& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const SafetensorsTensor* prev = nullptr;
  for (const auto& t : h.tensors) {
    if (t.nbytes() == 0) continue;
    if (prev && prev->end > t.begin)
      throw Error(source, "tensor " + printable_name(t.name) + " data_offsets", "overlaps tensor " + printable_name(prev->name));
    prev = &t;
  }
  return h;
} catch (...) {
  rethrow_as_error(source, "header");
}

SafetensorsFile::SafetensorsFile(const std::string& path) try : file_(path) {
  header_ = parse_safetensors(path, file_.data(), file_.size());
  for (size_t i = 0; i < header_.tensors.size(); ++i) index_.emplace(header_.tensors[i].name, i);
} catch (...) {
  rethrow_as_error(path, "");
}

const SafetensorsTensor* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

SafetensorsCheckpoint::SafetensorsCheckpoint(const std::string& path) try {
  namespace fs = std::filesystem;
  std::error_code ec;
  path_ = path;
  if (fs::is_directory(path, ec)) {
    const auto single = fs::path(path) / "model.safetensors";
    const auto index = fs::path(path) / "model.safetensors.index.json";
    if (fs::exists(index, ec)) path_ = index.string();
    else if (fs::exists(single, ec)) path_ = single.string();
    else throw Error(path, "weights", "no model.safetensors nor model.safetensors.index.json in this folder");
  }
  const bool is_index = path_.size() >= 5 && path_.compare(path_.size() - 5, 5, ".json") == 0;
  if (!is_index) {
    files_.push_back(std::make_unique<SafetensorsFile>(path_));
  } else {
    const nlohmann::json j = read_json_file(path_);
    const auto* wm = json_member(j, "weight_map");
    if (!wm || !wm->is_object() || wm->empty()) throw Error(path_, "weight_map", "missing, empty or not an object");
    std::map<std::string, size_t> shard_of_file;
    const fs::path dir = fs::path(path_).parent_path();
    std::map<std::string, std::string> wanted;  // tensor -> shard
    for (const auto& [tensor, shard] : wm->items()) {
      const std::string field = "weight_map " + io_detail::printable_name(tensor);
      if (!shard.is_string()) throw Error(path_, field, "expected a shard file name");
      const std::string s = shard.get<std::string>();
      // Shards live beside the index; a path that climbs out of the folder is refused.
      if (s.empty() || s.find('/') != std::string::npos || s.find('\\') != std::string::npos || s == "." || s == "..")
        throw Error(path_, field, "shard " + io_detail::printable_name(s) + " is not a plain file name in the same folder");
      if (!shard_of_file.count(s)) {
        shard_of_file[s] = files_.size();
        files_.push_back(std::make_unique<SafetensorsFile>((dir / s).string()));
      }
      wanted[tensor] = s;
    }
    for (const auto& [tensor, s] : wanted)
      if (!files_[shard_of_file[s]]->find(tensor))
        throw Error(path_, "weight_map " + io_detail::printable_name(tensor), "tensor is not in shard " + io_detail::printable_name(s));
  }
  for (const auto& f : files_)
    for (const auto& t : f->tensors()) {
      if (index_.count(t.name))
        throw Error(f->path(), "tensor " + io_detail::printable_name(t.name), "also present in " + entries_[index_[t.name]].file->path());
      index_.emplace(t.name, entries_.size());
      entries_.push_back({f.get(), &t});
    }
} catch (...) {
  rethrow_as_error(path, "");
}

const SafetensorsCheckpoint::Entry* SafetensorsCheckpoint::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

const std::map<std::string, std::string>& SafetensorsCheckpoint::metadata() const { return files_.front()->metadata(); }

}  // namespace quantlab
