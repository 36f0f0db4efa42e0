// A Hugging Face model folder as a stranger hands it over: config.json, tokenizer_config.json and
// model.safetensors come from the input (split at NULs, the safetensors part last). The folder is
// read as `inspect` and the loaders read it: the folder summary, the whole model (configuration
// checks, tensor shapes against the configuration) and the chat template with its special tokens.
#include "fuzz_file.hpp"

#include "quantlab/calib/model_template.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/io/hf_model.hpp"
#include "quantlab/model/model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace quantlab;
  const auto parts = fuzz::split_parts(data, size, 3);
  const std::string dir = fuzz::fresh_folder();
  fuzz::write_file(dir + "/config.json", parts[0]);
  if (!parts[1].empty()) fuzz::write_file(dir + "/tokenizer_config.json", parts[1]);
  if (!parts[2].empty()) fuzz::write_file(dir + "/model.safetensors", parts[2]);
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
