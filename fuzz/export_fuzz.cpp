// A quantized export folder (what `quantize --method gptq|awq|rtn --out DIR` writes and `eval`
// reloads): config.json with quantization_config and quantlab's provenance, then model.safetensors,
// from the input split at the first NUL. The loader must refuse with a quantlab::Error or give a
// model whose linears have the shapes config.json declares; the provenance must parse or refuse.
#include "fuzz_file.hpp"

#include "quantlab/calib/provenance.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/io/json.hpp"
#include "quantlab/pipeline/export_hf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace quantlab;
  const auto parts = fuzz::split_parts(data, size, 2);
  const std::string dir = fuzz::fresh_folder();
  fuzz::write_file(dir + "/config.json", parts[0]);
  fuzz::write_file(dir + "/model.safetensors", parts[1]);
  try {
    const Model m = pipeline::load_quantized_export(dir);
    if (m.layers.size() != size_t(m.config.n_layer)) __builtin_trap();
  } catch (const Error&) {
  }
  try {
    const auto config = parse_json(parts[0], dir + "/config.json");
    const nlohmann::json* qc = json_member(config, "quantization_config");
    const nlohmann::json* ours = qc ? json_member(*qc, "quantlab") : nullptr;
    const nlohmann::json* cal = ours ? json_member(*ours, "calibration") : nullptr;
    if (cal) (void)calib::Provenance::from_json(nlohmann::ordered_json::parse(cal->dump()));
  } catch (const Error&) {
  }
  return 0;
}
