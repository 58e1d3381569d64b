// A sentencepiece `tokenizer.model` read and run without libsentencepiece (whose exported copy
// of protobuf-lite crashes any process that also loads libprotobuf, i.e. every Tessera binary).
// The file is a ModelProto; the few fields a tokenizer needs are decoded by hand:
//   ModelProto      1: pieces {1: piece, 2: score (float), 3: type}, 2: trainer_spec, 3: normalizer_spec
//   TrainerSpec     3: model_type (1 unigram, 2 bpe), 24: treat_whitespace_as_suffix,
//                   35: byte_fallback, 40-43: unk/bos/eos/pad ids
//   NormalizerSpec  1: name, 2: precompiled_charsmap, 3: add_dummy_prefix,
//                   4: remove_extra_whitespaces, 5: escape_whitespaces
// Encoding follows sentencepiece: normalize (charsmap, whitespace rules, "▁"), then BPE by
// piece score (highest first, leftmost on ties) or unigram Viterbi, with <0xNN> byte fallback.
#include "model/tokenizer/sentencepiece_tokenizer.hpp"

#include <cstring>
#include <fstream>
#include <limits>
#include <queue>
#include <sstream>
#include <unordered_map>

#include "model/base/model_error.hpp"
#include "model/tokenizer/sentencepiece_proto.hpp"
#include "model/tokenizer/tokenizer_utf8.hpp"

namespace tessera::model {
namespace {

const std::string meta_space = "\xE2\x96\x81";  // U+2581

class sentencepiece_tokenizer final : public tokenizer {
public:
  sentencepiece_tokenizer(const std::string& path, const tokenizer_config& cfg) : path_(path), proto_(read_sentencepiece_model(path)) {
    const auto& p = proto_;
    if (p.model_type != 1 && p.model_type != 2)
      throw model_error(path + ": sentencepiece model_type " + std::to_string(p.model_type) + " is not supported (unigram or bpe)");
    if (p.treat_whitespace_as_suffix) throw model_error(path + ": treat_whitespace_as_suffix is not supported");
    min_score_ = std::numeric_limits<float>::max();
    for (std::size_t i = 0; i < p.pieces.size(); ++i) {
      const auto& piece = p.pieces[i];
      all_ids_.emplace(piece.text, static_cast<token_id>(i));
      if (piece.type == sp_piece::normal || piece.type == sp_piece::user_defined || piece.type == sp_piece::unused)
        mergeable_.emplace(piece.text, static_cast<token_id>(i));
      if (piece.type == sp_piece::normal) min_score_ = std::min(min_score_, piece.score);
      if (piece.type == sp_piece::user_defined) user_defined_.push_back(static_cast<token_id>(i));
      max_piece_bytes_ = std::max(max_piece_bytes_, piece.text.size());
    }
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      auto it = all_ids_.find(name);
      byte_ids_[b] = it == all_ids_.end() ? -1 : it->second;
    }
    auto valid_id = [&](int id) { return id >= 0 && static_cast<std::size_t>(id) < p.pieces.size(); };
    if (!valid_id(p.unk_id)) throw model_error(path + ": unk_id " + std::to_string(p.unk_id) + " is not a piece");
    if (valid_id(p.bos_id)) set_bos(p.bos_id);
    if (valid_id(p.eos_id)) set_eos(p.eos_id);
    if (valid_id(p.pad_id)) set_pad(p.pad_id);
    add_bos_ = cfg.add_bos_token.value_or(true);
    add_eos_ = cfg.add_eos_token.value_or(false);
  }

  std::string kind() const override { return "sentencepiece"; }
  std::size_t vocab_size() const override { return proto_.pieces.size(); }

  std::vector<token_id> encode(std::string_view text, bool add_special_tokens) const override {
    const std::string normalized = normalize(utf8::sanitize(text));
    std::vector<token_id> ids;
    if (add_special_tokens && add_bos_ && bos_id()) ids.push_back(*bos_id());
    if (proto_.model_type == 2) encode_bpe(normalized, ids);
    else encode_unigram(normalized, ids);
    if (add_special_tokens && add_eos_ && eos_id()) ids.push_back(*eos_id());
    return ids;
  }

