// Graph cutter (stub until the implementation lands).
#include "model/graph_cutter.hpp"

#include "model/model_error.hpp"

namespace tessera::model {

std::string to_string(token_head head) {
  switch (head) {
    case token_head::logits: return "logits";
    case token_head::greedy: return "greedy";
    case token_head::sample: return "sample";
  }
  return "?";
}

token_head parse_token_head(const std::string& text) {
  if (text == "logits") return token_head::logits;
  if (text == "greedy") return token_head::greedy;
  if (text == "sample") return token_head::sample;
  throw model_error("unknown head '" + text + "' (expected logits, greedy or sample)");
}

std::vector<stage_range> parse_stage_list(const std::string& text, int) {
  throw model_error("parse_stage_list: not implemented yet (" + text + ")");
}

void validate_stage_list(const std::vector<stage_range>&, int) {}

split_result split_model(const std::string& path, const std::string&, const split_options&) {
  throw model_error("split_model: not implemented yet (" + path + ")");
}

}  // namespace tessera::model
