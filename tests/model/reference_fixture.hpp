#pragma once
// Reads tests/model/fixtures/aidreams260K_reference.txt (written by tools/llama2c_reference.py).
#include "test_support.hpp"

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace quantlab::test {

struct PositionReference {
  int32_t argmax = 0;
  double max = 0, lse = 0;
  std::vector<double> probes;
};

struct LlamaReference {
  std::vector<int32_t> tokens, probe_ids, greedy, ppl_tokens;
  std::vector<PositionReference> positions;
  std::map<std::string, std::vector<PositionReference>> arch_positions;  // "qwen2", "qwen3"
  int32_t greedy_prompt = 0;
  int64_t ppl_ctx = 0;
  double ppl = 0, ppl_stderr = 0;
};

inline std::filesystem::path aidreams_model() { return shared_dir() / "models" / "aidreams260K" / "aidreams260K.bin"; }

inline LlamaReference read_reference() {
  LlamaReference r;
  std::ifstream in(source_dir() / "tests" / "model" / "fixtures" / "aidreams260K_reference.txt");
  std::string line;
  auto ints = [](std::istringstream& s) {
    std::vector<int32_t> v;
    int32_t x;
    while (s >> x) v.push_back(x);
    return v;
  };
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream s(line);
    std::string key;
    s >> key;
    if (key == "tokens") r.tokens = ints(s);
    else if (key == "probe_ids") r.probe_ids = ints(s);
    else if (key == "greedy") r.greedy = ints(s);
    else if (key == "greedy_prompt") s >> r.greedy_prompt;
    else if (key == "ppl_tokens") r.ppl_tokens = ints(s);
    else if (key == "ppl_ctx") {
      std::string k;
      s >> r.ppl_ctx >> k >> r.ppl >> k >> r.ppl_stderr;
    } else if (key == "position" || key == "qwen2_position" || key == "qwen3_position") {
      PositionReference p;
      int t;
      std::string k;
      s >> t >> k >> p.argmax >> k >> p.max >> k >> p.lse >> k;
      double v;
      while (s >> v) p.probes.push_back(v);
      if (key == "position") r.positions.push_back(p);
      else r.arch_positions[key.substr(0, 5)].push_back(p);
    }
  }
  return r;
}

}  // namespace quantlab::test
