// Vocabulary from a SentencePiece tokenizer.model (a protobuf ModelProto), read with a small
// bounds-checked protobuf wire-format reader: pieces (text, score, type), the trainer's model
// type and special ids, and the normalizer flags. Only BPE models with the identity normalizer
// run here exactly as SentencePiece runs them; anything else is refused by name.
#include "quantlab/core/error.hpp"
#include "quantlab/core/foreign_error.hpp"
#include "quantlab/core/mapped_file.hpp"
#include "quantlab/text/vocab_loaders.hpp"

#include <cstring>

namespace quantlab {
namespace {

class WireReader {
 public:
  WireReader(const std::string& path, const uint8_t* data, size_t size, size_t base)
      : path_(path), data_(data), size_(size), base_(base) {}

  bool done() const { return pos_ >= size_; }

  uint64_t varint(const std::string& what) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= size_) fail(what, "truncated varint");
      const uint8_t b = data_[pos_++];
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    fail(what, "varint longer than 10 bytes");
  }
  // Returns (field number, wire type).
  std::pair<uint32_t, uint32_t> key(const std::string& what) {
    const uint64_t k = varint(what);
    return {static_cast<uint32_t>(k >> 3), static_cast<uint32_t>(k & 7)};
  }
  WireReader message(const std::string& what) {
    const uint64_t n = varint(what);
    if (n > size_ - pos_) fail(what, "length " + std::to_string(n) + " runs past the end");
    WireReader sub(path_, data_ + pos_, static_cast<size_t>(n), base_ + pos_);
    pos_ += static_cast<size_t>(n);
    return sub;
  }
  std::string bytes(const std::string& what) {
    const uint64_t n = varint(what);
    if (n > size_ - pos_) fail(what, "length " + std::to_string(n) + " runs past the end");
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  float fixed32_float(const std::string& what) {
    if (size_ - pos_ < 4) fail(what, "truncated float");
    float f;
    std::memcpy(&f, data_ + pos_, 4);
    pos_ += 4;
    return f;
  }
  void skip(uint32_t wire, const std::string& what) {
    switch (wire) {
      case 0: varint(what); break;
      case 1:
        if (size_ - pos_ < 8) fail(what, "truncated");
        pos_ += 8;
        break;
      case 2: bytes(what); break;
      case 5:
        if (size_ - pos_ < 4) fail(what, "truncated");
        pos_ += 4;
        break;
      default: fail(what, "unknown wire type " + std::to_string(wire));
    }
  }
  [[noreturn]] void fail(const std::string& what, const std::string& msg) const {
    throw Error(path_, what + " (offset " + std::to_string(base_ + pos_) + ")", msg);
  }

 private:
  const std::string& path_;
  const uint8_t* data_;
  size_t size_;
  size_t base_;
  size_t pos_ = 0;
};

}  // namespace

Vocab vocab_from_sentencepiece_model(const std::string& path) try {
  MappedFile file(path);
  WireReader top(path, file.data(), file.size(), 0);
  Vocab v;
  v.source = path;
  v.algorithm = TokenizerAlgorithm::SentencePieceBpe;
  v.pre = "";
  // proto2 defaults of the fields read below.
  int64_t model_type = 1;  // UNIGRAM
  int64_t unk = 0, bos = 1, eos = 2, pad = -1;
  bool add_dummy_prefix = true, remove_extra_ws = true, escape_ws = true, ws_suffix = false;
  std::string normalizer = "";
  while (!top.done()) {
    const auto [field, wire] = top.key("ModelProto");
    if (field == 1 && wire == 2) {
      const std::string what = "pieces[" + std::to_string(v.tokens.size()) + "]";
      WireReader p = top.message(what);
      std::string piece;
      float score = 0;
      int64_t type = 1;
      while (!p.done()) {
        const auto [f, w] = p.key(what);
        if (f == 1 && w == 2) piece = p.bytes(what + ".piece");
        else if (f == 2 && w == 5) score = p.fixed32_float(what + ".score");
        else if (f == 3 && w == 0) type = static_cast<int64_t>(p.varint(what + ".type"));
        else p.skip(w, what);
      }
      if (piece.empty()) top.fail(what + ".piece", "is empty");
      v.tokens.push_back(std::move(piece));
      v.scores.push_back(score);
      v.kinds.push_back(type >= 1 && type <= 6 ? static_cast<TokenKind>(type) : TokenKind::Undefined);
    } else if (field == 2 && wire == 2) {
      WireReader t = top.message("trainer_spec");
      while (!t.done()) {
        const auto [f, w] = t.key("trainer_spec");
        const auto as_int = [&](const char* name) { return static_cast<int64_t>(static_cast<int32_t>(t.varint(name))); };
        if (w == 0 && f == 3) model_type = as_int("trainer_spec.model_type");
        else if (w == 0 && f == 24) ws_suffix = t.varint("trainer_spec.treat_whitespace_as_suffix") != 0;
        else if (w == 0 && f == 40) unk = as_int("trainer_spec.unk_id");
        else if (w == 0 && f == 41) bos = as_int("trainer_spec.bos_id");
        else if (w == 0 && f == 42) eos = as_int("trainer_spec.eos_id");
        else if (w == 0 && f == 43) pad = as_int("trainer_spec.pad_id");
        else t.skip(w, "trainer_spec");
      }
    } else if (field == 3 && wire == 2) {
      WireReader n = top.message("normalizer_spec");
      while (!n.done()) {
        const auto [f, w] = n.key("normalizer_spec");
        if (f == 1 && w == 2) normalizer = n.bytes("normalizer_spec.name");
        else if (f == 3 && w == 0) add_dummy_prefix = n.varint("normalizer_spec.add_dummy_prefix") != 0;
        else if (f == 4 && w == 0) remove_extra_ws = n.varint("normalizer_spec.remove_extra_whitespaces") != 0;
        else if (f == 5 && w == 0) escape_ws = n.varint("normalizer_spec.escape_whitespaces") != 0;
        else n.skip(w, "normalizer_spec");
      }
    } else {
      top.skip(wire, "ModelProto");
    }
  }
  if (v.tokens.empty()) throw Error(path, "pieces", "no pieces (not a SentencePiece model?)");
  if (model_type != 2)
    throw Error(path, "trainer_spec.model_type", "model type " + std::to_string(model_type) + " is not supported (BPE = 2 is)");
  if (normalizer != "identity")
    throw Error(path, "normalizer_spec.name", "normalizer '" + normalizer + "' is not supported (identity is)");
  if (remove_extra_ws) throw Error(path, "normalizer_spec.remove_extra_whitespaces", "true is not supported");
  if (!escape_ws || ws_suffix) throw Error(path, "normalizer_spec", "only escaped, prefix whitespace is supported");
  const auto id_or_none = [&](int64_t id, const char* name) -> int32_t {
    if (id < 0) return -1;
    if (id >= static_cast<int64_t>(v.tokens.size()))
      throw Error(path, std::string("trainer_spec.") + name, "id " + std::to_string(id) + " outside the vocabulary");
    return static_cast<int32_t>(id);
  };
  v.unk_id = id_or_none(unk, "unk_id");
  v.bos_id = id_or_none(bos, "bos_id");
  v.eos_id = id_or_none(eos, "eos_id");
  v.pad_id = id_or_none(pad, "pad_id");
  v.add_bos = v.bos_id >= 0;
  v.add_space_prefix = add_dummy_prefix;
  return v;
} catch (...) {
  rethrow_as_error(path, "");
}

}  // namespace quantlab
