#pragma once
// Hostile-input tests: inputs are built in memory at test time (no binary fixtures), written to a
// temp file, and every rejection must be a quantlab::Error naming that file and the field.
#include "quantlab/core/error.hpp"
#include "io_test_util.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace quantlab::test {

// Little-endian byte builder for hand-made files.
struct Bytes {
  std::vector<uint8_t> b;
  template <typename T>
  Bytes& put(T v) {
    const size_t o = b.size();
    b.resize(o + sizeof(T));
    std::memcpy(b.data() + o, &v, sizeof(T));
    return *this;
  }
  Bytes& str(const std::string& s) {
    put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& raw(const std::string& s) {
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& zeros(size_t n) {
    b.resize(b.size() + n, 0);
    return *this;
  }
  size_t size() const { return b.size(); }
  template <typename T>
  void patch(size_t at, T v) { std::memcpy(b.data() + at, &v, sizeof(T)); }
};

// Writes `bytes` to a fresh file named `name` and expects `open(path)` to throw a quantlab::Error
// whose source is that path and whose field contains `field`; the message must be one line.
inline void expect_rejected(const std::string& name, const std::vector<uint8_t>& bytes,
                            const std::function<void(const std::string&)>& open, const std::string& field) {
  SCOPED_TRACE(name);
  const auto dir = temp_dir("hostile");
  const auto path = (dir / name).string();
  write_bytes(path, bytes);
  try {
    open(path);
    ADD_FAILURE() << name << ": accepted, expected an error on field '" << field << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.source(), path) << e.what();
    EXPECT_NE(e.field().find(field), std::string::npos) << "field '" << e.field() << "' lacks '" << field << "': " << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "not one line: " << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << name << ": threw a non-quantlab exception: " << e.what();
  }
  std::filesystem::remove(path);
}

// Every prefix of `bytes` shorter than `upto` must be rejected with a quantlab::Error (no crash,
// no other exception) naming the file; returns how many prefixes were tried.
inline size_t expect_every_truncation_rejected(const std::string& name, const std::vector<uint8_t>& bytes, size_t upto,
                                               const std::function<void(const std::string&)>& open) {
  const auto dir = temp_dir("hostile-trunc");
  const auto path = (dir / name).string();
  size_t n = 0;
  for (size_t len = 0; len < upto && len < bytes.size(); ++len) {
    write_bytes(path, std::vector<uint8_t>(bytes.begin(), bytes.begin() + long(len)));
    try {
      open(path);
      ADD_FAILURE() << name << " truncated to " << len << " bytes was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.source(), path);
      EXPECT_FALSE(e.field().empty()) << "truncated to " << len << ": " << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << name << " truncated to " << len << ": non-quantlab exception " << e.what();
    }
    ++n;
  }
  std::filesystem::remove(path);
  return n;
}

// Flips two bits (a rotating low one and the top one) of every byte of bytes[from, to) in turn: each result must either load or throw a
// quantlab::Error naming the file; anything else (crash, other exception) fails.
inline void expect_bit_flips_safe(const std::string& name, const std::vector<uint8_t>& bytes, size_t from, size_t to,
                                  const std::function<void(const std::string&)>& open) {
  const auto dir = temp_dir("hostile-flip");
  const auto path = (dir / name).string();
  for (size_t i = from; i < to && i < bytes.size(); ++i)
    for (int bit : {int(i % 7), 7}) {
      auto b = bytes;
      b[i] ^= uint8_t(1u << bit);
      write_bytes(path, b);
      try {
        open(path);
      } catch (const Error& e) {
        EXPECT_EQ(e.source(), path) << e.what();
      } catch (const std::exception& e) {
        ADD_FAILURE() << name << " byte " << i << " bit " << bit << ": non-quantlab exception " << e.what();
      }
    }
  std::filesystem::remove(path);
}

}  // namespace quantlab::test
