#include "quantlab/core/error.hpp"
#include "quantlab/core/foreign_error.hpp"
#include "quantlab/core/utf8.hpp"
#include "quantlab/io/gguf.hpp"
#include "src/io/quote.hpp"

#include <cstring>
#include <algorithm>
#include <limits>

namespace quantlab {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr int kMaxArrayDepth = 8;        // nested arrays deeper than this are refused (hostile input)

// A bounds-checked little-endian cursor over the mapped file.
class Cursor {
 public:
  Cursor(const std::string& path, const uint8_t* data, size_t size) : path_(path), data_(data), size_(size) {}

  template <typename T>
  T read(const std::string& field) {
    need(sizeof(T), field);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(const std::string& field) {
    const uint64_t n = read<uint64_t>(field + " (string length)");
    need(n, field + " (string of " + std::to_string(n) + " bytes)");
    std::string s(reinterpret_cast<const char*>(data_ + pos_), size_t(n));
    pos_ += size_t(n);
    return s;
  }

  void need(uint64_t n, const std::string& field) const {
    if (n > size_ - pos_)
      throw Error(path_, field, "truncated at offset " + std::to_string(pos_) + ": need " + std::to_string(n) +
                                    " bytes, " + std::to_string(size_ - pos_) + " left");
  }

  // Array elements left in the budget of the whole file: each costs far more memory than its
  // on-disk bytes, so a hostile file of huge byte arrays could otherwise exhaust memory.
  void take_items(uint64_t n, const std::string& field) {
    if (n > items_left_) throw Error(path_, field, "more than 2^24 array elements in the metadata");
    items_left_ -= n;
  }

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  const std::string& path() const { return path_; }

 private:
  const std::string& path_;
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  uint64_t items_left_ = uint64_t(1) << 24;
};

size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::UINT8: case GgufType::INT8: case GgufType::BOOL: return 1;
    case GgufType::UINT16: case GgufType::INT16: return 2;
    case GgufType::UINT32: case GgufType::INT32: case GgufType::FLOAT32: return 4;
    case GgufType::UINT64: case GgufType::INT64: case GgufType::FLOAT64: return 8;
    case GgufType::STRING: return 8;  // at least its length field
    case GgufType::ARRAY: return 12;  // at least type + count
  }
  return 0;
}

GgufValue read_value(Cursor& c, GgufType type, const std::string& key, int depth) {
  GgufValue v;
  v.type = type;
  switch (type) {
    case GgufType::UINT8: v.v = uint64_t(c.read<uint8_t>(key)); break;
    case GgufType::INT8: v.v = int64_t(c.read<int8_t>(key)); break;
    case GgufType::UINT16: v.v = uint64_t(c.read<uint16_t>(key)); break;
    case GgufType::INT16: v.v = int64_t(c.read<int16_t>(key)); break;
    case GgufType::UINT32: v.v = uint64_t(c.read<uint32_t>(key)); break;
    case GgufType::INT32: v.v = int64_t(c.read<int32_t>(key)); break;
    case GgufType::UINT64: v.v = c.read<uint64_t>(key); break;
    case GgufType::INT64: v.v = c.read<int64_t>(key); break;
    case GgufType::FLOAT32: v.v = double(c.read<float>(key)); break;
    case GgufType::FLOAT64: v.v = c.read<double>(key); break;
    case GgufType::BOOL: {
      const uint8_t b = c.read<uint8_t>(key);
      if (b > 1) throw Error(c.path(), key, "bool value " + std::to_string(b) + " is neither 0 nor 1");
      v.v = b != 0;
      break;
    }
    case GgufType::STRING: v.v = c.read_string(key); break;
    case GgufType::ARRAY: {
      if (depth >= kMaxArrayDepth) throw Error(c.path(), key, "arrays nested deeper than 8 levels");
      auto arr = std::make_shared<GgufArray>();
      const uint32_t et = c.read<uint32_t>(key + " (array type)");
      if (et > uint32_t(GgufType::FLOAT64)) throw Error(c.path(), key, "unknown array element type " + std::to_string(et));
      arr->elem_type = GgufType(et);
      const uint64_t n = c.read<uint64_t>(key + " (array length)");
      // Every element takes at least scalar_size bytes: refuse counts the file cannot hold
      // before allocating anything.
      if (n > c.remaining() / scalar_size(arr->elem_type))
        throw Error(c.path(), key, "array length " + std::to_string(n) + " exceeds the file size");
      c.take_items(n, key);
      arr->items.reserve(size_t(n));
      for (uint64_t i = 0; i < n; ++i) arr->items.push_back(read_value(c, arr->elem_type, key, depth + 1));
      v.v = std::move(arr);
      break;
    }
    default: throw Error(c.path(), key, "unknown value type " + std::to_string(uint32_t(type)));
  }
  return v;
}

}  // namespace

