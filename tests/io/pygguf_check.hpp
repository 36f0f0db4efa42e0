#pragma once
// Compares what the PyPI `gguf` package (tools/check_gguf.py) reads from a file with what
// quantlab's reader sees: keys, value types, raw value bytes, tensor shapes, types, offsets, data.
#include "quantlab/core/sha256.hpp"
#include "quantlab/io/gguf.hpp"
#include "quantlab/io/gguf_writer.hpp"
#include "io_test_util.hpp"

#include <gtest/gtest.h>

namespace quantlab::test {

inline std::vector<uint8_t> value_bytes(const GgufValue& v) {
  // The value's raw bytes as the file stores them: write a one-key file and cut the value out.
  GgufWriter w;
  w.set("k", v);
  auto b = w.to_bytes();
  const size_t header = 4 + 4 + 8 + 8 + 8 + 1 + 4;  // magic, version, counts, key "k", type
  return std::vector<uint8_t>(b.begin() + long(header), b.end());
}

// pygguf's "types" of a field: the type, then for an array the types of its first item.
inline void field_types(const GgufValue& v, nlohmann::json& out) {
  out.push_back(uint32_t(v.type));
  if (v.type != GgufType::ARRAY) return;
  const auto& a = *std::get<std::shared_ptr<GgufArray>>(v.v);
  if (a.items.empty()) return;
  field_types(a.items[0], out);
}

inline size_t leaf_items(const GgufValue& v) {
  if (v.type != GgufType::ARRAY) return 1;
  size_t n = 0;
  for (const auto& i : std::get<std::shared_ptr<GgufArray>>(v.v)->items) n += leaf_items(i);
  return n;
}

// What quantlab's reader sees, in tools/check_gguf.py's schema.
inline nlohmann::json describe(const GgufFile& f) {
  nlohmann::json j;
  j["version"] = f.version();
  j["alignment"] = f.alignment();
  j["metadata"] = nlohmann::json::array();
  for (const auto& [k, v] : f.metadata()) {
    nlohmann::json e{{"key", k}, {"types", nlohmann::json::array()}, {"items", leaf_items(v)}};
    field_types(v, e["types"]);
    const auto raw = value_bytes(v);
    e["sha256"] = sha256_hex(raw.data(), raw.size());
    if (v.type == GgufType::STRING) e["value"] = nlohmann::json(std::get<std::string>(v.v)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    else if (v.type == GgufType::BOOL) e["value"] = std::get<bool>(v.v);
    else if (v.is_float()) e["value"] = std::get<double>(v.v);
    else if (v.is_integer()) {
      if (const auto* u = std::get_if<uint64_t>(&v.v)) e["value"] = *u;
      else e["value"] = std::get<int64_t>(v.v);
    }
    j["metadata"].push_back(e);
  }
  j["tensors"] = nlohmann::json::array();
  for (const auto& t : f.tensors())
    j["tensors"].push_back({{"name", t.name}, {"ne", t.ne}, {"type", uint32_t(t.type)}, {"n_bytes", t.nbytes},
                            {"data_offset", f.data_offset() + t.offset}, {"sha256", sha256_hex(f.tensor_data(t), t.nbytes)}});
  return j;
}

// Runs tools/check_gguf.py and compares its view with quantlab's, field by field.
inline void expect_pygguf_agrees(const std::filesystem::path& path) {
  const auto r = run_command(shell_quote(python()) + " " + shell_quote((source_dir() / "tools/check_gguf.py").string()) +
                                   " " + shell_quote(path.string()));
  ASSERT_EQ(r.status, 0) << r.err;
  const auto py = nlohmann::json::parse(r.out);
  GgufFile f(path.string());
  const auto me = describe(f);
  EXPECT_EQ(py["version"], me["version"]);
  EXPECT_EQ(py["alignment"], me["alignment"]);
  ASSERT_EQ(py["metadata"].size(), me["metadata"].size());
  for (size_t i = 0; i < me["metadata"].size(); ++i) {
    const auto& a = py["metadata"][i];
    const auto& b = me["metadata"][i];
    EXPECT_EQ(a["key"], b["key"]);
    EXPECT_EQ(a["types"], b["types"]) << b["key"];
    EXPECT_EQ(a["items"], b["items"]) << b["key"];
    EXPECT_EQ(a["sha256"], b["sha256"]) << b["key"];
    if (b.contains("value") && b["value"].is_number_float()) {
      EXPECT_DOUBLE_EQ(a["value"].get<double>(), b["value"].get<double>()) << b["key"];
    } else if (b.contains("value") && !b["value"].is_string()) {
      EXPECT_EQ(a["value"], b["value"]) << b["key"];
    }
  }
  ASSERT_EQ(py["tensors"].size(), me["tensors"].size());
  for (size_t i = 0; i < me["tensors"].size(); ++i) EXPECT_EQ(py["tensors"][i], me["tensors"][i]);
}

}  // namespace quantlab::test