  std::string token_bytes(token_id id, bool at_start) const override {
    if (!valid(id)) return {};
    const auto& piece = proto_.pieces[static_cast<std::size_t>(id)];
    switch (piece.type) {
      case sp_piece::byte: {
        unsigned v = 0;
        std::sscanf(piece.text.c_str(), "<0x%2X>", &v);
        return std::string(1, static_cast<char>(v));
      }
      case sp_piece::control: return piece.text;
      case sp_piece::unknown: return " \xE2\x81\x87 ";  // sentencepiece renders <unk> as " ⁇ "
      default: break;
    }
    std::string out;
    for (std::size_t p = 0; p < piece.text.size();) {
      if (piece.text.compare(p, meta_space.size(), meta_space) == 0) {
        out.push_back(' ');
        p += meta_space.size();
      } else {
        out.push_back(piece.text[p++]);
      }
    }
    if (at_start && (proto_.add_dummy_prefix || proto_.remove_extra_whitespaces) && !out.empty() && out[0] == ' ') out.erase(0, 1);
    return out;
  }

  bool is_special(token_id id) const override {
    if (!valid(id)) return false;
    const auto t = proto_.pieces[static_cast<std::size_t>(id)].type;
    return t == sp_piece::control || t == sp_piece::unknown;
  }

  std::optional<token_id> token_to_id(std::string_view token) const override {
    auto it = all_ids_.find(std::string(token));
    if (it == all_ids_.end()) return std::nullopt;
    return it->second;
  }

  std::string id_to_token(token_id id) const override { return valid(id) ? proto_.pieces[static_cast<std::size_t>(id)].text : ""; }

private:
  bool valid(token_id id) const { return id >= 0 && static_cast<std::size_t>(id) < proto_.pieces.size(); }

  // sentencepiece's Normalizer::Normalize for our options.
  std::string normalize(std::string_view input) const {
    const auto& p = proto_;
    std::string out;
    if (p.remove_extra_whitespaces) {
      while (!input.empty()) {
        const auto [norm, used] = p.charsmap.normalize_prefix(input);
        if (norm != " ") break;
        input.remove_prefix(used);
      }
    }
    if (input.empty()) return out;
    if (p.add_dummy_prefix) out += p.escape_whitespaces ? meta_space : " ";
    bool prev_space = p.remove_extra_whitespaces;
    while (!input.empty()) {
      auto [norm, used] = p.charsmap.normalize_prefix(input);
      std::string_view sp = norm;
      while (prev_space && !sp.empty() && sp[0] == ' ') sp.remove_prefix(1);
      if (!sp.empty()) {
        for (char c : sp) {
          if (p.escape_whitespaces && c == ' ') out += meta_space;
          else out.push_back(c);
        }
        if (p.remove_extra_whitespaces) prev_space = sp.back() == ' ';
      }
      input.remove_prefix(used);
    }
    if (p.remove_extra_whitespaces) {
      const std::string& ws = p.escape_whitespaces ? meta_space : std::string(" ");
      while (out.size() >= ws.size() && out.compare(out.size() - ws.size(), ws.size(), ws) == 0) out.resize(out.size() - ws.size());
    }
    return out;
  }

  // Length of a user-defined piece starting at `pos`, longest first (0 when none).
  std::size_t user_defined_at(const std::string& s, std::size_t pos) const {
    std::size_t best = 0;
    for (token_id id : user_defined_) {
      const auto& t = proto_.pieces[static_cast<std::size_t>(id)].text;
      if (t.size() > best && s.compare(pos, t.size(), t) == 0) best = t.size();
    }
    return best;
  }

  void emit_piece(std::string_view piece, std::vector<token_id>& ids) const {
    if (auto it = mergeable_.find(std::string(piece)); it != mergeable_.end()) {
      ids.push_back(it->second);
      return;
    }
    if (proto_.byte_fallback) {
      bool all = true;
      for (char c : piece) all = all && byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all) {
        for (char c : piece) ids.push_back(byte_ids_[static_cast<unsigned char>(c)]);
        return;
      }
    }
    ids.push_back(proto_.unk_id);
  }

