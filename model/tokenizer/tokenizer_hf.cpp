// A Hugging Face tokenizer.json as a tessera tokenizer: added tokens are cut out of the text
// first, every other section goes normalizer -> pre-tokenizer -> BPE, and the post-processor's
// template adds BOS/EOS on request. Decoding maps tokens back through the decoder chain.
#include "model/tokenizer/tokenizer_hf.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "model/base/model_error.hpp"
#include "model/tokenizer/bpe_model.hpp"
#include "model/tokenizer/tokenizer_hf_pipeline.hpp"
#include "model/tokenizer/tokenizer_utf8.hpp"

namespace tessera::model {
namespace {

struct added_token {
  token_id id;
  std::string content;
  bool special, lstrip, rstrip, single_word;
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_word_byte(unsigned char c) { return c >= 0x80 || std::isalnum(c) || c == '_'; }

class hf_tokenizer final : public tokenizer {
public:
  hf_tokenizer(const nlohmann::json& j, const std::string& source)
      : source_(source),
        normalizer_(j.contains("normalizer") ? j["normalizer"] : nlohmann::json(), source),
        pretokenizer_(j.contains("pre_tokenizer") ? j["pre_tokenizer"] : nlohmann::json(), source),
        decoder_(j.contains("decoder") ? j["decoder"] : nlohmann::json(), source),
        model_(model_json(j, source), source) {
    load_added_tokens(j);
    load_post_processor(j.contains("post_processor") ? j["post_processor"] : nlohmann::json());
    vocab_size_ = model_.size();
    for (const auto& a : added_) vocab_size_ = std::max(vocab_size_, static_cast<std::size_t>(a.id + 1));
    guess_special_ids();
  }

  std::string kind() const override { return "hf-bpe"; }
  std::size_t vocab_size() const override { return vocab_size_; }

  std::vector<token_id> encode(std::string_view raw, bool add_special_tokens) const override {
    std::string checked;
    if (!valid_utf8(raw)) {
      checked = utf8::sanitize(raw);
      raw = checked;
    }
    std::vector<token_id> ids;
    if (add_special_tokens) ids = prefix_;
    ids.reserve(ids.size() + raw.size() / 3 + 4);
    std::vector<std::string> words;
    std::size_t section_start = 0;
    std::size_t i = 0;
    auto flush_section = [&](std::size_t end) {
      if (end > section_start) encode_section(raw.substr(section_start, end - section_start), section_start == 0, ids, words);
    };
    while (i < raw.size()) {
      const added_token* hit = match_added(raw, i);
      if (!hit) {
        ++i;
        continue;
      }
      std::size_t begin = i, end = i + hit->content.size();
      if (hit->lstrip)
        while (begin > section_start && is_space(raw[begin - 1])) --begin;
      if (hit->rstrip)
        while (end < raw.size() && is_space(raw[end])) ++end;
      flush_section(begin);
      ids.push_back(hit->id);
      section_start = i = end;
    }
    flush_section(raw.size());
    if (add_special_tokens) ids.insert(ids.end(), suffix_.begin(), suffix_.end());
    return ids;
  }

  std::string token_bytes(token_id id, bool at_start) const override {
    if (auto it = added_by_id_.find(id); it != added_by_id_.end()) return added_[it->second].content;
    const std::string* t = model_.id_to_token(id);
    return t ? decoder_.token_bytes(*t, at_start) : std::string();
  }

  bool is_special(token_id id) const override {
    auto it = added_by_id_.find(id);
    return it != added_by_id_.end() && added_[it->second].special;
  }

  std::optional<token_id> token_to_id(std::string_view token) const override {
    for (const auto& a : added_)
      if (a.content == token) return a.id;
    return model_.token_to_id(token);
  }

  std::string id_to_token(token_id id) const override {
    if (auto it = added_by_id_.find(id); it != added_by_id_.end()) return added_[it->second].content;
    const std::string* t = model_.id_to_token(id);
    return t ? *t : std::string();
  }

private:
  static const nlohmann::json& model_json(const nlohmann::json& j, const std::string& source) {
    auto m = j.find("model");
    if (m == j.end() || !m->is_object()) throw model_error(source + ": no \"model\" object");
    const std::string type = m->value("type", std::string("BPE"));
    if (type != "BPE")
      throw model_error(source + ": unsupported tokenizer model type \"" + type +
                        "\" (supported: BPE; for sentencepiece Unigram models use tokenizer.model)");
    return *m;
  }

  static bool valid_utf8(std::string_view s) {
    for (char c : s)
      if (static_cast<unsigned char>(c) >= 0x80) return utf8::sanitize(s) == s;
    return true;
  }

  void encode_section(std::string_view section, bool first, std::vector<token_id>& ids, std::vector<std::string>& words) const {
    std::string text(section);
    normalizer_.apply(text);
    if (text.empty()) return;
    words.clear();
    pretokenizer_.apply(text, first, words);
    for (const auto& w : words) model_.encode_word(w, ids);
  }