const char* gguf_type_name(GgufType t) {
  static const char* names[] = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
                                "bool",  "string", "array", "uint64", "int64", "float64"};
  return uint32_t(t) <= 12 ? names[uint32_t(t)] : "unknown";
}

GgufValue GgufValue::array(GgufType elem, std::vector<GgufValue> items) {
  auto a = std::make_shared<GgufArray>();
  a->elem_type = elem;
  a->items = std::move(items);
  return {GgufType::ARRAY, std::move(a)};
}

GgufValue GgufValue::string_array(const std::vector<std::string>& items) {
  std::vector<GgufValue> v;
  v.reserve(items.size());
  for (const auto& s : items) v.push_back(str(s));
  return array(GgufType::STRING, std::move(v));
}

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufType::UINT8: case GgufType::INT8: case GgufType::UINT16: case GgufType::INT16:
    case GgufType::UINT32: case GgufType::INT32: case GgufType::UINT64: case GgufType::INT64: return true;
    default: return false;
  }
}

int64_t GgufValue::as_int(const std::string& source, const std::string& key) const {
  if (const auto* u = std::get_if<uint64_t>(&v); u && is_integer()) {
    if (*u > uint64_t(std::numeric_limits<int64_t>::max())) throw Error(source, key, "value out of range");
    return int64_t(*u);
  }
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  throw Error(source, key, std::string("expected an integer, found ") + gguf_type_name(type));
}

double GgufValue::as_double(const std::string& source, const std::string& key) const {
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (is_integer()) return double(as_int(source, key));
  throw Error(source, key, std::string("expected a number, found ") + gguf_type_name(type));
}

bool GgufValue::as_bool(const std::string& source, const std::string& key) const {
  if (const auto* b = std::get_if<bool>(&v)) return *b;
  throw Error(source, key, std::string("expected a bool, found ") + gguf_type_name(type));
}

const std::string& GgufValue::as_string(const std::string& source, const std::string& key) const {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  throw Error(source, key, std::string("expected a string, found ") + gguf_type_name(type));
}

const GgufArray& GgufValue::as_array(const std::string& source, const std::string& key) const {
  if (const auto* a = std::get_if<std::shared_ptr<GgufArray>>(&v)) return **a;
  throw Error(source, key, std::string("expected an array, found ") + gguf_type_name(type));
}

int64_t GgufTensorInfo::n_elements() const {
  int64_t n = 1;
  for (auto d : ne) n *= d;
  return n;
}

