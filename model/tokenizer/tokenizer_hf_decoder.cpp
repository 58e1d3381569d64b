// The decoder chain of a Hugging Face tokenizer.json, applied per token (what one token adds
// to the decoded text): ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "model/base/model_error.hpp"
#include "model/tokenizer/tokenizer_hf_pipeline.hpp"

namespace tessera::model {

struct hf_decoder_step {
  enum kind_t { byte_level, metaspace, replace, byte_fallback, strip } kind;
  std::string a, b;
  bool strip_first_space = false;
  int strip_start = 0;
};

namespace {

void flatten_decoder(const nlohmann::json& j, const std::string& where, std::vector<std::unique_ptr<hf_decoder_step>>& steps) {
  if (j.is_null()) return;
  auto t = j.find("type");
  if (t == j.end() || !t->is_string()) throw model_error(where + " has no \"type\"");
  const std::string type = t->get<std::string>();
  auto step = std::make_unique<hf_decoder_step>();
  using k = hf_decoder_step::kind_t;
  if (type == "Sequence") {
    for (const auto& d : j.at("decoders")) flatten_decoder(d, where, steps);
    return;
  } else if (type == "Fuse") {
    return;  // joining tokens is what decoding does anyway
  } else if (type == "ByteLevel") {
    step->kind = k::byte_level;
  } else if (type == "ByteFallback") {
    step->kind = k::byte_fallback;
  } else if (type == "Metaspace") {
    step->kind = k::metaspace;
    step->a = j.value("replacement", std::string("\xE2\x96\x81"));
    if (j.contains("prepend_scheme") && j["prepend_scheme"].is_string()) step->strip_first_space = j["prepend_scheme"] != "never";
    else step->strip_first_space = j.value("add_prefix_space", true);
  } else if (type == "Replace") {
    step->kind = k::replace;
    const auto& p = j.at("pattern");
    if (!p.contains("String")) throw model_error(where + ": Replace decoder with a regex pattern is not supported");
    step->a = p.at("String").get<std::string>();
    step->b = j.at("content").get<std::string>();
  } else if (type == "Strip") {
    step->kind = k::strip;
    step->a = j.at("content").get<std::string>();
    step->strip_start = j.value("start", 0);
  } else {
    throw model_error(where + ": unsupported decoder type \"" + type + "\"");
  }
  steps.push_back(std::move(step));
}

}  // namespace

hf_decoder::hf_decoder(const nlohmann::json& j, const std::string& source) {
  try {
    flatten_decoder(j, source + ": decoder", steps_);
  } catch (const nlohmann::json::exception& e) {
    throw model_error(source + ": decoder: " + e.what());
  }
}

hf_decoder::~hf_decoder() = default;

std::string hf_decoder::token_bytes(const std::string& token, bool at_start) const {
  std::string t = token;
  using k = hf_decoder_step::kind_t;
  for (const auto& s : steps_) {
    switch (s->kind) {
      case k::byte_level: t = from_byte_level(t); break;
      case k::replace: replace_all(t, s->a, s->b); break;
      case k::byte_fallback: {
        unsigned value = 0;
        if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && std::sscanf(t.c_str() + 3, "%2x", &value) == 1)
          t = std::string(1, static_cast<char>(value));
        break;
      }
      case k::metaspace:
        replace_all(t, s->a, " ");
        if (at_start && s->strip_first_space && !t.empty() && t[0] == ' ') t.erase(0, 1);
        break;
      case k::strip:
        if (at_start)
          for (int n = 0; n < s->strip_start && t.compare(0, s->a.size(), s->a) == 0 && !s->a.empty(); ++n)
            t.erase(0, s->a.size());
        break;
    }
  }
  return t;
}

}  // namespace tessera::model
