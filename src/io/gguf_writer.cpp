#include "quantlab/io/gguf_writer.hpp"

#include "quantlab/core/atomic_file.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/core/utf8.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

namespace quantlab {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF"
constexpr int kMaxArrayDepth = 8;        // what the reader accepts
constexpr size_t kMaxTensorName = 63;    // llama.cpp's GGML_MAX_NAME is 64 including the NUL

struct VectorOut {
  std::vector<uint8_t> bytes;
  void write(const void* p, size_t n) {
    if (n == 0) return;
    const size_t old = bytes.size();
    bytes.resize(old + n);
    std::memcpy(bytes.data() + old, p, n);
  }
  void write_zeros(size_t n) { bytes.resize(bytes.size() + n, 0); }
};

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

// Checks that a value's payload fits its declared type and that arrays are homogeneous, so that
// emitting it can no longer fail half-way.
void validate_value(const GgufValue& v, const std::string& dest, const std::string& key, int depth) {
  auto fail = [&](const std::string& m) { throw Error(dest, key, m); };
  const auto* u = std::get_if<uint64_t>(&v.v);
  const auto* i = std::get_if<int64_t>(&v.v);
  auto check_unsigned = [&](uint64_t max) {
    if (u && *u <= max) return;
    if (i && *i >= 0 && uint64_t(*i) <= max) return;
    fail(std::string("value does not fit ") + gguf_type_name(v.type));
  };
  auto check_signed = [&](int64_t min, int64_t max) {
    if (i && *i >= min && *i <= max) return;
    if (u && *u <= uint64_t(max)) return;
    fail(std::string("value does not fit ") + gguf_type_name(v.type));
  };
  switch (v.type) {
    case GgufType::UINT8: check_unsigned(0xff); break;
    case GgufType::UINT16: check_unsigned(0xffff); break;
    case GgufType::UINT32: check_unsigned(0xffffffffu); break;
    case GgufType::UINT64: check_unsigned(std::numeric_limits<uint64_t>::max()); break;
    case GgufType::INT8: check_signed(-128, 127); break;
    case GgufType::INT16: check_signed(-32768, 32767); break;
    case GgufType::INT32: check_signed(std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()); break;
    case GgufType::INT64: check_signed(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()); break;
    case GgufType::FLOAT32: case GgufType::FLOAT64:
      if (!std::holds_alternative<double>(v.v)) fail("float value holds no number");
      break;
    case GgufType::BOOL:
      if (!std::holds_alternative<bool>(v.v)) fail("bool value holds no bool");
      break;
    case GgufType::STRING:
      if (!std::holds_alternative<std::string>(v.v)) fail("string value holds no string");
      break;
    case GgufType::ARRAY: {
      const auto* a = std::get_if<std::shared_ptr<GgufArray>>(&v.v);
      if (!a || !*a) fail("array value holds no array");
      if (depth >= kMaxArrayDepth) fail("arrays nested deeper than 8 levels");
      if (uint32_t((*a)->elem_type) > uint32_t(GgufType::FLOAT64)) fail("unknown array element type");
      for (const auto& item : (*a)->items) {
        if (item.type != (*a)->elem_type)
          fail(std::string("array of ") + gguf_type_name((*a)->elem_type) + " holds a " + gguf_type_name(item.type));
        validate_value(item, dest, key, depth + 1);
      }
      break;
    }
    default: fail("unknown value type " + std::to_string(uint32_t(v.type)));
  }
}

template <typename Out, typename T>
void put(Out& out, T x) {
  out.write(&x, sizeof(T));
}

template <typename Out>
void put_string(Out& out, const std::string& s) {
  put<Out, uint64_t>(out, s.size());
  out.write(s.data(), s.size());
}

template <typename Out>
void put_value(Out& out, const GgufValue& v) {
  auto as_u = [&]() -> uint64_t {
    if (const auto* u = std::get_if<uint64_t>(&v.v)) return *u;
    return uint64_t(std::get<int64_t>(v.v));
  };
  auto as_i = [&]() -> int64_t {
    if (const auto* i = std::get_if<int64_t>(&v.v)) return *i;
    return int64_t(std::get<uint64_t>(v.v));
  };
  switch (v.type) {
    case GgufType::UINT8: put<Out, uint8_t>(out, uint8_t(as_u())); break;
    case GgufType::INT8: put<Out, int8_t>(out, int8_t(as_i())); break;
    case GgufType::UINT16: put<Out, uint16_t>(out, uint16_t(as_u())); break;
    case GgufType::INT16: put<Out, int16_t>(out, int16_t(as_i())); break;
    case GgufType::UINT32: put<Out, uint32_t>(out, uint32_t(as_u())); break;
    case GgufType::INT32: put<Out, int32_t>(out, int32_t(as_i())); break;
    case GgufType::UINT64: put<Out, uint64_t>(out, as_u()); break;
    case GgufType::INT64: put<Out, int64_t>(out, as_i()); break;
    case GgufType::FLOAT32: put<Out, float>(out, float(std::get<double>(v.v))); break;
    case GgufType::FLOAT64: put<Out, double>(out, std::get<double>(v.v)); break;
    case GgufType::BOOL: put<Out, uint8_t>(out, std::get<bool>(v.v) ? 1 : 0); break;
    case GgufType::STRING: put_string(out, std::get<std::string>(v.v)); break;
    case GgufType::ARRAY: {
      const auto& a = *std::get<std::shared_ptr<GgufArray>>(v.v);
      put<Out, uint32_t>(out, uint32_t(a.elem_type));
      put<Out, uint64_t>(out, a.items.size());
      for (const auto& item : a.items) put_value(out, item);
      break;
    }
  }
}

}  // namespace