GgufFile::GgufFile(const std::string& path) try : file_(path) {
  Cursor c(path, file_.data(), file_.size());
  const uint32_t magic = c.read<uint32_t>("magic");
  if (magic != kMagic) throw Error(path, "magic", "not a GGUF file");
  version_ = c.read<uint32_t>("version");
  if (version_ != 2 && version_ != 3)
    throw Error(path, "version", "GGUF version " + std::to_string(version_) + " is not supported (2 or 3)");
  const uint64_t n_tensors = c.read<uint64_t>("tensor_count");
  const uint64_t n_kv = c.read<uint64_t>("metadata_kv_count");
  // A KV takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info at least 8+4+8+4+8.
  if (n_kv > c.remaining() / 13) throw Error(path, "metadata_kv_count", std::to_string(n_kv) + " exceeds the file size");
  if (n_tensors > c.remaining() / 32) throw Error(path, "tensor_count", std::to_string(n_tensors) + " exceeds the file size");

  kv_.reserve(size_t(n_kv));
  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string field = "metadata[" + std::to_string(i) + "]";
    std::string key = c.read_string(field + " key");
    if (key.empty() || !is_valid_utf8(key)) throw Error(path, field, "key is empty or not valid UTF-8");
    const std::string key_field = io_detail::printable_field(key);
    const uint32_t t = c.read<uint32_t>(key_field + " (type)");
    if (t > uint32_t(GgufType::FLOAT64)) throw Error(path, key_field, "unknown value type " + std::to_string(t));
    GgufValue v = read_value(c, GgufType(t), key_field, 0);
    if (!kv_index_.emplace(key, kv_.size()).second) throw Error(path, key_field, "duplicate metadata key");
    kv_.emplace_back(std::move(key), std::move(v));
  }
  if (const auto* a = find("general.alignment")) {
    // llama.cpp refuses any other type for this key.
    if (a->type != GgufType::UINT32) throw Error(path, "general.alignment", std::string("expected uint32, found ") + gguf_type_name(a->type));
    const int64_t al = a->as_int(path, "general.alignment");
    if (al <= 0 || al > (1 << 20) || (al & (al - 1)) != 0)
      throw Error(path, "general.alignment", "alignment " + std::to_string(al) + " is not a power of two up to 1 MiB");
    alignment_ = uint64_t(al);
  }

  tensors_.reserve(size_t(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    t.name = c.read_string("tensor[" + std::to_string(i) + "] name");
    const std::string field = "tensor " + io_detail::printable_name(t.name);
    if (t.name.empty() || !is_valid_utf8(t.name)) throw Error(path, "tensor[" + std::to_string(i) + "]", "name is empty or not valid UTF-8");
    const uint32_t n_dims = c.read<uint32_t>(field + " n_dims");
    if (n_dims < 1 || n_dims > 4) throw Error(path, field, "n_dims " + std::to_string(n_dims) + " is not in 1..4");
    uint64_t n_el = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t ne = c.read<uint64_t>(field + " ne[" + std::to_string(d) + "]");
      if (ne == 0 || ne > (uint64_t(1) << 40) || n_el > (uint64_t(1) << 42) / ne)
        throw Error(path, field, "dimension " + std::to_string(d) + " = " + std::to_string(ne) + " is zero or too large");
      n_el *= ne;
      t.ne.push_back(int64_t(ne));
    }
    const uint32_t type = c.read<uint32_t>(field + " type");
    const FormatTraits* f = find_format(FormatId(type));
    if (!f) throw Error(path, field, "unknown tensor type " + std::to_string(type));
    t.type = f->id;
    if (t.ne[0] % f->block_size != 0)
      throw Error(path, field, "row of " + std::to_string(t.ne[0]) + " values is not a multiple of " +
                                   std::string(f->name) + "'s block size " + std::to_string(f->block_size));
    t.nbytes = (n_el / uint64_t(f->block_size)) * f->block_bytes;
    t.offset = c.read<uint64_t>(field + " offset");
    if (t.offset % alignment_ != 0)
      throw Error(path, field, "offset " + std::to_string(t.offset) + " is not aligned to " + std::to_string(alignment_));
    if (!tensor_index_.emplace(t.name, tensors_.size()).second) throw Error(path, field, "duplicate tensor name");
    tensors_.push_back(std::move(t));
  }

  data_offset_ = (c.pos() + alignment_ - 1) / alignment_ * alignment_;
  if (!tensors_.empty() && data_offset_ > file_.size())
    throw Error(path, "data section", "starts at " + std::to_string(data_offset_) + ", past the end of the file");
  const uint64_t data_size = file_.size() - std::min<uint64_t>(data_offset_, file_.size());
  // Data must lie inside the file and tensors must not overlap.
  std::vector<std::pair<uint64_t, size_t>> order;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const auto& t = tensors_[i];
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      throw Error(path, "tensor " + io_detail::printable_name(t.name),
                  "data [" + std::to_string(t.offset) + ", +" + std::to_string(t.nbytes) + ") lies past the end of the file");
    order.emplace_back(t.offset, i);
  }
  std::sort(order.begin(), order.end());
  for (size_t k = 1; k < order.size(); ++k) {
    const auto& prev = tensors_[order[k - 1].second];
    if (prev.offset + prev.nbytes > order[k].first)
      throw Error(path, "tensor " + io_detail::printable_name(tensors_[order[k].second].name),
                  "data overlaps tensor " + io_detail::printable_name(prev.name));
  }
} catch (...) {
  rethrow_as_error(path, "");
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const GgufValue& GgufFile::get(const std::string& key) const {
  if (const auto* v = find(key)) return *v;
  throw Error(path(), key, "missing metadata key");
}

int64_t GgufFile::get_int(const std::string& key, std::optional<int64_t> fallback) const {
  if (const auto* v = find(key)) return v->as_int(path(), key);
  if (fallback) return *fallback;
  throw Error(path(), key, "missing metadata key");
}

std::optional<int64_t> GgufFile::get_token_id(const std::string& key) const {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  const int64_t id = v->as_int(path(), key);
  if (gguf_token_id_is_none(id)) return std::nullopt;
  return id;
}

double GgufFile::get_double(const std::string& key, std::optional<double> fallback) const {
  if (const auto* v = find(key)) return v->as_double(path(), key);
  if (fallback) return *fallback;
  throw Error(path(), key, "missing metadata key");
}

std::string GgufFile::get_string(const std::string& key, std::optional<std::string> fallback) const {
  if (const auto* v = find(key)) return v->as_string(path(), key);
  if (fallback) return *fallback;
  throw Error(path(), key, "missing metadata key");
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace quantlab
