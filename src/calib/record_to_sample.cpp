// Dataset shapes -> Sample. The user turn of instruction datasets joins the instruction and its
// input/context with a blank line (as Alpaca's own prompt does), so a chat template sees one turn.
#include "record_to_sample.hpp"

#include "quantlab/core/error.hpp"

namespace quantlab::calib::detail {
namespace {

using nlohmann::json;

std::string at_line(size_t line) { return "line " + std::to_string(line); }

[[noreturn]] void fail(const std::string& path, size_t line, const std::string& field, const std::string& msg) {
  throw Error(path, at_line(line) + (field.empty() ? "" : ", field '" + field + "'"), msg);
}

const char* type_word(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return "a number";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    default: return "an unsupported value";
  }
}

// A required string field; a missing or non-string field is an error naming it.
std::string required_string(const json& rec, const std::string& key, const std::string& path, size_t line,
                            const std::string& field_name = "") {
  const std::string name = field_name.empty() ? key : field_name;
  auto it = rec.find(key);
  if (it == rec.end()) fail(path, line, name, "missing (expected a string)");
  if (!it->is_string()) fail(path, line, name, std::string("expected a string, got ") + type_word(*it));
  return it->get<std::string>();
}

// An optional string field: absent or null gives "", anything but a string is an error.
std::string optional_string(const json& rec, const std::string& key, const std::string& path, size_t line) {
  auto it = rec.find(key);
  if (it == rec.end() || it->is_null()) return "";
  if (!it->is_string()) fail(path, line, key, std::string("expected a string, got ") + type_word(*it));
  return it->get<std::string>();
}

std::string join_turn(const std::string& first, const std::string& second) {
  if (second.empty()) return first;
  if (first.empty()) return second;
  return first + "\n\n" + second;
}

void keep_string_fields(const json& rec, Sample& s) {
  for (auto it = rec.begin(); it != rec.end(); ++it)
    if (it->is_string()) s.fields[it.key()] = it->get<std::string>();
}

// OpenAI content: a string, or a list of parts of which the text parts are joined.
std::string message_content(const json& c, const std::string& field, const std::string& path, size_t line) {
  if (c.is_string()) return c.get<std::string>();
  if (c.is_null()) return "";
  if (c.is_array()) {
    std::string out;
    for (size_t i = 0; i < c.size(); ++i) {
      const json& part = c[i];
      const std::string pf = field + "[" + std::to_string(i) + "]";
      if (!part.is_object()) fail(path, line, pf, std::string("expected a content part object, got ") + type_word(part));
      auto type = part.find("type");
      if (type == part.end() || !type->is_string()) fail(path, line, pf + ".type", "missing (expected a string)");
      if (*type != "text") continue;  // images and other media carry no calibration text
      out += required_string(part, "text", path, line, pf + ".text");
    }
    return out;
  }
  fail(path, line, field, std::string("expected a string or a list of content parts, got ") + type_word(c));
}

std::vector<ChatMessage> openai_messages(const json& rec, const std::string& path, size_t line,
                                         const std::string& key = "messages") {
  auto it = rec.find(key);
  if (it == rec.end()) fail(path, line, key, "missing (expected an array of {role, content})");
  if (!it->is_array()) fail(path, line, key, std::string("expected an array, got ") + type_word(*it));
  if (it->empty()) fail(path, line, key, "empty conversation");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    const std::string f = key + "[" + std::to_string(i) + "]";
    if (!m.is_object()) fail(path, line, f, std::string("expected an object, got ") + type_word(m));
    ChatMessage cm;
    cm.role = required_string(m, "role", path, line, f + ".role");
    if (cm.role.empty()) fail(path, line, f + ".role", "empty role");
    auto c = m.find("content");
    if (c == m.end()) fail(path, line, f + ".content", "missing (expected a string)");
    cm.content = message_content(*c, f + ".content", path, line);
    out.push_back(std::move(cm));
  }
  return out;
}

std::vector<ChatMessage> sharegpt_messages(const json& rec, const std::string& path, size_t line) {
  auto it = rec.find("conversations");
  if (it == rec.end()) fail(path, line, "conversations", "missing (expected an array of {from, value})");
  if (!it->is_array()) fail(path, line, "conversations", std::string("expected an array, got ") + type_word(*it));
  if (it->empty()) fail(path, line, "conversations", "empty conversation");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    const std::string f = "conversations[" + std::to_string(i) + "]";
    if (!m.is_object()) fail(path, line, f, std::string("expected an object, got ") + type_word(m));
    const std::string from = required_string(m, "from", path, line, f + ".from");
    ChatMessage cm;
    if (from == "human" || from == "user") cm.role = "user";
    else if (from == "gpt" || from == "assistant" || from == "chatgpt") cm.role = "assistant";
    else if (from == "system") cm.role = "system";
    else if (from == "tool" || from == "observation" || from == "function_response") cm.role = "tool";
    else fail(path, line, f + ".from", "unknown speaker '" + from + "' (expected human, gpt or system)");
    cm.content = required_string(m, "value", path, line, f + ".value");
    out.push_back(std::move(cm));
  }
  return out;
}

}  // namespace

