#include "model/tokenizer/sentencepiece_proto.hpp"

#include <cstring>
#include <fstream>
#include <sstream>

#include "model/base/model_error.hpp"
#include "model/tokenizer/tokenizer_utf8.hpp"

namespace tessera::model {
namespace {

// A minimal protobuf wire-format reader over one message's bytes.
class wire_reader {
public:
  wire_reader(std::string_view data, const std::string& source) : data_(data), source_(source) {}
  bool next(uint32_t& field, uint32_t& wire_type) {
    if (pos_ >= data_.size()) return false;
    const uint64_t key = varint();
    field = static_cast<uint32_t>(key >> 3);
    wire_type = static_cast<uint32_t>(key & 7);
    return true;
  }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) fail("truncated varint");
      const auto b = static_cast<unsigned char>(data_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("varint too long");
  }
  std::string_view bytes() {
    const uint64_t len = varint();
    if (len > data_.size() - pos_) fail("length-delimited field runs past the end");
    auto s = data_.substr(pos_, len);
    pos_ += len;
    return s;
  }
  float fixed32_float() {
    if (data_.size() - pos_ < 4) fail("truncated fixed32");
    uint32_t u = 0;
    for (int i = 3; i >= 0; --i) u = (u << 8) | static_cast<unsigned char>(data_[pos_ + static_cast<std::size_t>(i)]);
    pos_ += 4;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  void skip(uint32_t wire_type) {
    switch (wire_type) {
      case 0: varint(); break;
      case 1: advance(8); break;
      case 2: bytes(); break;
      case 5: advance(4); break;
      default: fail("unsupported wire type " + std::to_string(wire_type));
    }
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw model_error(source_ + ": not a sentencepiece model (" + what + " at byte " + std::to_string(pos_) + ")");
  }

private:
  void advance(std::size_t n) {
    if (data_.size() - pos_ < n) fail("truncated field");
    pos_ += n;
  }
  std::string_view data_;
  std::size_t pos_ = 0;
  const std::string& source_;
};

// ModelProto.SentencePiece.Type: NORMAL (1) .. BYTE (6); other values are refused
// rather than stored in the enum.
sp_piece::type_t piece_type(wire_reader& r) {
  const uint64_t v = r.varint();
  if (v < sp_piece::normal || v > sp_piece::byte) r.fail("piece type " + std::to_string(v) + " is not 1..6");
  return static_cast<sp_piece::type_t>(v);
}

sp_piece read_piece(std::string_view data, const std::string& source) {
  wire_reader r(data, source);
  sp_piece p;
  uint32_t f, w;
  while (r.next(f, w)) {
    if (f == 1 && w == 2) p.text = std::string(r.bytes());
    else if (f == 2 && w == 5) p.score = r.fixed32_float();
    else if (f == 3 && w == 0) p.type = piece_type(r);
    else r.skip(w);
  }
  return p;
}

}  // namespace

sp_charsmap::sp_charsmap(std::string blob, const std::string& source) {
  if (blob.empty()) return;
  if (blob.size() < 4) throw model_error(source + ": precompiled_charsmap is truncated");
  uint32_t trie_bytes = 0;
  for (int i = 3; i >= 0; --i) trie_bytes = (trie_bytes << 8) | static_cast<unsigned char>(blob[static_cast<std::size_t>(i)]);
  if (trie_bytes % 4 != 0 || trie_bytes > blob.size() - 4) throw model_error(source + ": precompiled_charsmap has a bad trie size");
  units_.resize(trie_bytes / 4);
  for (std::size_t u = 0; u < units_.size(); ++u) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(blob[4 + u * 4 + static_cast<std::size_t>(i)]);
    units_[u] = v;
  }
  normalized_ = blob.substr(4 + trie_bytes);
}

std::pair<std::string, std::size_t> sp_charsmap::normalize_prefix(std::string_view input) const {
  const std::size_t clen = std::min(utf8::char_length(static_cast<unsigned char>(input[0])), input.size());
  if (!units_.empty()) {
    // darts-clone common prefix search: keep the longest key that is a prefix of the input.
    auto offset = [](uint32_t unit) { return (unit >> 10) << ((unit & (1u << 9)) >> 6); };
    auto label = [](uint32_t unit) { return unit & ((1u << 31) | 0xFFu); };
    auto has_leaf = [](uint32_t unit) { return ((unit >> 8) & 1u) != 0; };
    std::size_t node = offset(units_[0]);
    std::size_t best_len = 0;
    uint32_t best_value = 0;
    for (std::size_t i = 0; i < input.size(); ++i) {
      const auto c = static_cast<unsigned char>(input[i]);
      node ^= c;
      if (node >= units_.size()) break;
      const uint32_t unit = units_[node];
      if (label(unit) != c) break;
      node ^= offset(unit);
      if (node >= units_.size()) break;
      if (has_leaf(unit)) {
        best_len = i + 1;
        best_value = units_[node] & ((1u << 31) - 1);
      }
    }
    if (best_len > 0 && best_value < normalized_.size()) {
      const char* s = normalized_.data() + best_value;
      return {std::string(s, strnlen(s, normalized_.size() - best_value)), best_len};
    }
  }
  return {std::string(input.substr(0, clen)), clen};
}

sentencepiece_model read_sentencepiece_model(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw model_error("cannot open sentencepiece model " + path);
  std::ostringstream buf;
  buf << in.rdbuf();
  const std::string data = buf.str();
  sentencepiece_model m;
  wire_reader top(data, path);
  uint32_t f, w;
  while (top.next(f, w)) {
    if (f == 1 && w == 2) {
      m.pieces.push_back(read_piece(top.bytes(), path));
    } else if (f == 2 && w == 2) {  // TrainerSpec
      wire_reader r(top.bytes(), path);
      while (r.next(f, w)) {
        if (w != 0) {
          r.skip(w);
          continue;
        }
        const auto v = r.varint();
        switch (f) {
          case 3: m.model_type = static_cast<int>(v); break;
          case 24: m.treat_whitespace_as_suffix = v != 0; break;
          case 35: m.byte_fallback = v != 0; break;
          case 40: m.unk_id = static_cast<int32_t>(v); break;
          case 41: m.bos_id = static_cast<int32_t>(v); break;
          case 42: m.eos_id = static_cast<int32_t>(v); break;
          case 43: m.pad_id = static_cast<int32_t>(v); break;
          default: break;
        }
      }
    } else if (f == 3 && w == 2) {  // NormalizerSpec
      wire_reader r(top.bytes(), path);
      std::string charsmap;
      while (r.next(f, w)) {
        if (f == 1 && w == 2) m.normalizer_name = std::string(r.bytes());
        else if (f == 2 && w == 2) charsmap = std::string(r.bytes());
        else if (f == 3 && w == 0) m.add_dummy_prefix = r.varint() != 0;
        else if (f == 4 && w == 0) m.remove_extra_whitespaces = r.varint() != 0;
        else if (f == 5 && w == 0) m.escape_whitespaces = r.varint() != 0;
        else r.skip(w);
      }
      m.charsmap = sp_charsmap(std::move(charsmap), path);
    } else {
      top.skip(w);
    }
  }
  if (m.pieces.empty()) throw model_error(path + ": not a sentencepiece model (no pieces)");
  return m;
}

}  // namespace tessera::model
