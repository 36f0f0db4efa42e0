#include "quantlab/calib/provenance.hpp"

#include "quantlab/core/error.hpp"

namespace quantlab::calib {

nlohmann::ordered_json Provenance::to_json() const {
  return {{"dataset", {{"name", dataset_name}, {"path", dataset_path}, {"sha256", dataset_sha256},
                       {"format", dataset_format}, {"samples_in_file", samples_in_file}}},
          {"samples_used", samples_used},
          {"packing", {{"mode", packing}, {"seq_len", seq_len}, {"overflow", overflow}, {"seed", seed}}},
          {"template", {{"kind", template_kind}, {"name", template_name}, {"sha256", template_sha256}}},
          {"tool_version", tool_version}};
}

Provenance Provenance::from_json(const nlohmann::ordered_json& j) {
  Provenance p;
  auto get = [&](const nlohmann::ordered_json& obj, const char* key, const std::string& field) -> const nlohmann::ordered_json& {
    if (!obj.is_object() || !obj.contains(key)) throw Error("calibration provenance", field, "missing");
    return obj[key];
  };
  try {
    const auto& d = get(j, "dataset", "dataset");
    p.dataset_name = get(d, "name", "dataset.name").get<std::string>();
    p.dataset_path = get(d, "path", "dataset.path").get<std::string>();
    p.dataset_sha256 = get(d, "sha256", "dataset.sha256").get<std::string>();
    p.dataset_format = get(d, "format", "dataset.format").get<std::string>();
    p.samples_in_file = get(d, "samples_in_file", "dataset.samples_in_file").get<size_t>();
    p.samples_used = get(j, "samples_used", "samples_used").get<size_t>();
    const auto& pk = get(j, "packing", "packing");
    p.packing = get(pk, "mode", "packing.mode").get<std::string>();
    p.seq_len = get(pk, "seq_len", "packing.seq_len").get<size_t>();
    p.overflow = get(pk, "overflow", "packing.overflow").get<std::string>();
    p.seed = get(pk, "seed", "packing.seed").get<uint64_t>();
    const auto& t = get(j, "template", "template");
    p.template_kind = get(t, "kind", "template.kind").get<std::string>();
    p.template_name = get(t, "name", "template.name").get<std::string>();
    p.template_sha256 = get(t, "sha256", "template.sha256").get<std::string>();
    p.tool_version = get(j, "tool_version", "tool_version").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw Error("calibration provenance", "", std::string("wrong type: ") + e.what());
  }
  return p;
}

}  // namespace quantlab::calib
