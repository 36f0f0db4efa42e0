#pragma once
// Token text -> id lookup that takes string_views without building strings (the merge loops look
// up millions of adjacent-symbol spans).
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace quantlab::text_detail {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

class TokenIndex {
 public:
  void reserve(size_t n) { map_.reserve(n); }
  bool insert(std::string text, int32_t id) { return map_.emplace(std::move(text), id).second; }
  int32_t find(std::string_view text) const {
    const auto it = map_.find(text);
    return it == map_.end() ? -1 : it->second;
  }

 private:
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> map_;
};

}  // namespace quantlab::text_detail
