#include "quantlab/quant/imatrix.hpp"

#include "quantlab/backend/linalg.hpp"

#include "quantlab/core/error.hpp"
#include "quantlab/core/foreign_error.hpp"
#include "quantlab/core/mapped_file.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/io/gguf_writer.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

namespace quantlab {

void Imatrix::add(const std::string& name, const float* x, int64_t tokens, int64_t n) {
  auto& e = entries[name];
  if (e.sum_x2.empty()) {
    e.sum_x2.assign(size_t(n), 0.0);
    e.sum_x.assign(size_t(n), 0.0);
  } else if (int64_t(e.sum_x2.size()) != n) {
    throw Error("imatrix", name, "input width changed from " + std::to_string(e.sum_x2.size()) + " to " + std::to_string(n));
  }
  column_moments(x, tokens, n, e.sum_x2.data(), e.sum_x.data());
  e.count += tokens;
}

std::vector<float> Imatrix::importance(const std::string& name) const {
  auto it = entries.find(name);
  if (it == entries.end() || it->second.count <= 0) return {};
  std::vector<float> w(it->second.sum_x2.size());
  for (size_t j = 0; j < w.size(); ++j) w[j] = float(it->second.sum_x2[j] / double(it->second.count));
  return w;
}

namespace {

Imatrix read_gguf_imatrix(const std::string& path) {
  GgufFile f(path);
  Imatrix m;
  if (const auto* d = f.find("imatrix.datasets"))
    for (const auto& v : d->as_array(path, "imatrix.datasets").items) m.datasets.push_back(v.as_string(path, "imatrix.datasets"));
  m.chunk_count = f.get_int("imatrix.chunk_count", 0);
  m.chunk_size = f.get_int("imatrix.chunk_size", 0);
  m.dataset_sha256 = f.get_string("quantlab.imatrix.dataset_sha256", std::string());
  m.calibration = f.get_string("quantlab.imatrix.calibration", std::string());
  auto floats = [&](const GgufTensorInfo& t) {
    if (t.type != FormatId::F32) throw Error(path, t.name, "imatrix tensors must be f32");
    std::vector<float> v(size_t(t.n_elements()));
    std::memcpy(v.data(), f.tensor_data(t), v.size() * 4);
    return v;
  };
  for (const auto& t : f.tensors()) {
    const std::string suffix = ".in_sum2";
    if (t.name.size() <= suffix.size() || t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    const std::string name = t.name.substr(0, t.name.size() - suffix.size());
    const auto* counts = f.find_tensor(name + ".counts");
    if (!counts) throw Error(path, name + ".counts", "missing (every in_sum2 needs its counts)");
    if (t.ne.size() > 1 && t.ne[1] != 1)
      throw Error(path, t.name, "per-expert (3-D) entries are not supported");
    const auto s2 = floats(t);
    const auto c = floats(*counts);
    if (c.size() != 1 || !(c[0] >= 0) || !std::isfinite(c[0])) throw Error(path, counts->name, "expected one finite non-negative count");
    // Beyond 2^53 tokens a count is neither exact nor plausible (and beyond 2^63 not an integer).
    if (c[0] > 9007199254740992.0f) throw Error(path, counts->name, "count " + std::to_string(c[0]) + " is implausibly large");
    ImatrixEntry e;
    e.sum_x2.assign(s2.begin(), s2.end());
    e.count = int64_t(c[0]);
    if (const auto* s1 = f.find_tensor(name + ".in_sum")) {
      const auto v = floats(*s1);
      if (v.size() != s2.size()) throw Error(path, s1->name, "size differs from in_sum2");
      e.sum_x.assign(v.begin(), v.end());
    }
    for (double v : e.sum_x2)
      if (!std::isfinite(v) || v < 0) throw Error(path, t.name, "contains a negative or non-finite value");
    m.entries[name] = std::move(e);
  }
  if (m.entries.empty()) throw Error(path, "tensors", "no imatrix entries (<name>.in_sum2) in this GGUF file");
  return m;
}

Imatrix read_dat_imatrix(const std::string& path) {
  MappedFile file(path);
  const uint8_t* p = file.data();
  size_t pos = 0;
  auto need = [&](size_t n, const std::string& field) {
    if (n > file.size() - pos) throw Error(path, field, "truncated at offset " + std::to_string(pos));
  };
  auto i32 = [&](const std::string& field) {
    need(4, field);
    int32_t v;
    std::memcpy(&v, p + pos, 4);
    pos += 4;
    return v;
  };
  Imatrix m;
  const int32_t n = i32("n_entries");
  if (n < 1 || size_t(n) > file.size() / 12) throw Error(path, "n_entries", "invalid entry count " + std::to_string(n));
  for (int32_t i = 0; i < n; ++i) {
    const std::string field = "entry[" + std::to_string(i) + "]";
    const int32_t len = i32(field + " name length");
    if (len <= 0 || len > 4096) throw Error(path, field, "invalid name length " + std::to_string(len));
    need(size_t(len), field + " name");
    std::string name(reinterpret_cast<const char*>(p + pos), size_t(len));
    pos += size_t(len);
    const int32_t ncall = i32(name + " ncall");
    const int32_t nval = i32(name + " nval");
    if (nval <= 0 || size_t(nval) > (file.size() - pos) / 4) throw Error(path, name, "invalid value count " + std::to_string(nval));
    ImatrixEntry e;
    e.sum_x2.resize(size_t(nval));
    for (int32_t j = 0; j < nval; ++j) {
      float v;
      std::memcpy(&v, p + pos + 4 * size_t(j), 4);
      if (!std::isfinite(v) || v < 0) throw Error(path, name, "value " + std::to_string(j) + " is negative or not finite");
      // stored: mean x² * ncall. Keep sums with count = ncall "calls": the mean is what matters.
      e.sum_x2[size_t(j)] = v;
    }
    pos += 4 * size_t(nval);
    e.count = ncall > 0 ? ncall : 1;
    if (!m.entries.emplace(name, std::move(e)).second) throw Error(path, name, "duplicate entry");
  }
  if (file.size() - pos >= 4) {
    m.chunk_count = i32("chunk count");
    if (file.size() - pos >= 4) {
      const int32_t len = i32("dataset name length");
      if (len < 0 || size_t(len) > file.size() - pos) throw Error(path, "dataset name", "invalid length");
      m.datasets.emplace_back(reinterpret_cast<const char*>(p + pos), size_t(len));
    }
  }
  return m;
}

}  // namespace

Imatrix read_imatrix(const std::string& path) try {
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path, "", "cannot open");
    char magic[4] = {};
    in.read(magic, 4);
    if (in.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0) return read_gguf_imatrix(path);
  }
  return read_dat_imatrix(path);
} catch (...) {
  rethrow_as_error(path, "");
}

