// Tokenizers: text <-> token ids for every model Tessera serves.
//
// One abstract `tokenizer` with three implementations behind `load_tokenizer`:
//   - the byte-level tokenizer of the synthetic presets (ids 0..255 are raw bytes),
//   - Hugging Face `tokenizer.json` (byte-level BPE as in GPT-2 / Llama-3 / Qwen2, and
//     Llama-2 style Metaspace BPE with <0xNN> byte fallback),
//   - sentencepiece `tokenizer.model` (read by Tessera itself, sentencepiece_tokenizer.hpp).
// All of them are immutable after loading and safe to use from several threads.
// Errors are tessera::model::model_error naming the file and the field at fault.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::model {

using token_id = std::int64_t;

// The chat prompt format a tokenizer's model was trained with (see chat_template.hpp).
enum class chat_format { none, llama3, chatml, llama2, mistral, zephyr };

class tokenizer {
public:
  virtual ~tokenizer() = default;

  // "bytes", "hf-bpe" or "sentencepiece".
  virtual std::string kind() const = 0;
  virtual std::size_t vocab_size() const = 0;

  // Text (UTF-8) -> ids. With add_special_tokens the model's own markers are added the way
  // Hugging Face does by default (e.g. BOS first for Llama). Special-token strings written in
  // the text (like "<|eot_id|>") become their ids, which is what chat templates rely on.
  virtual std::vector<token_id> encode(std::string_view text, bool add_special_tokens = true) const = 0;

  // The raw bytes token `id` adds to decoded text. `at_start` is true for the first token
  // that produces text (Llama-2 style tokenizers drop the leading space there). May be
  // part of a UTF-8 character. Unknown ids give an empty string.
  virtual std::string token_bytes(token_id id, bool at_start) const = 0;

  // Control tokens (BOS, EOS, <|eot_id|>, ...) that decode skips by default.
  virtual bool is_special(token_id id) const = 0;

  // The vocabulary's spelling of a token and the reverse (nullopt when absent).
  virtual std::optional<token_id> token_to_id(std::string_view token) const = 0;
  virtual std::string id_to_token(token_id id) const = 0;

  // ids -> text. Invalid or incomplete UTF-8 becomes U+FFFD, so the result is always valid UTF-8.
  std::string decode(const std::vector<token_id>& ids, bool skip_special_tokens = true) const;

  std::optional<token_id> bos_id() const { return bos_; }
  std::optional<token_id> eos_id() const { return eos_; }
  std::optional<token_id> pad_id() const { return pad_; }
  // Every id that ends a generation: EOS plus e.g. Llama-3's <|eot_id|> or Qwen's <|im_end|>.
  const std::vector<token_id>& stop_ids() const { return stop_; }
  bool is_stop(token_id id) const;

  chat_format chat() const { return chat_; }

  // Setters used by the loaders (tokenizer_config.json may override what the file says).
  void set_bos(std::optional<token_id> id) { bos_ = id; }
  void set_eos(std::optional<token_id> id);
  void set_pad(std::optional<token_id> id) { pad_ = id; }
  void add_stop(token_id id);
  void set_chat(chat_format f) { chat_ = f; }

private:
  std::optional<token_id> bos_, eos_, pad_;
  std::vector<token_id> stop_;
  chat_format chat_ = chat_format::none;
};

// Turns a stream of generated ids into text pieces that never split a UTF-8 character:
// bytes of an incomplete character are held back until the token that completes it arrives.
// Special tokens are skipped (they are control, not text). One decoder per sequence.
class stream_decoder {
public:
  explicit stream_decoder(const tokenizer& tok, bool skip_special_tokens = true);
  // Text that became complete with this token (possibly empty).
  std::string push(token_id id);
  // End of stream: whatever is still held back (an incomplete character becomes U+FFFD).
  std::string finish();

private:
  const tokenizer* tok_;
  bool skip_special_;
  bool at_start_ = true;
  std::string pending_;
};

// Loads the tokenizer of a model directory or of one file, by what it finds:
//   DIR/tokenizer.json (Tessera's byte preset `{"tessera_tokenizer": "bytes", ...}` or a
//   Hugging Face tokenizer.json), else DIR/tokenizer.model (sentencepiece); a file path is
//   taken as that file. DIR/tokenizer_config.json, when present, adds the chat template hint
//   and the BOS/EOS choice. Throws model_error naming the path and what is wrong.
std::unique_ptr<tokenizer> load_tokenizer(const std::string& model_dir_or_file);

}  // namespace tessera::model