  const added_token* match_added(std::string_view text, std::size_t pos) const {
    const auto& candidates = added_by_first_byte_[static_cast<unsigned char>(text[pos])];
    for (std::size_t idx : candidates) {  // longest first
      const auto& a = added_[idx];
      if (text.compare(pos, a.content.size(), a.content) != 0) continue;
      if (a.single_word) {
        const std::size_t end = pos + a.content.size();
        if (pos > 0 && is_word_byte(static_cast<unsigned char>(text[pos - 1]))) continue;
        if (end < text.size() && is_word_byte(static_cast<unsigned char>(text[end]))) continue;
      }
      return &a;
    }
    return nullptr;
  }

  void load_added_tokens(const nlohmann::json& j) {
    auto list = j.find("added_tokens");
    if (list == j.end() || list->is_null()) return;
    if (!list->is_array()) throw model_error(source_ + ": \"added_tokens\" must be an array");
    for (const auto& t : *list) {
      try {
        added_token a{t.at("id").get<token_id>(), t.at("content").get<std::string>(), t.value("special", false),
                      t.value("lstrip", false), t.value("rstrip", false), t.value("single_word", false)};
        if (a.content.empty()) continue;
        added_by_id_[a.id] = added_.size();
        added_.push_back(std::move(a));
      } catch (const nlohmann::json::exception& e) {
        throw model_error(source_ + ": bad entry in \"added_tokens\": " + t.dump() + " (" + e.what() + ")");
      }
    }
    for (std::size_t i = 0; i < added_.size(); ++i)
      added_by_first_byte_[static_cast<unsigned char>(added_[i].content[0])].push_back(i);
    for (auto& v : added_by_first_byte_)
      std::stable_sort(v.begin(), v.end(), [&](std::size_t a, std::size_t b) { return added_[a].content.size() > added_[b].content.size(); });
  }

  std::vector<token_id> special_ids_of(const nlohmann::json& pp, const std::string& name) const {
    if (auto st = pp.find("special_tokens"); st != pp.end() && st->contains(name)) return (*st)[name].at("ids").get<std::vector<token_id>>();
    if (auto id = token_to_id(name)) return {*id};
    throw model_error(source_ + ": post_processor uses special token \"" + name + "\" that has no id");
  }

  void load_post_processor(const nlohmann::json& pp) {
    if (pp.is_null()) return;
    try {
      const std::string type = pp.at("type").get<std::string>();
      if (type == "Sequence") {
        for (const auto& p : pp.at("processors")) load_post_processor(p);
      } else if (type == "ByteLevel") {
        // offsets only: ids unchanged
      } else if (type == "TemplateProcessing") {
        bool after = false;
        for (const auto& piece : pp.at("single")) {
          if (piece.contains("Sequence")) {
            after = true;
          } else if (piece.contains("SpecialToken")) {
            auto ids = special_ids_of(pp, piece["SpecialToken"].at("id").get<std::string>());
            auto& dst = after ? suffix_ : prefix_;
            dst.insert(dst.end(), ids.begin(), ids.end());
          }
        }
      } else if (type == "RobertaProcessing" || type == "BertProcessing") {
        prefix_.push_back(pp.at("cls").at(1).get<token_id>());
        suffix_.push_back(pp.at("sep").at(1).get<token_id>());
      } else {
        throw model_error(source_ + ": unsupported post_processor type \"" + type + "\"");
      }
    } catch (const nlohmann::json::exception& e) {
      throw model_error(source_ + ": post_processor: " + e.what());
    }
  }

  // tokenizer.json does not name BOS/EOS; the template's first token and the usual names do.
  // tokenizer_config.json, when present, overrides these (apply_tokenizer_config).
  void guess_special_ids() {
    if (!prefix_.empty()) set_bos(prefix_.front());
    else if (auto id = token_to_id("<s>")) set_bos(id);
    else if (auto id = token_to_id("<|begin_of_text|>")) set_bos(id);
    for (const char* name : {"</s>", "<|end_of_text|>", "<|endoftext|>"}) {
      if (auto id = token_to_id(name)) {
        set_eos(id);
        break;
      }
    }
  }

  std::string source_;
  hf_normalizer normalizer_;
  hf_pretokenizer pretokenizer_;
  hf_decoder decoder_;
  bpe_model model_;
  std::vector<added_token> added_;
  std::unordered_map<token_id, std::size_t> added_by_id_;
  std::array<std::vector<std::size_t>, 256> added_by_first_byte_;
  std::vector<token_id> prefix_, suffix_;
  std::size_t vocab_size_ = 0;
};

}  // namespace

std::unique_ptr<tokenizer> make_hf_tokenizer(const nlohmann::json& tokenizer_json, const std::string& source) {
  return std::make_unique<hf_tokenizer>(tokenizer_json, source);
}

}  // namespace tessera::model
