// Tokenizer throughput: encodes TEXT_FILE with the tokenizer of MODEL_DIR `repeats` times and
// prints one JSON line {"bytes", "tokens", "seconds", "mb_per_s" (best of the repeats),
// "first_pass_mb_per_s" (cold word cache)}.
// Driven by bench.mjs, which runs the JavaScript reference on the same text in the same run.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "model/tokenizer/tokenizer.hpp"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: tokenizer_bench MODEL_DIR TEXT_FILE [repeats]\n";
    return 2;
  }
  std::ifstream in(argv[2], std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  const std::string s = text.str();
  const int repeats = argc > 3 ? std::atoi(argv[3]) : 3;
  try {
    auto tok = tessera::model::load_tokenizer(argv[1]);
    double best = 1e30, first = 0;
    std::size_t tokens = 0;
    for (int r = 0; r < repeats; ++r) {
      // The first pass starts with an empty word cache; later passes show the warm speed a
      // long-running server sees.
      const auto t0 = std::chrono::steady_clock::now();
      tokens = tok->encode(s, false).size();
      const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (r == 0) first = sec;
      best = std::min(best, sec);
    }
    std::printf("{\"bytes\": %zu, \"tokens\": %zu, \"seconds\": %.6f, \"mb_per_s\": %.3f, \"first_pass_mb_per_s\": %.3f}\n",
                s.size(), tokens, best, s.size() / 1e6 / best, s.size() / 1e6 / first);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
