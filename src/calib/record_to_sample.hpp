#pragma once
// Turning one parsed JSON record into a Sample, by dataset shape (internal to calib/).
#include "quantlab/calib/dataset.hpp"

#include <nlohmann/json.hpp>

namespace quantlab::calib::detail {

// Decides the shape from a record's keys; throws Error naming the file and line when it cannot.
DatasetShape detect_record_shape(const nlohmann::json& record, const std::string& path, size_t line);

// Converts a record; errors name the file, "line N" and the field.
Sample record_to_sample(const nlohmann::json& record, DatasetShape shape, const FieldMapping& mapping,
                        const std::string& path, size_t line);

}  // namespace quantlab::calib::detail