  void encode_bpe(const std::string& s, std::vector<token_id>& ids) const {
    struct symbol {
      std::size_t begin, len;
      int prev, next;
    };
    std::vector<symbol> syms;
    for (std::size_t i = 0; i < s.size();) {
      std::size_t len = user_defined_at(s, i);
      if (len == 0) len = std::min(utf8::char_length(static_cast<unsigned char>(s[i])), s.size() - i);
      const int n = static_cast<int>(syms.size());
      syms.push_back({i, len, n - 1, n + 1});
      i += len;
    }
    if (syms.empty()) return;
    syms.back().next = -1;
    struct pair_t {
      float score;
      int left, right;
      std::size_t size;  // bytes of left+right when queued (stale check)
    };
    auto worse = [](const pair_t& a, const pair_t& b) { return a.score < b.score || (a.score == b.score && a.left > b.left); };
    std::priority_queue<pair_t, std::vector<pair_t>, decltype(worse)> agenda(worse);
    auto consider = [&](int l, int r) {
      if (l < 0 || r < 0) return;
      const auto& a = syms[static_cast<std::size_t>(l)];
      const auto& b = syms[static_cast<std::size_t>(r)];
      auto it = mergeable_.find(s.substr(a.begin, a.len + b.len));
      if (it == mergeable_.end()) return;
      agenda.push({proto_.pieces[static_cast<std::size_t>(it->second)].score, l, r, a.len + b.len});
    };
    for (int i = 0; i + 1 < static_cast<int>(syms.size()); ++i) consider(i, i + 1);
    while (!agenda.empty()) {
      const pair_t top = agenda.top();
      agenda.pop();
      auto& l = syms[static_cast<std::size_t>(top.left)];
      auto& r = syms[static_cast<std::size_t>(top.right)];
      if (l.len == 0 || r.len == 0 || l.next != top.right || l.len + r.len != top.size) continue;  // stale
      l.len += r.len;
      l.next = r.next;
      if (r.next >= 0) syms[static_cast<std::size_t>(r.next)].prev = top.left;
      r.len = 0;
      consider(l.prev, top.left);
      consider(top.left, l.next);
    }
    for (int i = 0; i >= 0; i = syms[static_cast<std::size_t>(i)].next)
      emit_piece(std::string_view(s).substr(syms[static_cast<std::size_t>(i)].begin, syms[static_cast<std::size_t>(i)].len), ids);
  }

  void encode_unigram(const std::string& s, std::vector<token_id>& ids) const {
    // Viterbi over byte positions that start a character.
    const std::size_t n = s.size();
    const float unk_score = min_score_ - 10.0f;
    std::vector<float> best(n + 1, -std::numeric_limits<float>::infinity());
    std::vector<std::size_t> from(n + 1, 0);
    std::vector<token_id> piece_of(n + 1, -1);
    best[0] = 0;
    for (std::size_t i = 0; i < n;) {
      const std::size_t clen = std::min(utf8::char_length(static_cast<unsigned char>(s[i])), n - i);
      if (best[i] > -std::numeric_limits<float>::infinity()) {
        bool single_char_covered = false;
        for (std::size_t len = 1; len <= max_piece_bytes_ && i + len <= n; ++len) {
          if (i + len < n && (static_cast<unsigned char>(s[i + len]) & 0xC0) == 0x80) continue;  // not a char boundary
          auto it = mergeable_.find(s.substr(i, len));
          if (it == mergeable_.end()) continue;
          const auto& piece = proto_.pieces[static_cast<std::size_t>(it->second)];
          const float score = best[i] + (piece.type == sp_piece::user_defined ? 0.0f : piece.score);
          if (len == clen) single_char_covered = true;
          if (score > best[i + len]) {
            best[i + len] = score;
            from[i + len] = i;
            piece_of[i + len] = it->second;
          }
        }
        if (!single_char_covered && best[i] + unk_score > best[i + clen]) {
          best[i + clen] = best[i] + unk_score;
          from[i + clen] = i;
          piece_of[i + clen] = -1;  // unknown
        }
      }
      i += clen;
    }
    std::vector<std::pair<std::size_t, token_id>> path;  // (start, piece or -1)
    for (std::size_t end = n; end > 0; end = from[end]) path.push_back({from[end], piece_of[end]});
    std::size_t end = n;
    std::vector<std::pair<std::size_t, std::size_t>> spans;  // reversed order
    std::vector<token_id> pieces;
    for (const auto& [start, piece] : path) {
      spans.push_back({start, end});
      pieces.push_back(piece);
      end = start;
    }
    // Forward order; runs of unknown characters become one unknown (then byte fallback).
    for (std::size_t k = pieces.size(); k-- > 0;) {
      std::size_t b = spans[k].first, e = spans[k].second;
      if (pieces[k] >= 0) {
        ids.push_back(pieces[k]);
        continue;
      }
      while (k > 0 && pieces[k - 1] < 0) e = spans[--k].second;
      emit_piece(std::string_view(s).substr(b, e - b), ids);
    }
  }

  std::string path_;
  sentencepiece_model proto_;
  std::unordered_map<std::string, token_id> all_ids_, mergeable_;
  std::vector<token_id> user_defined_;
  token_id byte_ids_[256];
  float min_score_ = 0;
  std::size_t max_piece_bytes_ = 1;
  bool add_bos_ = true, add_eos_ = false;
};

}  // namespace

std::unique_ptr<tokenizer> make_sentencepiece_tokenizer(const std::string& path, const tokenizer_config& cfg) {
  return std::make_unique<sentencepiece_tokenizer>(path, cfg);
}

}  // namespace tessera::model