GgufWriter::GgufWriter(uint32_t version) : version_(version) {
  if (version != 2 && version != 3) throw Error("", "version", "GGUF version " + std::to_string(version) + " cannot be written (2 or 3)");
}

void GgufWriter::set(const std::string& key, GgufValue value) {
  for (auto& [k, v] : kv_)
    if (k == key) {
      v = std::move(value);
      return;
    }
  kv_.emplace_back(key, std::move(value));
}

bool GgufWriter::remove(const std::string& key) {
  auto it = std::find_if(kv_.begin(), kv_.end(), [&](const auto& kv) { return kv.first == key; });
  if (it == kv_.end()) return false;
  kv_.erase(it);
  return true;
}

const GgufValue* GgufWriter::find(const std::string& key) const {
  for (const auto& [k, v] : kv_)
    if (k == key) return &v;
  return nullptr;
}

void GgufWriter::add_tensor(std::string name, std::vector<int64_t> ne, FormatId type, const void* data, size_t nbytes,
                            std::optional<uint64_t> offset) {
  tensors_.push_back({std::move(name), std::move(ne), type, static_cast<const uint8_t*>(data), nbytes, offset, nullptr});
}

void GgufWriter::add_tensor(std::string name, std::vector<int64_t> ne, FormatId type, std::vector<uint8_t> data,
                            std::optional<uint64_t> offset) {
  auto owned = std::make_shared<std::vector<uint8_t>>(std::move(data));
  tensors_.push_back({std::move(name), std::move(ne), type, owned->data(), owned->size(), offset, owned});
}

void GgufWriter::declare_tensor(std::string name, std::vector<int64_t> ne, FormatId type) {
  uint64_t n_el = 1;
  for (int64_t d : ne) n_el *= uint64_t(std::max<int64_t>(d, 0));
  const FormatTraits* f = find_format(type);
  const uint64_t nbytes = f && f->block_size > 0 ? n_el / uint64_t(f->block_size) * f->block_bytes : 0;
  tensors_.push_back({std::move(name), std::move(ne), type, nullptr, size_t(nbytes), std::nullopt, nullptr});
}

uint64_t GgufWriter::alignment() const {
  const GgufValue* a = find("general.alignment");
  if (!a) return 32;
  // llama.cpp refuses any other type for this key.
  if (a->type != GgufType::UINT32) throw Error("", "general.alignment", std::string("expected uint32, found ") + gguf_type_name(a->type));
  const int64_t al = a->as_int("", "general.alignment");
  if (al <= 0 || al > (1 << 20) || (al & (al - 1)) != 0)
    throw Error("", "general.alignment", "alignment " + std::to_string(al) + " is not a power of two up to 1 MiB");
  return uint64_t(al);
}

