// The tokenizer base (decode, stop ids), the streaming decoder and load_tokenizer's dispatch.
#include "model/tokenizer/tokenizer.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "model/base/json_file.hpp"
#include "model/base/model_error.hpp"
#include "model/tokenizer/byte_tokenizer.hpp"
#include "model/tokenizer/sentencepiece_tokenizer.hpp"
#include "model/tokenizer/tokenizer_config.hpp"
#include "model/tokenizer/tokenizer_hf.hpp"
#include "model/tokenizer/tokenizer_utf8.hpp"

namespace fs = std::filesystem;

namespace tessera::model {

std::string tokenizer::decode(const std::vector<token_id>& ids, bool skip_special_tokens) const {
  std::string bytes;
  bool at_start = true;
  for (token_id id : ids) {
    if (skip_special_tokens && is_special(id)) continue;
    bytes += token_bytes(id, at_start);
    at_start = false;
  }
  return utf8::sanitize(bytes);
}

bool tokenizer::is_stop(token_id id) const { return std::find(stop_.begin(), stop_.end(), id) != stop_.end(); }

void tokenizer::set_eos(std::optional<token_id> id) {
  eos_ = id;
  if (id) add_stop(*id);
}

void tokenizer::add_stop(token_id id) {
  if (!is_stop(id)) stop_.push_back(id);
}

stream_decoder::stream_decoder(const tokenizer& tok, bool skip_special_tokens)
    : tok_(&tok), skip_special_(skip_special_tokens) {}

std::string stream_decoder::push(token_id id) {
  if (skip_special_ && tok_->is_special(id)) return {};
  pending_ += tok_->token_bytes(id, at_start_);
  at_start_ = false;
  std::string out;
  const std::size_t used = utf8::append_valid(out, pending_, /*hold_tail=*/true);
  pending_.erase(0, used);
  return out;
}

std::string stream_decoder::finish() {
  std::string out = utf8::sanitize(pending_);
  pending_.clear();
  return out;
}

namespace {

std::unique_ptr<tokenizer> load_json_tokenizer(const fs::path& file) {
  const nlohmann::json j = read_json_file(file, "tokenizer file");
  if (!j.is_object()) throw model_error(file.string() + ": a tokenizer description must be a JSON object");
  if (auto it = j.find("tessera_tokenizer"); it != j.end()) {
    if (*it != "bytes")
      throw model_error(file.string() + ": unsupported tessera_tokenizer " + it->dump() + " (supported: \"bytes\")");
    return make_byte_tokenizer(j, file.string());
  }
  if (j.contains("model")) return make_hf_tokenizer(j, file.string());
  throw model_error(file.string() +
                    ": neither a Tessera tokenizer (\"tessera_tokenizer\") nor a Hugging Face tokenizer.json (\"model\")");
}

}  // namespace

std::unique_ptr<tokenizer> load_tokenizer(const std::string& model_dir_or_file) {
  const fs::path path(model_dir_or_file);
  std::error_code ec;
  if (!fs::exists(path, ec)) throw model_error("tokenizer path not found: " + model_dir_or_file);

  fs::path file;
  fs::path dir;
  if (fs::is_directory(path, ec)) {
    dir = path;
    if (fs::exists(path / "tokenizer.json")) file = path / "tokenizer.json";
    else if (fs::exists(path / "tokenizer.model")) file = path / "tokenizer.model";
    else throw model_error(model_dir_or_file + ": no tokenizer.json or tokenizer.model in this directory");
  } else {
    file = path;
    dir = path.parent_path();
  }

  const auto config = read_tokenizer_config(dir);
  std::unique_ptr<tokenizer> tok;
  std::ifstream probe(file, std::ios::binary);
  if (!probe) throw model_error("cannot open tokenizer file " + file.string());
  char first = 0;
  probe >> first;  // skips whitespace: a JSON file starts with '{'
  if (first == '{') {
    tok = load_json_tokenizer(file);
  } else {
    tok = make_sentencepiece_tokenizer(file.string(), config);
  }
  apply_tokenizer_config(*tok, config);
  return tok;
}

}  // namespace tessera::model
