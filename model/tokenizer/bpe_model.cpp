#include "model/tokenizer/bpe_model.hpp"

#include <cstdio>
#include <queue>

#include <nlohmann/json.hpp>

#include "model/base/model_error.hpp"
#include "model/tokenizer/tokenizer_utf8.hpp"

namespace tessera::model {
namespace {

constexpr std::size_t max_cached_word = 64;       // bytes; longer words are rare and cheap to skip
constexpr std::size_t max_cache_entries = 200000;  // then the cache starts over

std::string optional_string(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (!it->is_string()) throw model_error(std::string("\"") + key + "\" must be a string");
  return it->get<std::string>();
}

}  // namespace

bpe_model::bpe_model(const nlohmann::json& model, const std::string& source) {
  const auto where = source + ": model";
  auto vocab = model.find("vocab");
  if (vocab == model.end() || !vocab->is_object()) throw model_error(where + " has no \"vocab\" object");
  token_id max_id = -1;
  vocab_.reserve(vocab->size());
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    if (!it.value().is_number_integer()) throw model_error(where + ".vocab[\"" + it.key() + "\"] is not an integer id");
    const token_id id = it.value().get<token_id>();
    if (id < 0 || id > (1 << 30)) throw model_error(where + ".vocab[\"" + it.key() + "\"] has id out of range");
    vocab_.emplace(it.key(), id);
    max_id = std::max(max_id, id);
  }
  tokens_.resize(static_cast<std::size_t>(max_id + 1));
  for (const auto& [text, id] : vocab_) tokens_[static_cast<std::size_t>(id)] = text;

  try {
    if (!optional_string(model, "continuing_subword_prefix").empty() || !optional_string(model, "end_of_word_suffix").empty())
      throw model_error(where + ": continuing_subword_prefix / end_of_word_suffix are not supported");
    if (auto d = model.find("dropout"); d != model.end() && !d->is_null() && d->get<double>() != 0.0)
      throw model_error(where + ": BPE dropout is not supported");
    if (auto u = optional_string(model, "unk_token"); !u.empty()) {
      auto it = vocab_.find(u);
      if (it == vocab_.end()) throw model_error(where + ": unk_token \"" + u + "\" is not in the vocabulary");
      unk_ = it->second;
    }
    fuse_unk_ = model.value("fuse_unk", false);
    byte_fallback_ = model.value("byte_fallback", false);
    ignore_merges_ = model.value("ignore_merges", false);
  } catch (const nlohmann::json::exception& e) {
    throw model_error(where + ": " + e.what());
  }

  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    auto it = vocab_.find(name);
    byte_ids_[static_cast<std::size_t>(b)] = it == vocab_.end() ? -1 : it->second;
  }

  auto merges = model.find("merges");
  if (merges == model.end() || !merges->is_array()) throw model_error(where + " has no \"merges\" array");
  merges_.reserve(merges->size());
  std::int32_t rank = 0;
  for (const auto& m : *merges) {
    std::string left, right;
    if (m.is_string()) {  // "a b"
      const auto& s = m.get_ref<const std::string&>();
      const auto space = s.find(' ');
      if (space == std::string::npos) throw model_error(where + ".merges[" + std::to_string(rank) + "] \"" + s + "\" is not \"a b\"");
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {  // ["a", "b"]
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
    } else {
      throw model_error(where + ".merges[" + std::to_string(rank) + "] is neither \"a b\" nor [\"a\", \"b\"]");
    }
    auto l = vocab_.find(left), r = vocab_.find(right), lr = vocab_.find(left + right);
    if (l == vocab_.end() || r == vocab_.end() || lr == vocab_.end())
      throw model_error(where + ".merges[" + std::to_string(rank) + "] (\"" + left + "\", \"" + right +
                        "\") uses a token that is not in the vocabulary");
    merges_.emplace(pair_key(l->second, r->second), merge_result{rank, lr->second});
    ++rank;
  }
}

std::optional<token_id> bpe_model::token_to_id(std::string_view token) const {
  auto it = vocab_.find(std::string(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* bpe_model::id_to_token(token_id id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size()) return nullptr;
  const auto& t = tokens_[static_cast<std::size_t>(id)];
  return t.empty() ? nullptr : &t;
}

void bpe_model::encode_word(std::string_view word, std::vector<token_id>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (auto it = vocab_.find(std::string(word)); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  if (word.size() > max_cached_word) {
    merge_word(word, out);
    return;
  }
  std::string key(word);
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (auto it = cache_.find(key); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<token_id> ids;
  merge_word(word, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() >= max_cache_entries) cache_.clear();
  cache_.emplace(std::move(key), std::move(ids));
}

void bpe_model::merge_word(std::string_view word, std::vector<token_id>& out) const {
  // Symbols form a doubly linked list so merges are O(1); a heap orders candidate pairs.
  struct symbol {
    token_id id;
    int prev, next;
    bool alive;
  };
  std::vector<symbol> syms;
  syms.reserve(word.size());
  auto push = [&](token_id id) {
    const int n = static_cast<int>(syms.size());
    syms.push_back({id, n - 1, n + 1, true});
  };
  bool last_was_unk = false;
  std::string ch;
  for (std::size_t i = 0; i < word.size();) {
    const std::size_t len = std::min(utf8::char_length(static_cast<unsigned char>(word[i])), word.size() - i);
    ch.assign(word.substr(i, len));
    i += len;
    if (auto it = vocab_.find(ch); it != vocab_.end()) {
      push(it->second);
      last_was_unk = false;
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (char c : ch) all = all && byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all) {
        for (char c : ch) push(byte_ids_[static_cast<unsigned char>(c)]);
        last_was_unk = false;
        continue;
      }
    }
    if (!unk_) continue;  // no way to spell this character: it is dropped, as the reference does
    if (!(fuse_unk_ && last_was_unk)) push(*unk_);
    last_was_unk = true;
  }
  if (syms.empty()) return;
  syms.back().next = -1;

  struct candidate {
    std::int32_t rank;
    int pos;
    token_id left, right;
    bool operator>(const candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<candidate, std::vector<candidate>, std::greater<candidate>> heap;
  auto consider = [&](int pos) {
    if (pos < 0) return;
    const int nxt = syms[static_cast<std::size_t>(pos)].next;
    if (nxt < 0) return;
    const token_id a = syms[static_cast<std::size_t>(pos)].id, b = syms[static_cast<std::size_t>(nxt)].id;
    if (auto it = merges_.find(pair_key(a, b)); it != merges_.end()) heap.push({it->second.rank, pos, a, b});
  };
  for (int p = 0; p + 1 < static_cast<int>(syms.size()); ++p) consider(p);

  while (!heap.empty()) {
    const candidate c = heap.top();
    heap.pop();
    symbol& s = syms[static_cast<std::size_t>(c.pos)];
    if (!s.alive || s.id != c.left || s.next < 0) continue;
    symbol& n = syms[static_cast<std::size_t>(s.next)];
    if (n.id != c.right) continue;  // stale: one side merged since
    s.id = merges_.at(pair_key(c.left, c.right)).merged;
    n.alive = false;
    s.next = n.next;
    if (n.next >= 0) syms[static_cast<std::size_t>(n.next)].prev = c.pos;
    consider(s.prev);
    consider(c.pos);
  }
  for (int p = 0; p >= 0; p = syms[static_cast<std::size_t>(p)].next) out.push_back(syms[static_cast<std::size_t>(p)].id);
}

}  // namespace tessera::model
