#pragma once
// A tokenizer vocabulary as data: token strings, scores, kinds, merges, special ids and the
// rules around them. Loaders (vocab_loaders.hpp) fill it from GGUF metadata, a Hugging Face
// tokenizer.json or a llama2.c tokenizer.bin; Tokenizer (tokenizer.hpp) runs it.
//
// Token strings are stored the way llama.cpp stores them in GGUF: SentencePiece pieces with U+2581
// for spaces and <0xXX> byte pieces, byte-level BPE tokens through the GPT-2 byte-to-unicode map,
// WordPiece tokens with U+2581 marking a word start (no "##" continuation prefix).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace quantlab {

// The GGUF token types (tokenizer.ggml.token_type), same numbering.
enum class TokenKind : uint8_t { Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

enum class TokenizerAlgorithm {
  SentencePieceBpe,  // score-driven merges over characters, byte fallback (<0xXX>); GGUF "llama"
  ByteLevelBpe,      // GPT-2 byte map + ranked merges after a regex pre-tokenizer; GGUF "gpt2"
  WordPiece,         // BERT greedy longest match; GGUF "bert"
};

const char* tokenizer_algorithm_name(TokenizerAlgorithm a);

struct Vocab {
  std::string source;  // file the vocabulary came from (named in errors)
  TokenizerAlgorithm algorithm = TokenizerAlgorithm::SentencePieceBpe;

  std::vector<std::string> tokens;
  std::vector<float> scores;     // empty or one per token
  std::vector<TokenKind> kinds;  // one per token
  std::vector<uint8_t> lstrip;   // one per token: strip whitespace left of this special token's text
  std::vector<uint8_t> rstrip;   // one per token: strip whitespace right of it
  std::vector<std::pair<std::string, std::string>> merges;  // rank = index (byte-level BPE)

  // Pre-tokenizer: a GGUF tokenizer.ggml.pre name ("gpt-2", "llama3", "qwen2", ...) selecting
  // llama.cpp's regexes, or explicit regexes (from a tokenizer.json Split) when split_regexes is
  // not empty. Each regex splits every piece into its matches and the text between them.
  std::string pre = "default";
  std::vector<std::string> split_regexes;
  bool byte_encode = true;  // byte-level BPE: map bytes through the GPT-2 table before merging

  int32_t bos_id = -1, eos_id = -1, eot_id = -1, eom_id = -1, unk_id = -1, sep_id = -1, pad_id = -1;
  bool add_bos = false;
  bool add_eos = false;
  bool add_sep = false;           // WordPiece: [SEP] after the text when adding specials
  bool add_space_prefix = false;  // SentencePiece: prepend a space to the first text piece
  bool ignore_merges = false;     // byte-level BPE: a word that is a whole token is taken as is
  bool lowercase = true;          // WordPiece: lowercase and strip accents (BERT uncased)
  // WordPiece as Hugging Face's tokenizers runs it (tokenizer.json): accents are stripped after the
  // full canonical decomposition (a Hangul syllable becomes its jamo; llama.cpp keeps only the first
  // code point of the decomposition), and a word longer than max_word_chars code points is [UNK]
  // (model.max_input_chars_per_word; 0 = no limit, as llama.cpp).
  bool full_decomposition = false;
  int64_t max_word_chars = 0;
  bool normalize_nfc = false;     // tokenizer.json normalizer NFC (Qwen2/3)

  std::string chat_template;  // Jinja text, when the source has one
  std::string model_name;     // general.name or similar, informative
};

}  // namespace quantlab
