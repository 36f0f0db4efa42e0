#include "quantlab/core/error.hpp"
#include "quantlab/core/foreign_error.hpp"
#include "quantlab/eval/kld.hpp"

#include <cstdio>
#include <cstring>
#include <fstream>

namespace quantlab {

namespace {
constexpr char kMagic[8] = {'_', 'l', 'o', 'g', 'i', 't', 's', '_'};
size_t scored_per_chunk(uint32_t n_ctx) { return size_t(n_ctx - 1 - n_ctx / 2); }
}  // namespace

BaseLogitsWriter::BaseLogitsWriter(const std::string& path, uint32_t n_ctx, int32_t n_vocab, const std::vector<int32_t>& tokens)
    : path_(path), tmp_(path + ".tmp") {
  if (n_ctx < 4 || n_vocab <= 0 || tokens.size() % n_ctx != 0)
    throw Error(path, "header", "token count must be a multiple of the context size");
  chunk_words_ = scored_per_chunk(n_ctx) * size_t(compressed_logprob_words(n_vocab));
  chunks_expected_ = int32_t(tokens.size() / n_ctx);
  FILE* f = std::fopen(tmp_.c_str(), "wb");
  if (!f) throw Error(path, "", "cannot write");
  file_ = f;
  const int32_t n_chunk = chunks_expected_;
  std::fwrite(kMagic, 1, 8, f);
  std::fwrite(&n_ctx, 4, 1, f);
  std::fwrite(&n_vocab, 4, 1, f);
  std::fwrite(&n_chunk, 4, 1, f);
  std::fwrite(tokens.data(), 4, tokens.size(), f);
}

BaseLogitsWriter::~BaseLogitsWriter() {
  if (file_) {
    std::fclose(static_cast<FILE*>(file_));
    std::remove(tmp_.c_str());
  }
}

void BaseLogitsWriter::add_chunk(const std::vector<uint16_t>& words) {
  if (words.size() != chunk_words_) throw Error(path_, "chunk", "wrong number of log-prob words");
  if (chunks_written_ == chunks_expected_) throw Error(path_, "chunk", "more chunks than tokens");
  std::fwrite(words.data(), 2, words.size(), static_cast<FILE*>(file_));
  ++chunks_written_;
}

void BaseLogitsWriter::finish() {
  if (chunks_written_ != chunks_expected_) throw Error(path_, "chunk", "fewer chunks written than announced");
  FILE* f = static_cast<FILE*>(file_);
  file_ = nullptr;
  const bool ok = std::fflush(f) == 0 && std::ferror(f) == 0;
  std::fclose(f);
  if (!ok || std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    std::remove(tmp_.c_str());
    throw Error(path_, "", "write failed");
  }
}

BaseLogitsFile::BaseLogitsFile(const std::string& path) try : path_(path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error(path, "", "cannot open");
  const uint64_t size = uint64_t(in.tellg());
  in.seekg(0);
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, kMagic, 8) != 0) throw Error(path, "magic", "not a base-logits file (expected \"_logits_\")");
  if (!in.read(reinterpret_cast<char*>(&n_ctx_), 4) || !in.read(reinterpret_cast<char*>(&n_vocab_), 4) ||
      !in.read(reinterpret_cast<char*>(&n_chunk_), 4))
    throw Error(path, "header", "truncated");
  if (n_ctx_ < 4 || n_ctx_ > (1u << 20)) throw Error(path, "n_ctx", "implausible context size " + std::to_string(n_ctx_));
  if (n_vocab_ <= 0 || n_vocab_ > (1 << 22)) throw Error(path, "n_vocab", "implausible vocabulary size " + std::to_string(n_vocab_));
  if (n_chunk_ <= 0) throw Error(path, "n_chunk", "no chunks");
  const uint64_t n_tokens = uint64_t(n_ctx_) * uint64_t(n_chunk_);
  data_offset_ = 20 + 4 * n_tokens;
  const uint64_t chunk_bytes = 2 * scored_per_chunk(n_ctx_) * uint64_t(compressed_logprob_words(n_vocab_));
  if (data_offset_ > size || (size - data_offset_) / chunk_bytes < uint64_t(n_chunk_))
    throw Error(path, "log-probs", "file holds fewer chunks than its header says (truncated?)");
  tokens_.resize(size_t(n_tokens));
  in.read(reinterpret_cast<char*>(tokens_.data()), std::streamsize(4 * n_tokens));
  for (size_t i = 0; i < tokens_.size(); ++i)
    if (tokens_[i] < 0 || tokens_[i] >= n_vocab_) throw Error(path, "tokens[" + std::to_string(i) + "]", "token id out of range");
} catch (...) {
  rethrow_as_error(path, "");
}

std::vector<uint16_t> BaseLogitsFile::chunk(int32_t c) const {
  if (c < 0 || c >= n_chunk_) throw Error(path_, "chunk", "index out of range");
  const size_t words = scored_per_chunk(n_ctx_) * size_t(compressed_logprob_words(n_vocab_));
  std::vector<uint16_t> out(words);
  std::ifstream in(path_, std::ios::binary);
  in.seekg(std::streamoff(data_offset_ + uint64_t(c) * words * 2));
  if (!in.read(reinterpret_cast<char*>(out.data()), std::streamsize(words * 2))) throw Error(path_, "chunk " + std::to_string(c), "truncated");
  return out;
}

}  // namespace quantlab