GgufWriter::Layout GgufWriter::plan(const std::string& dest, bool declared_ok) const {
  uint64_t al;
  try {
    al = alignment();
  } catch (const Error& e) {
    throw Error(dest, e.field(), e.message());
  }
  for (size_t i = 0; i < kv_.size(); ++i) {
    const auto& [key, v] = kv_[i];
    if (key.empty() || !is_valid_utf8(key)) throw Error(dest, "metadata[" + std::to_string(i) + "]", "key is empty or not valid UTF-8");
    validate_value(v, dest, key, 0);
  }
  Layout L;
  std::vector<std::pair<uint64_t, size_t>> order;
  uint64_t next = 0;
  std::vector<std::string> names;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const Tensor& t = tensors_[i];
    const std::string field = "tensor '" + t.name + "'";
    if (t.name.empty() || !is_valid_utf8(t.name)) throw Error(dest, "tensor[" + std::to_string(i) + "]", "name is empty or not valid UTF-8");
    if (t.name.size() > kMaxTensorName) throw Error(dest, field, "name longer than 63 bytes (llama.cpp's limit)");
    names.push_back(t.name);
    if (t.ne.empty() || t.ne.size() > 4) throw Error(dest, field, std::to_string(t.ne.size()) + " dimensions, expected 1..4");
    uint64_t n_el = 1;
    for (size_t d = 0; d < t.ne.size(); ++d) {
      const int64_t ne = t.ne[d];
      if (ne <= 0 || ne > (int64_t(1) << 40) || n_el > (uint64_t(1) << 42) / uint64_t(ne))
        throw Error(dest, field, "dimension " + std::to_string(d) + " = " + std::to_string(ne) + " is not positive or too large");
      n_el *= uint64_t(ne);
    }
    const FormatTraits* f = find_format(t.type);
    if (!f) throw Error(dest, field, "unknown tensor type " + std::to_string(uint32_t(t.type)));
    if (t.ne[0] % f->block_size != 0)
      throw Error(dest, field, "row of " + std::to_string(t.ne[0]) + " values is not a multiple of " + std::string(f->name) +
                                   "'s block size " + std::to_string(f->block_size));
    const uint64_t want = n_el / uint64_t(f->block_size) * f->block_bytes;
    if (t.nbytes != want)
      throw Error(dest, field, std::to_string(t.nbytes) + " bytes given, " + std::string(f->name) + " of this shape takes " + std::to_string(want));
    if (!t.data && t.nbytes && !declared_ok) throw Error(dest, field, "no data");
    uint64_t off = t.offset ? *t.offset : align_up(next, al);
    if (off % al != 0) throw Error(dest, field, "offset " + std::to_string(off) + " is not aligned to " + std::to_string(al));
    L.offsets.push_back(off);
    order.emplace_back(off, i);
    next = std::max(next, off + t.nbytes);
  }
  std::sort(names.begin(), names.end());
  if (auto it = std::adjacent_find(names.begin(), names.end()); it != names.end())
    throw Error(dest, "tensor '" + *it + "'", "duplicate tensor name");
  std::sort(order.begin(), order.end());
  for (size_t k = 1; k < order.size(); ++k) {
    const Tensor& prev = tensors_[order[k - 1].second];
    if (order[k - 1].first + prev.nbytes > order[k].first)
      throw Error(dest, "tensor '" + tensors_[order[k].second].name + "'", "data overlaps tensor '" + prev.name + "'");
  }
  L.data_size = tensors_.empty() ? 0 : align_up(next, al);
  return L;
}

uint64_t GgufWriter::file_size() const {
  const Layout L = plan("", true);
  const uint64_t h = header(L).size();
  return tensors_.empty() ? h : align_up(h, alignment()) + L.data_size;
}