void write_imatrix_dat(const Imatrix& m, const std::string& path) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(path, "", "cannot write");
    auto i32 = [&](int32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
    const int64_t chunk = m.chunk_size > 0 ? m.chunk_size : 512;
    i32(int32_t(m.entries.size()));
    for (const auto& [name, e] : m.entries) {  // std::map: sorted, as llama.cpp writes them
      i32(int32_t(name.size()));
      out.write(name.data(), std::streamsize(name.size()));
      const int32_t ncall = int32_t((e.count + chunk - 1) / chunk);
      i32(ncall);
      i32(int32_t(e.sum_x2.size()));
      for (double s : e.sum_x2) {
        const float v = e.count > 0 ? float(s / double(e.count)) * float(ncall) : 1.0f;
        out.write(reinterpret_cast<const char*>(&v), 4);
      }
    }
    i32(int32_t(m.chunk_count));
    const std::string ds = m.datasets.empty() ? std::string() : m.datasets.back();
    i32(int32_t(ds.size()));
    out.write(ds.data(), std::streamsize(ds.size()));
    if (!out.flush()) throw Error(path, "", "write failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw Error(path, "", "cannot rename the temporary file");
}

void write_imatrix_gguf(const Imatrix& m, const std::string& path) {
  GgufWriter w;
  w.set("general.type", GgufValue::str("imatrix"));
  w.set("imatrix.datasets", GgufValue::string_array(m.datasets));
  w.set("imatrix.chunk_count", GgufValue::u32(uint32_t(std::max<int64_t>(0, m.chunk_count))));
  w.set("imatrix.chunk_size", GgufValue::u32(uint32_t(std::max<int64_t>(0, m.chunk_size))));
  if (!m.dataset_sha256.empty()) w.set("quantlab.imatrix.dataset_sha256", GgufValue::str(m.dataset_sha256));
  if (!m.calibration.empty()) w.set("quantlab.imatrix.calibration", GgufValue::str(m.calibration));
  for (const auto& [name, e] : m.entries) {  // std::map: sorted by name, as llama.cpp stores them
    std::vector<uint8_t> s2(e.sum_x2.size() * 4);
    for (size_t j = 0; j < e.sum_x2.size(); ++j) {
      const float v = float(e.sum_x2[j]);
      std::memcpy(s2.data() + 4 * j, &v, 4);
    }
    std::vector<uint8_t> c(4);
    const float count = float(e.count);
    std::memcpy(c.data(), &count, 4);
    // One matrix (no experts): llama.cpp's 2-D [n, 1] tensors are written with trailing 1s dropped
    // (gguf_add_tensor stores ggml_n_dims), so the same shapes are written here.
    w.add_tensor(name + ".in_sum2", {int64_t(e.sum_x2.size())}, FormatId::F32, std::move(s2));
    w.add_tensor(name + ".counts", {1}, FormatId::F32, std::move(c));
  }
  w.write(path);
}

void write_imatrix(const Imatrix& m, const std::string& path) {
  if (path.size() >= 4 && path.compare(path.size() - 4, 4, ".dat") == 0) write_imatrix_dat(m, path);
  else write_imatrix_gguf(m, path);
}

}  // namespace quantlab
