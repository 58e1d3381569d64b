#include "model/sentencepiece_tokenizer.hpp"

#include <sentencepiece_processor.h>

#include "model/model_error.hpp"

namespace tessera::model {
namespace {

class sentencepiece_tokenizer final : public tokenizer {
public:
  sentencepiece_tokenizer(const std::string& path, const tokenizer_config& cfg) : path_(path) {
    const auto status = sp_.Load(path);
    if (!status.ok()) throw model_error(path + ": not a sentencepiece model (" + status.ToString() + ")");
    if (sp_.bos_id() >= 0) set_bos(sp_.bos_id());
    if (sp_.eos_id() >= 0) set_eos(sp_.eos_id());
    if (sp_.pad_id() >= 0) set_pad(sp_.pad_id());
    add_bos_ = cfg.add_bos_token.value_or(true);
    add_eos_ = cfg.add_eos_token.value_or(false);
  }

  std::string kind() const override { return "sentencepiece"; }
  std::size_t vocab_size() const override { return static_cast<std::size_t>(sp_.GetPieceSize()); }

  std::vector<token_id> encode(std::string_view text, bool add_special_tokens) const override {
    std::vector<int> pieces;
    const auto status = sp_.Encode(text, &pieces);
    if (!status.ok()) throw model_error(path_ + ": sentencepiece encode failed (" + status.ToString() + ")");
    std::vector<token_id> ids;
    ids.reserve(pieces.size() + 2);
    if (add_special_tokens && add_bos_ && bos_id()) ids.push_back(*bos_id());
    ids.insert(ids.end(), pieces.begin(), pieces.end());
    if (add_special_tokens && add_eos_ && eos_id()) ids.push_back(*eos_id());
    return ids;
  }

  std::string token_bytes(token_id id, bool at_start) const override {
    if (!valid(id)) return {};
    const int i = static_cast<int>(id);
    const std::string& piece = sp_.IdToPiece(i);
    if (sp_.IsByte(i)) {  // "<0xNN>"
      return std::string(1, static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
    }
    if (sp_.IsControl(i)) return piece;
    if (sp_.IsUnknown(i)) return " \xE2\x81\x87 ";  // sentencepiece's own rendering of <unk>
    std::string out;
    out.reserve(piece.size());
    static const std::string meta = "\xE2\x96\x81";  // U+2581 stands for a space
    for (std::size_t p = 0; p < piece.size();) {
      if (piece.compare(p, meta.size(), meta) == 0) {
        out.push_back(' ');
        p += meta.size();
      } else {
        out.push_back(piece[p++]);
      }
    }
    if (at_start && !out.empty() && out[0] == ' ') out.erase(0, 1);
    return out;
  }

  bool is_special(token_id id) const override {
    return valid(id) && (sp_.IsControl(static_cast<int>(id)) || sp_.IsUnknown(static_cast<int>(id)));
  }

  std::optional<token_id> token_to_id(std::string_view token) const override {
    const int id = sp_.PieceToId(token);
    if (id == sp_.unk_id() && token != sp_.IdToPiece(id)) return std::nullopt;
    return id;
  }

  std::string id_to_token(token_id id) const override { return valid(id) ? sp_.IdToPiece(static_cast<int>(id)) : ""; }

private:
  bool valid(token_id id) const { return id >= 0 && id < sp_.GetPieceSize(); }

  std::string path_;
  sentencepiece::SentencePieceProcessor sp_;
  bool add_bos_ = true;
  bool add_eos_ = false;
};

}  // namespace

std::unique_ptr<tokenizer> make_sentencepiece_tokenizer(const std::string& path, const tokenizer_config& cfg) {
  return std::make_unique<sentencepiece_tokenizer>(path, cfg);
}

}  // namespace tessera::model
