// A Hugging Face model folder as a stranger hands it over: config.json, tokenizer_config.json and
// model.safetensors come from the input (split at NULs, the safetensors part last). The folder is
// read as `inspect` and the loaders read it: the folder summary, the tokenizer (a fixed tokenizer.json
// with the input's tokenizer_config.json), the whole model (configuration checks, tensor shapes
// against the configuration) and the chat template with its special tokens.
#include "fuzz_file.hpp"

#include "quantlab/calib/model_template.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/io/hf_model.hpp"
#include "quantlab/model/model.hpp"
#include "quantlab/text/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace quantlab;
  const auto parts = fuzz::split_parts(data, size, 3);
  const std::string dir = fuzz::fresh_folder();
  fuzz::write_file(dir + "/config.json", parts[0]);
  if (!parts[1].empty()) fuzz::write_file(dir + "/tokenizer_config.json", parts[1]);
  if (!parts[2].empty()) fuzz::write_file(dir + "/model.safetensors", parts[2]);
  // A fixed byte-level BPE tokenizer.json beside them, so tokenizer_config.json's special tokens,
  // add_bos/add_eos and chat templates go through the tokenizer loader too.
  fuzz::write_file(dir + "/tokenizer.json",
                   R"({"model":{"type":"BPE","vocab":{"<s>":0,"</s>":1,"a":2,"b":3,"ab":4},"merges":["a b"]},)"
                   R"("added_tokens":[{"id":0,"content":"<s>","special":true},{"id":1,"content":"</s>","special":true}],)"
                   R"("pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}})");
  try {
    const HfModelDir hf = read_hf_model_dir(dir);
    try {
      (void)hf.architecture();
      (void)hf.model_type();
    } catch (const Error&) {
    }
  } catch (const Error&) {
  }
  try {
    const Tokenizer tok = Tokenizer::load(dir);
    (void)tok.decode(tok.encode("ab ba", true, true));
  } catch (const Error&) {
  }
  try {
    const Model m = load_model(dir);
    if (m.layers.size() != size_t(m.config.n_layer)) __builtin_trap();
  } catch (const Error&) {
  }
  try {
    if (const auto t = calib::load_model_chat_template(dir)) {
      (void)t->apply(nlohmann::ordered_json::array({{{"role", "user"}, {"content", "Hi"}}}), true);
      (void)t->end_of_turn();
    }
  } catch (const Error&) {
  }
  return 0;
}