DatasetShape detect_record_shape(const json& rec, const std::string& path, size_t line) {
  if (!rec.is_object()) fail(path, line, "", std::string("expected a JSON object per record, got ") + type_word(rec));
  if (rec.contains("messages")) return DatasetShape::Messages;
  if (rec.contains("conversations")) return DatasetShape::ShareGPT;
  if (rec.contains("instruction") && rec.contains("output")) return DatasetShape::Alpaca;
  if (rec.contains("instruction") && rec.contains("response")) return DatasetShape::Dolly;
  if (rec.contains("text")) return DatasetShape::Mapped;  // with text=text, see read_dataset
  if (rec.contains("input") && rec["input"].is_array() && rec.contains("ideal"))
    return DatasetShape::Mapped;  // OpenAI evals: messages=input, response=ideal
  std::string keys;
  for (auto it = rec.begin(); it != rec.end(); ++it) keys += (keys.empty() ? "" : ", ") + it.key();
  fail(path, line, "", "cannot tell the dataset shape from the keys {" + keys +
                           "}; name it with --format (alpaca, dolly, messages, sharegpt) or map fields with --field");
}

Sample record_to_sample(const json& rec, DatasetShape shape, const FieldMapping& mapping, const std::string& path,
                        size_t line) {
  if (!rec.is_object()) fail(path, line, "", std::string("expected a JSON object per record, got ") + type_word(rec));
  Sample s;
  s.source = path;
  s.line = line;
  keep_string_fields(rec, s);
  switch (shape) {
    case DatasetShape::Alpaca: {
      const std::string instruction = required_string(rec, "instruction", path, line);
      const std::string input = optional_string(rec, "input", path, line);
      const std::string output = required_string(rec, "output", path, line);
      s.messages = {{"user", join_turn(instruction, input)}, {"assistant", output}};
      s.category = optional_string(rec, "category", path, line);
      break;
    }
    case DatasetShape::Dolly: {
      const std::string instruction = required_string(rec, "instruction", path, line);
      const std::string context = optional_string(rec, "context", path, line);
      const std::string response = required_string(rec, "response", path, line);
      s.messages = {{"user", join_turn(instruction, context)}, {"assistant", response}};
      s.category = optional_string(rec, "category", path, line);
      break;
    }
    case DatasetShape::Messages:
      s.messages = openai_messages(rec, path, line);
      s.category = optional_string(rec, "category", path, line);
      break;
    case DatasetShape::ShareGPT:
      s.messages = sharegpt_messages(rec, path, line);
      s.category = optional_string(rec, "category", path, line);
      break;
    case DatasetShape::Mapped: {
      if (!mapping.text.empty()) {
        s.text = required_string(rec, mapping.text, path, line);
      } else if (!mapping.messages.empty()) {
        s.messages = openai_messages(rec, path, line, mapping.messages);
        if (!mapping.response.empty()) {
          auto r = rec.find(mapping.response);
          if (r == rec.end()) fail(path, line, mapping.response, "missing (expected a string)");
          // OpenAI evals give several acceptable answers as a list: the first is the reply.
          const json& answer = r->is_array() && !r->empty() ? (*r)[0] : *r;
          if (!answer.is_string())
            fail(path, line, mapping.response, std::string("expected a string, got ") + type_word(answer));
          s.messages.push_back({"assistant", answer.get<std::string>()});
        }
      } else {
        if (mapping.prompt.empty())
          throw Error("--field", "prompt", "a field mapping needs prompt=FIELD, messages=FIELD or text=FIELD");
        if (!mapping.system.empty()) s.messages.push_back({"system", required_string(rec, mapping.system, path, line)});
        std::string user = required_string(rec, mapping.prompt, path, line);
        if (!mapping.input.empty()) user = join_turn(user, optional_string(rec, mapping.input, path, line));
        s.messages.push_back({"user", user});
        if (!mapping.response.empty())
          s.messages.push_back({"assistant", required_string(rec, mapping.response, path, line)});
      }
      s.category = mapping.category.empty() ? optional_string(rec, "category", path, line)
                                            : required_string(rec, mapping.category, path, line);
      break;
    }
    default: throw Error(path, "", std::string("shape ") + shape_name(shape) + " is not a record shape");
  }
  return s;
}

}  // namespace quantlab::calib::detail
