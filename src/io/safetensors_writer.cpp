#include "quantlab/core/atomic_file.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/core/utf8.hpp"
#include "quantlab/io/safetensors.hpp"
#include "src/io/quote.hpp"

#include <nlohmann/json.hpp>

#include <cstring>
#include <set>

namespace quantlab {

void SafetensorsWriter::add_tensor(std::string name, std::string_view dtype, std::vector<int64_t> shape, const void* data,
                                   size_t nbytes) {
  tensors_.push_back({std::move(name), std::string(dtype), std::move(shape), static_cast<const uint8_t*>(data), nbytes, nullptr});
}

void SafetensorsWriter::add_tensor(std::string name, std::string_view dtype, std::vector<int64_t> shape, std::vector<uint8_t> data) {
  auto owned = std::make_shared<std::vector<uint8_t>>(std::move(data));
  tensors_.push_back({std::move(name), std::string(dtype), std::move(shape), owned->data(), owned->size(), owned});
}

void SafetensorsWriter::declare_tensor(std::string name, std::string_view dtype, std::vector<int64_t> shape, size_t nbytes) {
  tensors_.push_back({std::move(name), std::string(dtype), std::move(shape), nullptr, nbytes, nullptr});
}

std::string SafetensorsWriter::header(const std::string& dest, bool declared_ok) const {
  nlohmann::json h = nlohmann::json::object();
  if (!metadata_.empty()) {
    auto& m = h["__metadata__"] = nlohmann::json::object();
    for (const auto& [k, v] : metadata_) {
      if (!is_valid_utf8(k) || !is_valid_utf8(v)) throw Error(dest, "__metadata__ " + io_detail::printable_name(k), "not valid UTF-8");
      m[k] = v;
    }
  }
  uint64_t at = 0;
  std::set<std::string> names;
  for (const auto& t : tensors_) {
    const std::string field = "tensor " + io_detail::printable_name(t.name);
    if (t.name.empty() || t.name == "__metadata__" || !is_valid_utf8(t.name)) throw Error(dest, field, "invalid tensor name");
    if (!names.insert(t.name).second) throw Error(dest, field, "duplicate tensor name");
    const SafetensorsDtype* d = find_safetensors_dtype(t.dtype);
    if (!d) throw Error(dest, field, "unknown dtype " + io_detail::printable_name(t.dtype));
    uint64_t n = 1;
    for (int64_t s : t.shape) {
      if (s < 0) throw Error(dest, field, "negative dimension");
      n *= uint64_t(s);
    }
    if (n * d->bytes != t.nbytes)
      throw Error(dest, field, std::to_string(t.nbytes) + " bytes given, shape and dtype take " + std::to_string(n * d->bytes));
    if (!t.data && t.nbytes && !declared_ok) throw Error(dest, field, "no data");
    h[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {at, at + t.nbytes}}};
    at += t.nbytes;
  }
  std::string s = h.dump();
  s.resize((s.size() + 7) / 8 * 8, ' ');  // keeps the data section 8-byte aligned
  return s;
}

void SafetensorsWriter::write(const std::string& path) const {
  const std::string h = header(path);
  AtomicFile f(path);
  const uint64_t n = h.size();
  f.write(&n, 8);
  f.write(h.data(), h.size());
  for (const auto& t : tensors_) f.write(t.data, t.nbytes);
  f.commit();
}

SafetensorsStream::SafetensorsStream(const SafetensorsWriter& layout, const std::string& path)
    : path_(path), file_(((void)layout.header(path, true), path)) {
  const std::string h = layout.header(path, true);
  const uint64_t n = h.size();
  file_.write(&n, 8);
  file_.write(h.data(), h.size());
  uint64_t at = 8 + n;
  for (const auto& t : layout.tensors_) {
    slots_[t.name] = {at, t.nbytes, 0};
    at += t.nbytes;
  }
  file_.set_end_size(at);
  for (const auto& t : layout.tensors_)
    if (t.data) write(t.name, t.data, t.nbytes);
}

void SafetensorsStream::write(const std::string& name, const void* data, size_t nbytes) {
  const auto it = slots_.find(name);
  if (it == slots_.end()) throw Error(path_, "tensor " + io_detail::printable_name(name), "was not declared");
  Slot& s = it->second;
  if (s.done + nbytes > s.nbytes)
    throw Error(path_, "tensor " + io_detail::printable_name(name),
                std::to_string(s.done + nbytes) + " bytes given, " + std::to_string(s.nbytes) + " declared");
  if (nbytes) file_.write_at(s.offset + s.done, data, nbytes);
  s.done += nbytes;
}

void SafetensorsStream::commit() {
  for (const auto& [name, s] : slots_)
    if (s.done != s.nbytes)
      throw Error(path_, "tensor " + io_detail::printable_name(name),
                  std::to_string(s.done) + " of " + std::to_string(s.nbytes) + " bytes written");
  file_.commit();
}

std::vector<uint8_t> SafetensorsWriter::to_bytes() const {
  const std::string h = header("<memory>");
  std::vector<uint8_t> out(8 + h.size());
  const uint64_t n = h.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, h.data(), h.size());
  for (const auto& t : tensors_) {
    const size_t old = out.size();
    out.resize(old + t.nbytes);
    if (t.nbytes) std::memcpy(out.data() + old, t.data, t.nbytes);
  }
  return out;
}

}  // namespace quantlab