std::vector<uint8_t> GgufWriter::header(const Layout& L) const {
  // The header (metadata and tensor infos) is small next to the data: build it in memory so its
  // size, and hence the padding before the data section, is known.
  VectorOut h;
  put<VectorOut, uint32_t>(h, kMagic);
  put<VectorOut, uint32_t>(h, version_);
  put<VectorOut, uint64_t>(h, tensors_.size());
  put<VectorOut, uint64_t>(h, kv_.size());
  for (const auto& kv : kv_) {
    put_string(h, kv.first);
    put<VectorOut, uint32_t>(h, uint32_t(kv.second.type));
    put_value(h, kv.second);
  }
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const Tensor& t = tensors_[i];
    put_string(h, t.name);
    put<VectorOut, uint32_t>(h, uint32_t(t.ne.size()));
    for (int64_t d : t.ne) put<VectorOut, uint64_t>(h, uint64_t(d));
    put<VectorOut, uint32_t>(h, uint32_t(t.type));
    put<VectorOut, uint64_t>(h, L.offsets[i]);
  }
  return std::move(h.bytes);
}

template <typename Out>
void GgufWriter::emit(Out& out, const std::string& dest) const {
  const Layout L = plan(dest);
  const uint64_t al = alignment();
  const std::vector<uint8_t> h = header(L);
  out.write(h.data(), h.size());
  const uint64_t pos = h.size();
  if (tensors_.empty()) return;  // llama.cpp writes no data section (and no padding) then
  out.write_zeros(size_t(align_up(pos, al) - pos));
  std::vector<size_t> order(tensors_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return L.offsets[a] < L.offsets[b]; });
  uint64_t at = 0;
  for (size_t i : order) {
    out.write_zeros(size_t(L.offsets[i] - at));
    out.write(tensors_[i].data, tensors_[i].nbytes);
    at = L.offsets[i] + tensors_[i].nbytes;
  }
  out.write_zeros(size_t(L.data_size - at));
}

GgufStream::GgufStream(const GgufWriter& w, const std::string& path) : path_(path) {
  const GgufWriter::Layout L = w.plan(path, true);  // validates before anything is created
  const uint64_t al = w.alignment();
  const std::vector<uint8_t> h = w.header(L);
  file_ = std::make_unique<AtomicFile>(path);
  file_->write(h.data(), h.size());
  const uint64_t data_start = w.tensors_.empty() ? h.size() : align_up(h.size(), al);
  file_->write_zeros(size_t(data_start - h.size()));
  for (size_t i = 0; i < w.tensors_.size(); ++i) slots_[w.tensors_[i].name] = {data_start + L.offsets[i], w.tensors_[i].nbytes, 0};
  file_->set_end_size(data_start + L.data_size);
  for (const auto& t : w.tensors_)
    if (t.data) write(t.name, t.data, t.nbytes);
}

void GgufStream::write(const std::string& name, const void* data, size_t nbytes) {
  const auto it = slots_.find(name);
  if (it == slots_.end()) throw Error(path_, "tensor '" + name + "'", "was not declared");
  Slot& s = it->second;
  if (s.done + nbytes > s.nbytes)
    throw Error(path_, "tensor '" + name + "'", std::to_string(s.done + nbytes) + " bytes given, " + std::to_string(s.nbytes) + " declared");
  if (nbytes) file_->write_at(s.offset + s.done, data, nbytes);
  s.done += nbytes;
}

void GgufStream::commit() {
  for (const auto& [name, s] : slots_)
    if (s.done != s.nbytes)
      throw Error(path_, "tensor '" + name + "'", std::to_string(s.done) + " of " + std::to_string(s.nbytes) + " bytes written");
  file_->commit();
}

void GgufWriter::write(const std::string& path) const {
  plan(path);  // validate before creating anything
  AtomicFile f(path);
  emit(f, path);
  f.commit();
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
  VectorOut out;
  emit(out, "<memory>");
  return std::move(out.bytes);
}

GgufWriter gguf_writer_from(const GgufFile& f) {
  GgufWriter w(f.version());
  for (const auto& [k, v] : f.metadata()) w.set(k, v);
  for (const auto& t : f.tensors()) w.add_tensor(t.name, t.ne, t.type, f.tensor_data(t), size_t(t.nbytes), t.offset);
  return w;
}

}  // namespace quantlab
